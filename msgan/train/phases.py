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


def guarded_update(opt, reducer):
    """In-graph update: average gradients over ranks (if any), apply them only when finite.

    A non-finite gradient skips the update instead of poisoning the weights and Adam's moments
    for the rest of the run; the returned flag lets the loop count skipped steps.
    """
    def apply(grads):
        if reducer is not None:
            grads = reducer(grads)
        ok = all_finite(grads)
        if ok:
            opt(grads)
        return ok
    return apply


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
        G.set_train(True)
        D.set_train(True)
        G_ema.set_train(False)
        self._compile(cfg.train.jit_level)

    def _compile(self, jit_level: str):
        G, D, G_ema = self.G, self.D, self.G_ema
        real_target, use_noise = self.real_target, self.instance_noise > 0

        def d_loss(reals, labels, z, noise_std):
            fakes = ops.stop_gradient(G(z, labels))
            if use_noise:   # instance noise (Sønderby et al. 2016): blur both distributions for D
                reals = reals + noise_std * ops.standard_normal(reals.shape)
                fakes = fakes + noise_std * ops.standard_normal(fakes.shape)
            real_logits, fake_logits = D(reals, labels), D(fakes, labels)
            loss = losses.d_bce(real_logits, fake_logits, real_target)
            return loss, real_logits.mean(), fake_logits.mean()

        def g_loss(labels, z, noise_std):
            fakes = G(z, labels)
            if use_noise:
                fakes = fakes + noise_std * ops.standard_normal(fakes.shape)
            return losses.g_nonsaturating(D(fakes, labels))

        d_grad = ms.value_and_grad(d_loss, None, self.opt_D.parameters, has_aux=True)
        g_grad = ms.value_and_grad(g_loss, None, self.opt_G.parameters)
        apply_D = guarded_update(self.opt_D, self.reduce_D)
        apply_G = guarded_update(self.opt_G, self.reduce_G)

        def d_step(reals, labels, z, noise_std):
            (loss, real_mean, fake_mean), grads = d_grad(reals, labels, z, noise_std)
            return loss, real_mean, fake_mean, apply_D(grads)

        def g_step(labels, z, noise_std):
            loss, grads = g_grad(labels, z, noise_std)
            return loss, apply_G(grads)

        g_params = tuple(G.get_parameters())         # BatchNorm moving stats included
        ema_params = tuple(G_ema.get_parameters())

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
        loss_D, d_real, d_fake, ok_D = self._d_step(reals, labels, z_d, noise_std)
        z_g = Tensor(sample_z(self.rng, n, self.z_dim, self.z_dist))
        loss_G, ok_G = self._g_step(labels, z_g, noise_std)
        return {"loss_G": loss_G, "loss_D": loss_D, "D_real": d_real, "D_fake": d_fake,
                "update_ok_D": ok_D, "update_ok_G": ok_G}

    def update_ema(self, beta: Tensor) -> None:
        self._ema_step(beta)

    def state_cells(self) -> dict:
        return {"G": self.G, "D": self.D, "G_ema": self.G_ema,
                "opt_G": self.opt_G, "opt_D": self.opt_D}

    def host_state(self) -> dict:
        return {"rng": self.rng.bit_generator.state}

    def load_host_state(self, state: dict) -> None:
        self.rng.bit_generator.state = state["rng"]
