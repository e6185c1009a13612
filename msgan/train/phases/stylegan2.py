"""Compiled training phases of StyleGAN2-ADA (SG2A training/loss.py + training_loop.py).

Per iteration: G_main (non-saturating loss on augmented fakes, style mixing), G_reg (path
length, every pl_interval steps, half batch), D_main (logistic loss on augmented fakes and
reals), D_reg (R1, every r1_interval steps). Each phase is its own ``ms.jit`` function with one
optimizer (two optimizers in one graph clash in MindSpore 2.10); G_main and G_reg share opt_G,
D_main and D_reg share opt_D, as in SG2A. Regularised phases are scaled by their interval and
Adam gets SG2A's lazy-regularisation correction.

All randomness of a step (z, mixing cut-offs, noise maps, augmentation draws, path-length
probes) comes from one host-side numpy generator whose state is part of ``host_state()``, so a
resumed run repeats the uninterrupted one exactly.
"""
from __future__ import annotations

import numpy as np
import mindspore as ms
from mindspore import Parameter, Tensor, mint, nn, ops

from msgan import losses
from msgan.augment.ada import AdaController, draw_random
from msgan.config import Config
from msgan.train import amp
from msgan import augment as augmentations
from msgan.train.phases.base import grad_reducer, guarded_update, scaled

W_AVG_BETA = 0.995


class PathLengthState(nn.Cell):
    """Holds the running mean of path lengths so it is saved with the checkpoint."""

    def __init__(self):
        super().__init__()
        self.pl_mean = Parameter(Tensor(0.0, ms.float32), name="pl_mean", requires_grad=False)


class Nets(nn.Cell):
    """One parent so every parameter has a unique name (``G.*``, ``D.*``, ``G_ema.*``, ``pl.*``)."""

    def __init__(self, G, D, G_ema):
        super().__init__()
        self.G, self.D, self.G_ema = G, D, G_ema
        self.pl = PathLengthState()


def _adam(params, lr, betas, eps):
    # mint's Adam accepts beta1 = 0, which nn.Adam refuses.
    return mint.optim.Adam(params, lr=lr, betas=tuple(betas), eps=eps)


