"""PSNR and SSIM of uint8 image batches, and the bicubic baseline SRGAN is compared with.

Definitions (the ones papers report, so numbers are comparable):
- PSNR = 10·log10(255² / MSE) per image over all pixels and channels; identical images → inf.
- SSIM (Wang et al. 2004, the reference ssim.m): 11×11 Gaussian window, sigma 1.5, K1 0.01,
  K2 0.03, data range 255, 'valid' filtering (no padding), mean of the SSIM map; computed per
  channel and averaged over channels (as skimage's channel_axis and MindSpore's nn.SSIM do). For
  luminance-only SSIM (the usual SR convention) pass ``rgb_to_y(images)``.

MindSpore's nn.PSNR / nn.SSIM are not used: in MindSpore 2.10 both raise in PyNative mode on
CPU (ScalarCast rejects their float32 max_val), and the metrics must work in either mode and
without compiling a graph per image size. numpy + scipy give the same numbers in graph mode.
"""
from __future__ import annotations

from typing import Dict

import numpy as np
from PIL import Image
from scipy.ndimage import correlate1d

SSIM_WINDOW = 11
SSIM_SIGMA = 1.5
K1, K2 = 0.01, 0.03
DATA_RANGE = 255.0


def _check(x: np.ndarray, y: np.ndarray) -> None:
    for name, a in (("x", x), ("y", y)):
        if a.dtype != np.uint8 or a.ndim != 4:
            raise ValueError(f"{name} must be uint8 (N, C, H, W), got {a.dtype} {a.shape}")
    if x.shape != y.shape:
        raise ValueError(f"shapes differ: {x.shape} vs {y.shape}")


def psnr(x: np.ndarray, y: np.ndarray) -> np.ndarray:
    """Per-image PSNR in dB, float64 (N,); inf where the images are identical."""
    _check(x, y)
    d = x.astype(np.float64) - y.astype(np.float64)
    mse = (d * d).reshape(len(d), -1).mean(axis=1)
    with np.errstate(divide="ignore"):
        return 10.0 * np.log10(DATA_RANGE ** 2 / mse)


def _gaussian(size: int, sigma: float) -> np.ndarray:
    t = np.arange(size, dtype=np.float64) - (size - 1) / 2.0
    g = np.exp(-(t * t) / (2.0 * sigma * sigma))
    return g / g.sum()


def _filter_valid(a: np.ndarray, g: np.ndarray) -> np.ndarray:
    """Separable Gaussian over the last two axes, keeping only fully covered positions."""
    half, k = len(g) // 2, len(g)
    out = correlate1d(a, g, axis=-1, mode="constant")
    out = correlate1d(out, g, axis=-2, mode="constant")
    h, w = a.shape[-2:]
    return out[..., half:h - k + half + 1, half:w - k + half + 1]


def ssim(x: np.ndarray, y: np.ndarray) -> np.ndarray:
    """Per-image SSIM, float64 (N,), channels averaged. Images under 11 px use a smaller window."""
    _check(x, y)
    win = min(SSIM_WINDOW, x.shape[2], x.shape[3])
    win -= (win + 1) % 2   # odd, so the window has a centre pixel
    g = _gaussian(win, SSIM_SIGMA)
    a, b = x.astype(np.float64), y.astype(np.float64)
    mu_a, mu_b = _filter_valid(a, g), _filter_valid(b, g)
    var_a = _filter_valid(a * a, g) - mu_a ** 2
    var_b = _filter_valid(b * b, g) - mu_b ** 2
    cov = _filter_valid(a * b, g) - mu_a * mu_b
    c1, c2 = (K1 * DATA_RANGE) ** 2, (K2 * DATA_RANGE) ** 2
    smap = ((2 * mu_a * mu_b + c1) * (2 * cov + c2)) / ((mu_a ** 2 + mu_b ** 2 + c1)
                                                         * (var_a + var_b + c2))
    return smap.reshape(len(smap), -1).mean(axis=1)


def rgb_to_y(images: np.ndarray) -> np.ndarray:
    """uint8 RGB (N, 3, H, W) → uint8 (N, 1, H, W) luma, ITU-R BT.601 studio range (16..235),
    the Y channel SR papers compute PSNR/SSIM on. Greyscale input is returned unchanged."""
    if images.shape[1] == 1:
        return images
    rgb = images.astype(np.float64)
    y = 16.0 + (65.481 * rgb[:, 0] + 128.553 * rgb[:, 1] + 24.966 * rgb[:, 2]) / 255.0
    return np.clip(np.rint(y), 0, 255).astype(np.uint8)[:, None]


def image_quality(x: np.ndarray, y: np.ndarray) -> Dict[str, float]:
    """Mean PSNR and SSIM of a batch; the PSNR mean skips identical pairs (inf) unless all are."""
    p, s = psnr(x, y), ssim(x, y)
    finite = p[np.isfinite(p)]
    return {"psnr": float(finite.mean()) if len(finite) else float("inf"),
            "ssim": float(s.mean())}


def bicubic_upscale(lr: np.ndarray, scale: int) -> np.ndarray:
    """uint8 (N, C, h, w) → uint8 (N, C, h·scale, w·scale) with PIL bicubic: the SR baseline."""
    if lr.dtype != np.uint8 or lr.ndim != 4 or lr.shape[1] not in (1, 3):
        raise ValueError(f"lr must be uint8 (N, 1|3, h, w), got {lr.dtype} {lr.shape}")
    n, c, h, w = lr.shape
    out = np.empty((n, c, h * scale, w * scale), np.uint8)
    for i in range(n):
        img = Image.fromarray(lr[i, 0]) if c == 1 else Image.fromarray(lr[i].transpose(1, 2, 0))
        up = np.asarray(img.resize((w * scale, h * scale), Image.Resampling.BICUBIC))
        out[i] = up[None] if c == 1 else up.transpose(2, 0, 1)
    return out
