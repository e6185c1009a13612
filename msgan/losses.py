"""Every loss and regulariser of msgan, as pure functions of tensors (no Cells, no state).

Sections: adversarial losses of the noise models; StyleGAN2's regularisers (SG2A training/loss.py);
the image-to-image losses (pix2pix, CycleGAN, DiscoGAN); SRGAN's perceptual loss. Gradients that a
regulariser needs (R1, path length) are taken by the caller inside its compiled phase.
"""
from mindspore import ops


# -- adversarial losses ---------------------------------------------------------------------------

def bce_with_logits(logits, target):
    """Mean binary cross-entropy against a constant target, computed stably from logits.

    softplus(-x) * t + softplus(x) * (1 - t) is log(1 + e^-x) weighted; it avoids log(sigmoid).
    """
    return ops.mean(ops.softplus(-logits) * target + ops.softplus(logits) * (1.0 - target))


def d_bce(real_logits, fake_logits, real_target=1.0):
    """D's non-saturating loss, softplus(-D(real)) + softplus(D(fake)) at ``real_target`` 1 (also
    StyleGAN's logistic loss and SRGAN's D loss); ``real_target`` < 1 is one-sided label smoothing."""
    return bce_with_logits(real_logits, real_target) + bce_with_logits(fake_logits, 0.0)


def g_nonsaturating(fake_logits):
    """-log D(G(z)): the non-saturating generator loss (Goodfellow et al. 2014, sec. 3)."""
    return ops.mean(ops.softplus(-fake_logits))


def class_ce(class_logits, labels):
    """Mean cross-entropy of a classifier head against int labels (AC-GAN's auxiliary loss,
    Odena et al. 2017; here D learns it from reals only, and G from its fakes)."""
    return ops.cross_entropy(class_logits, labels)


def mode_seeking(fakes_a, fakes_b, z_a, z_b, eps=1e-5):
    """Mode-seeking term (Mao et al. 2019, MSGAN): 1 / (mean|G(z_a,c) - G(z_b,c)| /
    mean|z_a - z_b| + eps) over pairs with the same class; G minimises it, so two latents of one
    class that G maps to the same image cost most (a class collapsed onto one look)."""
    ratio = ops.mean(ops.abs(fakes_a - fakes_b)) / ops.mean(ops.abs(z_a - z_b))
    return 1.0 / (ratio + eps), ratio


def d_hinge(real_logits, fake_logits):
    """Hinge loss of D (Lim & Ye 2017; SNGAN, BigGAN): relu(1 - D(real)) + relu(1 + D(fake))."""
    return ops.mean(ops.relu(1.0 - real_logits)) + ops.mean(ops.relu(1.0 + fake_logits))


def g_hinge(fake_logits):
    """G's side of the hinge loss: -D(G(z))."""
    return -ops.mean(fake_logits)


def lecam(real_logits, fake_logits, anchor_real, anchor_fake):
    """LeCam regulariser of D (Tseng et al. 2021, "Regularizing GANs under limited data"), as
    its authors' code computes it: mean(relu(D(real) - anchor_fake)²) + mean(relu(anchor_real -
    D(fake))²), the anchors being moving averages of D's mean outputs on fakes and reals. It
    keeps D's outputs from drifting apart on a small set, which D otherwise memorises."""
    return (ops.mean(ops.square(ops.relu(real_logits - anchor_fake)))
            + ops.mean(ops.square(ops.relu(anchor_real - fake_logits))))


# -- StyleGAN2 regularisers (SG2A training/loss.py) -----------------------------------------------

def r1_penalty(grad_real):
    """Per-sample ||∇_x D(x)||² on reals (Mescheder et al. 2018), shape (B,)."""
    return (grad_real * grad_real).sum(axis=(1, 2, 3))


def path_lengths(grad_ws):
    """SG2A's per-sample path length: sqrt(mean over layers of ||J_wᵀ y||²), shape (B,)."""
    return ops.sqrt((grad_ws * grad_ws).sum(axis=2).mean(axis=1))


def path_length_penalty(lengths, pl_mean, decay: float):
    """(penalty per sample, updated pl_mean). The running mean is not detached, as in SG2A."""
    new_mean = pl_mean + (lengths.mean() - pl_mean) * decay
    diff = lengths - new_mean
    return diff * diff, new_mean


def lazy_adam_params(lr: float, betas, interval: int):
    """Adam settings for a network regularised every ``interval`` steps (StyleGAN2 App. B).

    The optimizer steps interval+1 times per interval; scaling lr and the betas by
    c = interval/(interval+1) keeps the effective learning rate and averaging horizon.
    """
    if interval <= 0:
        return lr, tuple(betas)
    c = interval / (interval + 1)
    return lr * c, (betas[0] ** c, betas[1] ** c)


def r1_gamma(configured, resolution: int, batch_size: int) -> float:
    """SG2A's auto gamma when not configured: 0.0002 · resolution² / batch_size."""
    if configured is not None:
        return float(configured)
    return 0.0002 * resolution ** 2 / batch_size


# -- image-to-image GANs: pix2pix, CycleGAN, DiscoGAN ---------------------------------------------
# ``mode`` is a Python string fixed when a step is compiled: ``vanilla`` is binary cross-entropy on
# logits (the papers' sigmoid + BCE, computed stably), ``lsgan`` the least-squares loss of Mao et
# al. 2017 that CycleGAN uses. Logits may be per patch (PatchGAN) or per image; all are averaged.

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


# -- SRGAN (Ledig et al. 2017, sec. 2.2) -----------------------------------------------------------
# Perceptual loss = content loss + ``adv_weight`` * adversarial loss (the paper: 1e-3). Content is
# the pixel-wise MSE (SRResNet-MSE) or the MSE of VGG19 feature maps (SRGAN-VGG54). The paper
# rescales its VGG loss by 1/12.75² because its Caffe VGG saw 0-255 pixels; the torchvision
# weights used here see ImageNet-normalised inputs, whose features are already far smaller, so no
# factor is applied (as the common PyTorch ports do). D's loss is ``d_bce``.

def feature_mse(sr_features, hr_features):
    """Mean squared error between feature maps; the target side carries no gradient."""
    return ops.mean(ops.square(sr_features - ops.stop_gradient(hr_features)))


def perceptual_loss(content, fake_logits, adv_weight):
    """Perceptual loss: content + adv_weight * -log D(G(x)) (the non-saturating form)."""
    return content + adv_weight * g_nonsaturating(fake_logits)