class StyleGAN2Phases:
    def __init__(self, cfg: Config, G, D, G_ema, num_classes: int, rank: int = 0,
                 world_size: int = 1):
        m, t = cfg.model, cfg.train
        self.nets = Nets(G, D, G_ema)
        self.G, self.D, self.G_ema = G, D, G_ema
        self.num_classes = num_classes
        self.batch_size = t.batch_size
        # per-rank stream: ranks draw different latents, weights stay equal via reduced grads
        self.rng = np.random.default_rng(t.seed + 2 if world_size == 1 else [t.seed + 2, rank])
        self.world_size = world_size
        self.style_mixing = float(m.style_mixing)
        self.pl_interval, self.r1_interval = m.pl_interval, m.r1_interval
        self.pl_weight = float(m.pl_weight)
        self.r1_gamma = losses.r1_gamma(m.r1_gamma, G.resolution, t.batch_size)
        self.augment_mode = m.augment
        # ada / fixed: SG2A's pipe (p adaptive / constant); diffaug: DiffAugment at p = 1
        self.augment, self._draw = augmentations.build("ada" if m.augment == "fixed" else m.augment,
                                                G.resolution, G.channels)
        self.ada = AdaController(m.ada_target, m.ada_interval, m.ada_kimg, t.batch_size,
                                 m.augment_p, m.ada_p_max)
        g_int = m.pl_interval if self.pl_weight > 0 else 0
        d_int = m.r1_interval if self.r1_gamma > 0 else 0
        lr, betas = losses.lazy_adam_params(t.G_opt.lr, t.G_opt.betas, g_int)
        self.opt_G = _adam(G.trainable_params(), lr, betas, t.G_opt.eps)
        lr, betas = losses.lazy_adam_params(t.D_opt.lr, t.D_opt.betas, d_int)
        self.opt_D = _adam(D.trainable_params(), lr, betas, t.D_opt.eps)
        self.reduce_G = grad_reducer(self.opt_G, world_size)
        self.reduce_D = grad_reducer(self.opt_D, world_size)
        # Mixed precision casts the mapping network and D. The synthesis network stays fp32:
        # under auto_mixed_precision its ModulatedConv2d meets an fp16 weight with fp32
        # activations and did not compile (MindSpore 2.10; seen with the former MatMul lowering,
        # not re-tried with the native convs). G_ema stays fp32 for samples and exports.
        self.scales = amp.loss_scales(t.amp)
        self.mapping_run = amp.cast_network(G.mapping, t.amp)
        self.synthesis_run = G.synthesis
        self.D_run = amp.cast_network(D, t.amp)
        G.set_train(True)
        D.set_train(True)
        G_ema.set_train(False)
        # On CPU the host waits for each phase before launching the next. Launched back to back
        # (with PyNative ops such as labels[:nb] queued between them) an iteration ran 2.5-8x
        # slower than waited on (benchmarks/RESULTS.md, bench_stylegan2 --modes loop,nowait).
        # On Ascend/GPU the launch queue overlaps host and device work, so it is left alone.
        self.wait_phases = ms.get_context("device_target") == "CPU"
        self._check_twins()
        self._compile(m.pl_decay, t.jit_level)

    def _check_twins(self):
        pairs = zip(self.G.get_parameters(), self.G_ema.get_parameters())
        for p, pe in pairs:
            if p.name.split(".", 1)[1] != pe.name.split(".", 1)[1] or p.shape != pe.shape:
                raise ValueError(f"G_ema does not mirror G ({pe.name} vs {p.name}); build both "
                                 "with the same config")

    # -- graphs ----------------------------------------------------------------------------------
    def _compile(self, pl_decay: float, jit_level: str):
        G, D, augment, pl_state = self.G, self.D_run, self.augment, self.nets.pl
        mapping, synthesis = self.mapping_run, self.synthesis_run
        scale_G, scale_D = self.scales.get("G"), self.scales.get("D")
        use_aug = augment is not None
        pl_scale = self.pl_weight * self.pl_interval
        r1_scale = self.r1_gamma / 2 * self.r1_interval
        w_avg = G.mapping.w_avg

        def mapped(z, z2, mix, c):
            ws = mapping(z, c)
            ws2 = mapping(z2, c)
            return ws + (ws2 - ws) * mix.reshape(1, -1, 1), ws

        def aug(img, p, rand):
            return augment.apply(img, p, rand) if use_aug else img

        def update_w_avg(ws):
            w_mean = ops.stop_gradient(ws[:, 0].mean(axis=0))
            return ops.assign(w_avg, w_mean + (w_avg - w_mean) * W_AVG_BETA)

        def g_main_loss(z, z2, mix, c, noises, aug_rand, p):
            ws_mix, ws = mapped(z, z2, mix, c)
            img = synthesis(ws_mix, noises, "input")
            loss = losses.g_nonsaturating(D(aug(img, p, aug_rand), c))
            return scaled(scale_G, loss), (loss, ws)

        def synth_proj(ws, noises, pl_noise):
            return (synthesis(ws, noises, "input") * pl_noise).sum()

        grad_ws = ms.grad(synth_proj, grad_position=0)

        def g_reg_loss(z, z2, mix, c, noises, pl_noise):
            ws_mix, ws = mapped(z, z2, mix, c)
            lengths = losses.path_lengths(grad_ws(ws_mix, noises, pl_noise))
            penalty, new_mean = losses.path_length_penalty(lengths, pl_state.pl_mean, pl_decay)
            penalty = penalty.mean()
            return scaled(scale_G, penalty * pl_scale), (penalty, ops.stop_gradient(new_mean), ws)

        def d_main_loss(reals, c, z, z2, mix, noises, aug_fake, aug_real, p):
            ws_mix, ws = mapped(z, z2, mix, c)
            fake = ops.stop_gradient(synthesis(ws_mix, noises, "input"))
            fake_logits = D(aug(fake, p, aug_fake), c)
            real_logits = D(aug(reals, p, aug_real), c)
            loss = losses.d_bce(real_logits, fake_logits)
            return scaled(scale_D, loss), (loss, real_logits.mean(), fake_logits.mean(),
                                           ops.sign(real_logits).mean(), ws)

        def d_sum(x, c):
            return D(x, c).sum()

        grad_x = ms.grad(d_sum, grad_position=0)

        def d_reg_loss(reals, c, aug_real, p):
            # R1 on the augmented reals D actually sees (see msgan/augment/ada.py for why).
            x = ops.stop_gradient(aug(reals, p, aug_real))
            penalty = losses.r1_penalty(grad_x(x, c)).mean()
            return scaled(scale_D, penalty * r1_scale), penalty

        g_main_grad = ms.value_and_grad(g_main_loss, None, self.opt_G.parameters, has_aux=True)
        g_reg_grad = ms.value_and_grad(g_reg_loss, None, self.opt_G.parameters, has_aux=True)
        d_main_grad = ms.value_and_grad(d_main_loss, None, self.opt_D.parameters, has_aux=True)
        d_reg_grad = ms.value_and_grad(d_reg_loss, None, self.opt_D.parameters, has_aux=True)
        world_size = self.world_size
        all_reduce = ops.AllReduce() if world_size > 1 else None
        apply_G = guarded_update(self.opt_G, self.reduce_G, scale_G)
        apply_D = guarded_update(self.opt_D, self.reduce_D, scale_D)

        def g_main_step(z, z2, mix, c, noises, aug_rand, p):
            (_, (loss, ws)), grads = g_main_grad(z, z2, mix, c, noises, aug_rand, p)
            ok = apply_G(grads)
            update_w_avg(ws)
            if scale_G is None:
                return loss, ok
            return loss, ok, scale_G.scale_value * 1.0

        def g_reg_step(z, z2, mix, c, noises, pl_noise):
            (_, (penalty, new_mean, ws)), grads = g_reg_grad(z, z2, mix, c, noises, pl_noise)
            ok = apply_G(grads)
            ops.assign(pl_state.pl_mean, new_mean)
            update_w_avg(ws)
            return penalty, ok

        def d_main_step(reals, c, z, z2, mix, noises, aug_fake, aug_real, p):
            (_, (loss, real, fake, sign, ws)), grads = d_main_grad(reals, c, z, z2, mix, noises,
                                                                   aug_fake, aug_real, p)
            ok = apply_D(grads)
            update_w_avg(ws)
            if all_reduce is not None:   # one ADA signal for all ranks keeps p identical
                sign = all_reduce(sign) / world_size
            if scale_D is None:
                return loss, real, fake, sign, ok
            return loss, real, fake, sign, ok, scale_D.scale_value * 1.0

        def d_reg_step(reals, c, aug_real, p):
            (_, penalty), grads = d_reg_grad(reals, c, aug_real, p)
            return penalty, apply_D(grads)

        # SG2A copies buffers (w_avg, constant noise) into G_ema instead of averaging them.
        g_params = [p for p in self.G.get_parameters() if p.requires_grad]
        e_params = [p for p in self.G_ema.get_parameters() if p.requires_grad]
        g_bufs = [p for p in self.G.get_parameters() if not p.requires_grad]
        e_bufs = [p for p in self.G_ema.get_parameters() if not p.requires_grad]
        G_ema = self.G_ema

        def ema_step(beta):
            for pe, p in zip(e_params, g_params):
                ops.assign(pe, p + (pe - p) * beta)
            for be, b in zip(e_bufs, g_bufs):
                ops.assign(be, b)
            return beta

        def sample_fn(z, c, psi):
            ws = G_ema.mapping.truncate(G_ema.mapping(z, c), psi)
            return ops.clamp(G_ema.synthesis(ws, (), "const"), -1.0, 1.0)

        def jit(fn):
            return ms.jit(fn, jit_level=jit_level)

        self._g_main, self._g_reg = jit(g_main_step), jit(g_reg_step)
        self._d_main, self._d_reg = jit(d_main_step), jit(d_reg_step)
        self._ema, self._sample = jit(ema_step), jit(sample_fn)

    # -- host-side randomness --------------------------------------------------------------------
    def _latents(self, n: int):
        rng, num_ws = self.rng, self.G.num_ws
        z = rng.standard_normal((n, self.G.z_dim), dtype=np.float32)
        z2 = rng.standard_normal((n, self.G.z_dim), dtype=np.float32)
        cutoff = int(rng.integers(1, num_ws))
        mix = np.zeros((num_ws,), np.float32)
        if rng.random() < self.style_mixing:
            mix[cutoff:] = 1.0
        noises = tuple(Tensor(rng.standard_normal((n, 1, r, r), dtype=np.float32))
                       for r in self.G.synthesis.noise_resolutions)
        # mutable: a plain tuple of Tensors is taken as a constant and recompiles every call.
        return Tensor(z), Tensor(z2), Tensor(mix), ms.mutable(noises)

    def _aug_rand(self, n: int) -> Tensor:
        # drawn even when nothing is augmented, so every mode keeps the same random stream
        return Tensor((self._draw or draw_random)(self.rng, n))

    def _p(self) -> float:
        if self.augment_mode == "diffaug":
            return 1.0
        return self.ada.p if self.augment is not None else 0.0

    def _done(self, outs):
        """Wait for a phase's outputs (all small) when ``wait_phases``; returns them unchanged.

        Reading them is the wait: ``ms.runtime.synchronize()`` is not supported on CPU in 2.10.
        """
        if self.wait_phases:
            for t in outs if isinstance(outs, (tuple, list)) else (outs,):
                t.asnumpy()
        return outs

    # -- the interface the loop uses -------------------------------------------------------------
    def step(self, reals: Tensor, labels: Tensor, it: int) -> dict:
        n = reals.shape[0]
        p = Tensor(self._p(), ms.float32)
        stats = {}
        z, z2, mix, noises = self._latents(n)
        g_outs = self._done(self._g_main(z, z2, mix, labels, noises, self._aug_rand(n), p))
        stats["loss_G"], stats["update_ok_G"] = g_outs[0], g_outs[1]
        if self.pl_weight > 0 and it % self.pl_interval == 0:
            nb = max(n // 2, 1)
            z, z2, mix, noises = self._latents(nb)
            res = self.G.resolution
            pl_noise = self.rng.standard_normal((nb, self.G.channels, res, res),
                                                dtype=np.float32) / res
            # the regulariser updates are counted apart (skipped_G_reg): under mixed precision
            # their gradients overflow on other steps than the main ones
            stats["loss_pl"], stats["update_ok_G_reg"] = self._done(self._g_reg(
                z, z2, mix, labels[:nb], noises, Tensor(pl_noise)))
        z, z2, mix, noises = self._latents(n)
        d_outs = self._done(self._d_main(reals, labels, z, z2, mix, noises, self._aug_rand(n),
                                         self._aug_rand(n), p))
        loss_D, d_real, d_fake, sign, ok_D = d_outs[:5]
        stats.update(loss_D=loss_D, D_real=d_real, D_fake=d_fake, update_ok_D=ok_D)
        if self.scales:
            stats.update(loss_scale_G=g_outs[2], loss_scale_D=d_outs[5])
        if self.r1_gamma > 0 and it % self.r1_interval == 0:
            stats["loss_r1"], stats["update_ok_D_reg"] = self._done(self._d_reg(
                reals, labels, self._aug_rand(n), p))
        if self.augment_mode in ("ada", "fixed"):
            stats["ada_p"] = p
            if self.augment_mode == "ada":
                self.ada.observe(sign)
        return stats

    def update_ema(self, beta: Tensor) -> None:
        self._done(self._ema(beta))

    def sample(self, z: Tensor, c: Tensor, psi: Tensor) -> Tensor:
        return self._sample(z, c, psi)

    def state_cells(self) -> dict:
        cells = {"G": self.G, "D": self.D, "G_ema": self.G_ema, "opt_G": self.opt_G,
                 "opt_D": self.opt_D, "pl": self.nets.pl}
        cells.update({f"scale_{k}": v for k, v in self.scales.items()})
        return cells

    def optimizers(self) -> dict:
        return {"G": self.opt_G, "D": self.opt_D}

    def host_state(self) -> dict:
        return {"rng": self.rng.bit_generator.state, "ada": self.ada.state_dict()}

    def load_host_state(self, state: dict) -> None:
        self.rng.bit_generator.state = state["rng"]
        self.ada.load_state_dict(state["ada"])
