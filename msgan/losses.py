"""GAN losses as pure functions of logits (no Cells, no state), so every phase can share them."""
from mindspore import ops


def bce_with_logits(logits, target):
    """Mean binary cross-entropy against a constant target, computed stably from logits.

    softplus(-x) * t + softplus(x) * (1 - t) is log(1 + e^-x) weighted; it avoids log(sigmoid).
    """
    return ops.mean(ops.softplus(-logits) * target + ops.softplus(logits) * (1.0 - target))


def d_bce(real_logits, fake_logits, real_target=1.0):
    """Discriminator loss of the classic GAN; ``real_target`` < 1 is one-sided label smoothing."""
    return bce_with_logits(real_logits, real_target) + bce_with_logits(fake_logits, 0.0)


def g_nonsaturating(fake_logits):
    """-log D(G(z)): the non-saturating generator loss (Goodfellow et al. 2014, sec. 3)."""
    return ops.mean(ops.softplus(-fake_logits))


def d_logistic(real_logits, fake_logits):
    """StyleGAN's D loss: softplus(D(fake)) + softplus(-D(real)), i.e. d_bce with target 1."""
    return ops.mean(ops.softplus(fake_logits)) + ops.mean(ops.softplus(-real_logits))


def d_hinge(real_logits, fake_logits):
    """Hinge loss of D (Lim & Ye 2017; SNGAN, BigGAN): relu(1 - D(real)) + relu(1 + D(fake))."""
    return ops.mean(ops.relu(1.0 - real_logits)) + ops.mean(ops.relu(1.0 + fake_logits))


def g_hinge(fake_logits):
    """G's side of the hinge loss: -D(G(z))."""
    return -ops.mean(fake_logits)
