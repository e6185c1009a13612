"""What every family of compiled training phases shares: parameter holders, optimisers,
gradient reduction over ranks, the guarded (finite-only) update, loss scaling."""
from __future__ import annotations

import numpy as np
from mindspore import mint, nn
from mindspore.amp import all_finite

from msgan.config import OptimizerConfig


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
