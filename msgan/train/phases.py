"""Compiled training steps for the classic GANs (MLP GAN, DCGAN).

One ``ms.jit`` function per phase (D step, G step, EMA, sampling), each with at most one
optimizer: two optimizers in one graph clash on their state names in MindSpore 2.10.
Values that change during training (instance-noise std, EMA beta) enter as Tensors so the graphs
compile once.
"""
from __future__ import annotations

import numpy as np
import mindspore as ms
from mindspore import Tensor, mint, nn, ops
from mindspore.amp import all_finite

from msgan import losses
from msgan.config import Config, OptimizerConfig
from msgan.train import amp


class Nets(nn.Cell):
    """Holds G, D and G_ema so every parameter has a unique name (``G.*``, ``D.*``, ``G_ema.*``)."""

    def __init__(self, G, D, G_ema):
        super().__init__()
        self.G, self.D, self.G_ema = G, D, G_ema


def make_adam(params, opt: OptimizerConfig):
    # mint's Adam accepts beta1 = 0 (StyleGAN) where nn.Adam refuses it.
    return mint.optim.Adam(params, lr=opt.lr, betas=tuple(opt.betas), eps=opt.eps)


def ema_beta(batch_size: int, cur_nimg: int, ema_kimg: float | None, ema_rampup: float | None):
    """SG2A's EMA decay per step: half-life ``ema_kimg`` (auto: batch*10/32), ramped up early."""
    ema_nimg = (batch_size * 10 / 32 if ema_kimg is None else ema_kimg) * 1000
    rampup = 0.05 if ema_rampup is None else ema_rampup
    if rampup > 0:
        ema_nimg = min(ema_nimg, cur_nimg * rampup)
    return 0.5 ** (batch_size / max(ema_nimg, 1e-8))


def grad_reducer(opt, world_size: int):
    """Mean of the gradients over data-parallel ranks (identity for a single process)."""
    if world_size > 1:
        return nn.DistributedGradReducer(opt.parameters, mean=True, degree=world_size)
    return None


def guarded_update(opt, reducer, scale=None):
    """In-graph update: average gradients over ranks (if any), apply them only when finite.

    A non-finite gradient skips the update instead of poisoning the weights and Adam's moments
    for the rest of the run; the returned flag lets the loop count skipped steps. With a
    ``LossScale`` (mixed precision) the gradients are unscaled before the check and the scale
    follows the outcome; every rank sees the same reduced gradients, so scales stay equal.
    """
    def apply(grads):
        if scale is not None:
            grads = scale.unscale(grads)
        if reducer is not None:
            grads = reducer(grads)
        ok = all_finite(grads)
        if ok:
            opt(grads)
        if scale is not None:
            scale.adjust(ok)
        return ok
    return apply


def scaled(scale, loss):
    """The objective to differentiate: the fp32 loss times the loss scale (if any)."""
    return loss if scale is None else scale.scale(loss)


def sample_z(rng: np.random.Generator, n: int, z_dim: int, z_dist: str) -> np.ndarray:
    if z_dist == "uniform":
        return rng.uniform(-1.0, 1.0, (n, z_dim)).astype(np.float32)
    return rng.standard_normal((n, z_dim), dtype=np.float32)


