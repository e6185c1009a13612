"""StyleGAN2 regularisers as pure functions of gradients (SG2A training/loss.py).

The gradients themselves are taken by the caller (``ms.grad`` inside the compiled phase), so
these stay free of Cells and state. The adversarial losses are ``msgan.losses.d_logistic`` and
``msgan.losses.g_nonsaturating``.
"""
from mindspore import ops


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
