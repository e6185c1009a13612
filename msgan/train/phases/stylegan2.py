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
from mindspore import Parameter, Tensor, nn, ops

from msgan import augment as augmentations
from msgan import losses
from msgan.augment.ada import AdaController, draw_random
from msgan.config import Config
from msgan.inference.latents import sample_z
from msgan.models.sg2_layers import minibatch_group, pair_batches, unpair_batches
from msgan.ops import device
from msgan.train.phases.base import Phases, Progress, ema_beta, scaled

W_AVG_BETA = 0.995


class PathLengthState(nn.Cell):
    """Holds the running mean of path lengths so it is saved with the checkpoint."""

    def __init__(self):
        super().__init__()
        self.pl_mean = Parameter(Tensor(0.0, ms.float32), name="pl_mean", requires_grad=False)


class StyleGAN2Phases(Phases):
    def __init__(self, cfg: Config, nets: dict, rank: int = 0, world_size: int = 1):
        m, t = cfg.model, cfg.train
        G, D, G_ema = nets["G"], nets["D"], nets["G_ema"]
        self.pl = PathLengthState()
        self.pl_weight = float(m.pl_weight)
        self.r1_gamma = losses.r1_gamma(m.r1_gamma, G.resolution, t.batch_size)
        # Freeze-D (Mo et al. 2020): the first blocks keep their (pretrained) weights; out of
        # opt_D's parameters they get no gradient and no update.
        for block in list(D.blocks)[:m.freeze_d]:
            for p in block.get_parameters():
                p.requires_grad = False
        # Mixed precision casts the mapping network and D. The synthesis network stays fp32:
        # under auto_mixed_precision its ModulatedConv2d meets an fp16 weight with fp32
        # activations and did not compile (MindSpore 2.10; seen with the former MatMul lowering,
        # not re-tried with the native convs). G_ema stays fp32 for samples and exports.
        # Per-rank stream: ranks draw different latents, weights stay equal via reduced grads.
        super().__init__(cfg, {"G": G, "D": D}, world_size,
                         held={"G_ema": G_ema, "pl": self.pl}, eval_nets={"G_ema": G_ema},
                         lazy={"G": m.pl_interval if self.pl_weight > 0 else 0,
                               "D": m.r1_interval if self.r1_gamma > 0 else 0},
                         run_cells={"mapping": G.mapping, "D": D},
                         rng=np.random.default_rng(t.seed + 2 if world_size == 1
                                                   else [t.seed + 2, rank]))
        self.G, self.D, self.G_ema = G, D, G_ema
        self.batch_size = t.batch_size
        self.world_size = world_size
        self.style_mixing = float(m.style_mixing)
        self.pl_interval, self.r1_interval = m.pl_interval, m.r1_interval
        self.augment_mode = m.augment
        # ada / fixed: SG2A's pipe (p adaptive / constant); diffaug: DiffAugment at p = 1
        self.augment, self._draw = augmentations.build("ada" if m.augment == "fixed" else m.augment,
                                                       G.resolution, G.channels)
        self.ada = AdaController(m.ada_target, m.ada_interval, m.ada_kimg, t.batch_size,
                                 m.augment_p, m.ada_p_max)
        self.wait_phases = device.wait_between_graphs()
        self._check_twins()
        self._compile(m.pl_decay)

    def _check_twins(self):
        pairs = zip(self.G.get_parameters(), self.G_ema.get_parameters())
        for p, pe in pairs:
            if p.name.split(".", 1)[1] != pe.name.split(".", 1)[1] or p.shape != pe.shape:
                raise ValueError(f"G_ema does not mirror G ({pe.name} vs {p.name}); build both "
                                 "with the same config")

    # -- graphs ----------------------------------------------------------------------------------
    def _compile(self, pl_decay: float):
        G, D, augment, pl_state = self.G, self.runs["D"], self.augment, self.pl
        mapping, synthesis = self.runs["mapping"], G.synthesis
        scale_G, scale_D = self.scales.get("G"), self.scales.get("D")
        use_aug = augment is not None
        pl_scale = self.pl_weight * self.pl_interval
        r1_scale = self.r1_gamma / 2 * self.r1_interval
        w_avg = G.mapping.w_avg
        mbstd_group = self.cfg.model.mbstd_group

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
            # One D pass over fakes and reals (SG2A makes two): same logits, half the kernels,
            # and on CPU half the scratch memory each compiled kernel keeps (RESULTS.md).
            g = minibatch_group(fake.shape[0], mbstd_group)
            x = aug(pair_batches(fake, reals, g), p, pair_batches(aug_fake, aug_real, g))
            fake_logits, real_logits = unpair_batches(D(x, pair_batches(c, c, g), 2), g)
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

        g_main_grad, g_reg_grad = self.grad(g_main_loss, "G"), self.grad(g_reg_loss, "G")
        d_main_grad, d_reg_grad = self.grad(d_main_loss, "D"), self.grad(d_reg_loss, "D")
        world_size = self.world_size
        all_reduce = ops.AllReduce() if world_size > 1 else None
        update_G, update_D = self.update("G"), self.update("D")

        def g_main_step(z, z2, mix, c, noises, aug_rand, p):
            (_, (loss, ws)), grads = g_main_grad(z, z2, mix, c, noises, aug_rand, p)
            ok, scale = update_G(grads)
            update_w_avg(ws)
            return loss, ok, scale

        def g_reg_step(z, z2, mix, c, noises, pl_noise):
            (_, (penalty, new_mean, ws)), grads = g_reg_grad(z, z2, mix, c, noises, pl_noise)
            ok, _ = update_G(grads)
            ops.assign(pl_state.pl_mean, new_mean)
            update_w_avg(ws)
            return penalty, ok

        def d_main_step(reals, c, z, z2, mix, noises, aug_fake, aug_real, p):
            (_, (loss, real, fake, sign, ws)), grads = d_main_grad(reals, c, z, z2, mix, noises,
                                                                   aug_fake, aug_real, p)
            ok, scale = update_D(grads)
            update_w_avg(ws)
            if all_reduce is not None:   # one ADA signal for all ranks keeps p identical
                sign = all_reduce(sign) / world_size
            return loss, real, fake, sign, ok, scale

        def d_reg_step(reals, c, aug_real, p):
            (_, penalty), grads = d_reg_grad(reals, c, aug_real, p)
            ok, _ = update_D(grads)
            return penalty, ok

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

        self._g_main, self._g_reg = self.jit(g_main_step), self.jit(g_reg_step)
        self._d_main, self._d_reg = self.jit(d_main_step), self.jit(d_reg_step)
        self._ema, self._sample = self.jit(ema_step), self.jit(sample_fn)

    # -- host-side randomness --------------------------------------------------------------------
    def _latents(self, n: int):
        rng, num_ws = self.rng, self.G.num_ws
        z = sample_z(rng, n, self.G.z_dim)
        z2 = sample_z(rng, n, self.G.z_dim)
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

    # -- the interface the run uses ---------------------------------------------------------------
    def step(self, batch: tuple, it: int, progress: Progress) -> dict:
        """G_main, G_reg (every pl_interval), D_main, D_reg (every r1_interval), then the EMA."""
        t = self.cfg.train
        reals, labels = Tensor(batch[0]), Tensor(batch[1])
        n = reals.shape[0]
        p = Tensor(self._p(), ms.float32)
        stats = {}
        z, z2, mix, noises = self._latents(n)
        stats["loss_G"], stats["update_ok_G"], scale_G = self._done(self._g_main(
            z, z2, mix, labels, noises, self._aug_rand(n), p))
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
        loss_D, d_real, d_fake, sign, ok_D, scale_D = self._done(self._d_main(
            reals, labels, z, z2, mix, noises, self._aug_rand(n), self._aug_rand(n), p))
        stats.update(loss_D=loss_D, D_real=d_real, D_fake=d_fake, update_ok_D=ok_D)
        self.scale_stats(stats, G=scale_G, D=scale_D)
        if self.r1_gamma > 0 and it % self.r1_interval == 0:
            stats["loss_r1"], stats["update_ok_D_reg"] = self._done(self._d_reg(
                reals, labels, self._aug_rand(n), p))
        if self.augment_mode in ("ada", "fixed"):
            stats["ada_p"] = p
            if self.augment_mode == "ada":
                self.ada.observe(sign)
        beta = ema_beta(t.batch_size, progress.nimg, t.ema_kimg, t.ema_rampup)
        self._done(self._ema(Tensor(beta, ms.float32)))
        return stats

    def sample(self, z: Tensor, c: Tensor, psi: Tensor) -> Tensor:
        return self._sample(z, c, psi)

    def host_state(self) -> dict:
        return {**super().host_state(), "ada": self.ada.state_dict()}

    def load_host_state(self, state: dict) -> None:
        super().load_host_state(state)
        self.ada.load_state_dict(state["ada"])
