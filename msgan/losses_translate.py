"""Losses of the image-to-image GANs (pix2pix, CycleGAN, DiscoGAN) as pure functions.

``mode`` is a Python string fixed when a step is compiled: ``vanilla`` is binary cross-entropy on
logits (the papers' sigmoid + BCE, computed stably), ``lsgan`` the least-squares loss of Mao et
al. 2017 that CycleGAN uses. Logits may be per patch (PatchGAN) or per image; all are averaged.
"""
from mindspore import ops

from msgan.losses import bce_with_logits


def gan_loss(logits, target: float, mode: str):
    """Mean loss of ``logits`` against a constant real (1) / fake (0) target."""
    if mode == "lsgan":
        diff = logits - target
        return ops.mean(diff * diff)
    return bce_with_logits(logits, target)


def d_gan_loss(real_logits, fake_logits, mode: str):
    """Discriminator loss, halved as in the reference code so D learns slower than G."""
    return 0.5 * (gan_loss(real_logits, 1.0, mode) + gan_loss(fake_logits, 0.0, mode))


def g_gan_loss(fake_logits, mode: str):
    """Generator loss: fakes scored against the real target (non-saturating for vanilla)."""
    return gan_loss(fake_logits, 1.0, mode)


def l1(x, y):
    return ops.mean(ops.abs(x - y))


def mse(x, y):
    d = x - y
    return ops.mean(d * d)


def recon(x, y, kind: str):
    """DiscoGAN's reconstruction distance: ``mse`` (the paper's code) or ``l1``."""
    return l1(x, y) if kind == "l1" else mse(x, y)


def feature_matching(real_feats, fake_feats):
    """DiscoGAN's feature loss: squared distance of the batch-mean activations, per D level.

    The paper's code feeds (mean_real - mean_fake)^2 to HingeEmbeddingLoss with target 1, which
    is just its mean; the levels are summed.
    """
    total = 0.0
    for r, f in zip(real_feats, fake_feats):
        d = r.mean(axis=0) - f.mean(axis=0)
        total = total + ops.mean(d * d)
    return total