class ClassicPhases:
    """D step then G step per iteration, BCE losses, with the DCGAN-era stability options."""

    def __init__(self, cfg: Config, G, D, G_ema, num_classes: int, rank: int = 0,
                 world_size: int = 1):
        self.nets = Nets(G, D, G_ema)
        self.G, self.D, self.G_ema = G, D, G_ema
        m = cfg.model
        self.z_dim, self.z_dist = m.z_dim, m.z_dist
        self.num_classes = num_classes
        # every rank draws its own latents; weights stay identical through the reduced gradients
        self.rng = np.random.default_rng([cfg.train.seed + 1, rank])
        self.real_target = float(m.label_smoothing)
        self.instance_noise = float(m.instance_noise)
        self.progress = 0.0                      # fraction of the schedule done; set by the loop
        self.opt_G = make_adam(G.trainable_params(), cfg.train.G_opt)
        self.opt_D = make_adam(D.trainable_params(), cfg.train.D_opt)
        self.reduce_G = grad_reducer(self.opt_G, world_size)
        self.reduce_D = grad_reducer(self.opt_D, world_size)
        self.scales = amp.loss_scales(cfg.train.amp)
        # after Nets named the Parameters; G_ema stays fp32 (samples, exports)
        self.G_run = amp.cast_network(G, cfg.train.amp)
        self.D_run = amp.cast_network(D, cfg.train.amp)
        G.set_train(True)
        D.set_train(True)
        G_ema.set_train(False)
        self._compile(cfg.train.jit_level)

    def _compile(self, jit_level: str):
        G, D = self.G_run, self.D_run
        real_target, use_noise = self.real_target, self.instance_noise > 0
        scale_G, scale_D = self.scales.get("G"), self.scales.get("D")

        def d_loss(reals, labels, z, noise_std):
            fakes = ops.stop_gradient(G(z, labels))
            if use_noise:   # instance noise (Sønderby et al. 2016): blur both distributions for D
                reals = reals + noise_std * ops.standard_normal(reals.shape)
                fakes = fakes + noise_std * ops.standard_normal(fakes.shape)
            real_logits, fake_logits = D(reals, labels), D(fakes, labels)
            loss = losses.d_bce(real_logits, fake_logits, real_target)
            return scaled(scale_D, loss), (loss, real_logits.mean(), fake_logits.mean())

        def g_loss(labels, z, noise_std):
            fakes = G(z, labels)
            if use_noise:
                fakes = fakes + noise_std * ops.standard_normal(fakes.shape)
            loss = losses.g_nonsaturating(D(fakes, labels))
            return scaled(scale_G, loss), loss

        d_grad = ms.value_and_grad(d_loss, None, self.opt_D.parameters, has_aux=True)
        g_grad = ms.value_and_grad(g_loss, None, self.opt_G.parameters, has_aux=True)
        apply_D = guarded_update(self.opt_D, self.reduce_D, scale_D)
        apply_G = guarded_update(self.opt_G, self.reduce_G, scale_G)

        def d_step(reals, labels, z, noise_std):
            (_, (loss, real_mean, fake_mean)), grads = d_grad(reals, labels, z, noise_std)
            ok = apply_D(grads)
            if scale_D is None:
                return loss, real_mean, fake_mean, ok
            return loss, real_mean, fake_mean, ok, scale_D.scale_value * 1.0

        def g_step(labels, z, noise_std):
            (_, loss), grads = g_grad(labels, z, noise_std)
            ok = apply_G(grads)
            if scale_G is None:
                return loss, ok
            return loss, ok, scale_G.scale_value * 1.0

        g_params = tuple(self.G.get_parameters())         # BatchNorm moving stats included
        ema_params = tuple(self.G_ema.get_parameters())

        def ema_step(beta):
            for pe, p in zip(ema_params, g_params):
                ops.assign(pe, pe * beta + p * (1.0 - beta))
            return beta

        self._d_step = ms.jit(d_step, jit_level=jit_level)
        self._g_step = ms.jit(g_step, jit_level=jit_level)
        self._ema_step = ms.jit(ema_step, jit_level=jit_level)

    # -- the interface the loop uses -------------------------------------------------------------
    def step(self, reals: Tensor, labels: Tensor, it: int) -> dict:
        n = reals.shape[0]
        noise_std = Tensor(self.instance_noise * max(0.0, 1.0 - self.progress), ms.float32)
        z_d = Tensor(sample_z(self.rng, n, self.z_dim, self.z_dist))
        d_outs = self._d_step(reals, labels, z_d, noise_std)
        z_g = Tensor(sample_z(self.rng, n, self.z_dim, self.z_dist))
        g_outs = self._g_step(labels, z_g, noise_std)
        stats = {"loss_G": g_outs[0], "loss_D": d_outs[0], "D_real": d_outs[1],
                 "D_fake": d_outs[2], "update_ok_D": d_outs[3], "update_ok_G": g_outs[1]}
        if self.scales:
            stats.update(loss_scale_D=d_outs[4], loss_scale_G=g_outs[2])
        return stats

    def update_ema(self, beta: Tensor) -> None:
        self._ema_step(beta)

    def state_cells(self) -> dict:
        cells = {"G": self.G, "D": self.D, "G_ema": self.G_ema,
                 "opt_G": self.opt_G, "opt_D": self.opt_D}
        cells.update({f"scale_{k}": v for k, v in self.scales.items()})
        return cells

    def optimizers(self) -> dict:
        return {"G": self.opt_G, "D": self.opt_D}

    def host_state(self) -> dict:
        return {"rng": self.rng.bit_generator.state}

    def load_host_state(self, state: dict) -> None:
        self.rng.bit_generator.state = state["rng"]
