"""PSNR/SSIM against closed forms and an independent, loop-based SSIM; the bicubic baseline."""
import numpy as np
from PIL import Image

from msgan.metrics.image_quality import bicubic_upscale, image_quality, psnr, rgb_to_y, ssim


def _images(seed, shape=(2, 3, 24, 20)):
    return np.random.default_rng(seed).integers(0, 200, shape, dtype=np.uint8)


def _ssim_reference(x, y):
    """Wang et al. 2004 written out window by window: 11x11 Gaussian (sigma 1.5), valid
    positions only, weighted moments, channels averaged."""
    t = np.arange(11) - 5.0
    g = np.exp(-t ** 2 / (2 * 1.5 ** 2))
    w = np.outer(g, g) / np.outer(g, g).sum()
    c1, c2 = (0.01 * 255) ** 2, (0.03 * 255) ** 2
    out = []
    for xi, yi in zip(x.astype(np.float64), y.astype(np.float64)):
        vals = []
        for a, b in zip(xi, yi):
            for r in range(a.shape[0] - 10):
                for c in range(a.shape[1] - 10):
                    pa, pb = a[r:r + 11, c:c + 11], b[r:r + 11, c:c + 11]
                    ma, mb = (w * pa).sum(), (w * pb).sum()
                    va, vb = (w * (pa - ma) ** 2).sum(), (w * (pb - mb) ** 2).sum()
                    cov = (w * (pa - ma) * (pb - mb)).sum()
                    vals.append((2 * ma * mb + c1) * (2 * cov + c2)
                                / ((ma ** 2 + mb ** 2 + c1) * (va + vb + c2)))
        out.append(np.mean(vals))
    return np.array(out)


def test_identical_images():
    x = _images(0)
    assert np.all(np.isinf(psnr(x, x)))
    assert np.allclose(ssim(x, x), 1.0)
    assert image_quality(x, x) == {"psnr": float("inf"), "ssim": 1.0}


def test_constant_offset_psnr_closed_form():
    x = _images(1)
    for d in (1, 10, 50):
        expect = 20 * np.log10(255.0 / d)   # MSE = d²
        assert np.allclose(psnr(x, x + np.uint8(d)), expect)
        assert np.allclose(psnr(x + np.uint8(d), x), expect)


def test_ssim_matches_windowed_reference():
    x = _images(2)
    noisy = np.clip(x + np.random.default_rng(3).normal(0, 25, x.shape), 0, 255).astype(np.uint8)
    blurred = (x // 2 + 60).astype(np.uint8)
    for y in (noisy, blurred):
        got, ref = ssim(x, y), _ssim_reference(x, y)
        assert np.allclose(got, ref, rtol=1e-9, atol=1e-12), (got, ref)
    assert ssim(x, noisy).mean() < 0.95
    q = image_quality(x, noisy)
    assert np.isclose(q["psnr"], psnr(x, noisy).mean()) and np.isclose(q["ssim"],
                                                                        ssim(x, noisy).mean())


def test_bicubic_upscale_and_luma():
    lr = _images(4, (2, 3, 6, 5))
    up = bicubic_upscale(lr, 4)
    assert up.shape == (2, 3, 24, 20) and up.dtype == np.uint8
    pil = Image.fromarray(lr[1].transpose(1, 2, 0)).resize((20, 24), Image.Resampling.BICUBIC)
    assert np.array_equal(up[1], np.asarray(pil).transpose(2, 0, 1))
    grey = np.full((1, 1, 4, 4), 77, np.uint8)
    assert np.array_equal(bicubic_upscale(grey, 2), np.full((1, 1, 8, 8), 77, np.uint8))

    extremes = np.stack([np.zeros((3, 2, 2), np.uint8), np.full((3, 2, 2), 255, np.uint8)])
    y = rgb_to_y(extremes)
    assert y.shape == (2, 1, 2, 2) and y[0].max() == 16 and y[1].min() == 235
