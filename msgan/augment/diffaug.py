"""DiffAugment (Zhao et al. 2020, "Differentiable Augmentation for Data-Efficient GAN Training").

The 'color,translation,cutout' policy of the authors' code, applied to every image D sees — reals
and fakes, in D's step and in G's step — so D cannot memorise a small training set while G is
still told what the un-augmented distribution looks like (the augmentation is in D's input, not
in G's output, so nothing leaks into the generated images as long as every transform is applied
to reals and fakes alike and is symmetric around "no change").

- colour: brightness + U(-0.5, 0.5), saturation × U(0, 2) around the channel mean, contrast ×
  U(0.5, 1.5) around the image mean (images in [-1, 1], as in the authors' code);
- translation: whole-pixel shifts of up to 1/8 of the size per axis, zeros shifted in;
- cutout: a square of half the size, centred anywhere, set to zero.

Each image is augmented with probability ``p`` (DiffAugment: always, p = 1), so p = 0 is exactly
the identity. The same ``apply(images, p, rand)`` signature as ``msgan.augment.AugmentPipe``
lets a training step swap one for the other; random numbers are drawn on the host
(``draw_random``) so a resumed run repeats the uninterrupted one. Shifts and cutouts are written
as products with 0/1 matrices and masks built from comparisons, which keeps first- and
second-order gradients (R1) and costs B·C·H·W·(H+W) multiply-adds.
"""
from __future__ import annotations

import numpy as np
import mindspore as ms
from mindspore import Tensor, nn, ops

# Columns of the random input, all U(0, 1).
_GATE, _BRIGHT, _SAT, _CONTRAST, _TX, _TY, _CX, _CY = range(8)
NUM_RANDOM = 8
TRANSLATION_RATIO, CUTOUT_RATIO = 0.125, 0.5


def draw_random(rng: np.random.Generator, batch: int) -> np.ndarray:
    """Host-side random input for ``DiffAugment.apply``: (batch, NUM_RANDOM) float32."""
    return rng.random((batch, NUM_RANDOM), dtype=np.float32)


class DiffAugment(nn.Cell):
    def __init__(self, resolution: int, channels: int):
        super().__init__()
        self.resolution, self.channels = resolution, channels
        self.shift = int(resolution * TRANSLATION_RATIO + 0.5)
        self.cut = int(resolution * CUTOUT_RATIO + 0.5)
        self.index = Tensor(np.arange(resolution, dtype=np.float32))

    def construct(self, images, p):
        rand = ops.uniform((images.shape[0], NUM_RANDOM), Tensor(0.0), Tensor(1.0))
        return self.apply(images, p, rand)

    def apply(self, images, p, rand):
        """Augment (B, C, R, R) images in [-1, 1] with host-drawn ``rand`` (B, NUM_RANDOM)."""
        n = images.shape[0]
        x = self._color(images, rand)
        x = self._translate(x, rand)
        x = self._cutout(x, rand)
        on = (rand[:, _GATE] < p).reshape(n, 1, 1, 1)
        return ops.where(on, x, images)

    def _color(self, x, rand):
        n = x.shape[0]
        x = x + (rand[:, _BRIGHT] - 0.5).reshape(n, 1, 1, 1)
        if self.channels > 1:
            mean = x.mean(axis=1, keep_dims=True)
            x = (x - mean) * (rand[:, _SAT] * 2).reshape(n, 1, 1, 1) + mean
        mean = x.mean(axis=(1, 2, 3), keep_dims=True)
        return (x - mean) * (rand[:, _CONTRAST] + 0.5).reshape(n, 1, 1, 1) + mean

    def _shift_matrix(self, u):
        """(B, 1, R, R) 0/1 matrices S with S[i, k] = 1 where k = i + t, t uniform in ±shift."""
        t = ops.floor(u * (2 * self.shift + 1)) - self.shift
        target = self.index.reshape(1, -1, 1) + t.reshape(-1, 1, 1)           # (B, R, 1)
        s = ops.equal(self.index.reshape(1, 1, -1), target).astype(ms.float32)  # (B, R, R)
        return s.expand_dims(1)

    def _translate(self, x, rand):
        if self.shift == 0:
            return x
        rows = self._shift_matrix(rand[:, _TY])                # out[i, :] = x[i + ty, :]
        cols = self._shift_matrix(rand[:, _TX])                # out[:, j] = x[:, j + tx]
        return ops.matmul(ops.matmul(rows, x), cols.swapaxes(2, 3))

    def _band(self, u):
        """(B, R) 1 inside a band of ``cut`` pixels whose centre is uniform over the image."""
        size = self.resolution + (1 - self.cut % 2)
        offset = ops.floor(u * size).reshape(-1, 1) - self.cut // 2
        inside = ops.logical_and(self.index.reshape(1, -1) >= offset,
                                 self.index.reshape(1, -1) < offset + self.cut)
        return inside.astype(ms.float32)

    def _cutout(self, x, rand):
        n, r = x.shape[0], self.resolution
        hole = self._band(rand[:, _CY]).reshape(n, 1, r, 1) * self._band(rand[:, _CX]).reshape(
            n, 1, 1, r)
        return x * (1 - hole)
