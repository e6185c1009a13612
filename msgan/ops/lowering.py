"""Lowerings that work around MindSpore 2.10 limits; no model knowledge, no device checks.

Each says which limit it avoids; delete it when MindSpore fixes that limit.
"""
from __future__ import annotations

from mindspore import nn, ops


class LeakyReLU(nn.Cell):
    """``nn.LeakyReLU(alpha)`` (0 < alpha < 1) with a one-Select gradient.

    MindSpore 2.10 computes leaky_relu as Maximum(x, alpha * x), whose gradient takes two Selects,
    comparisons and an add: 6 % of a CPU DCGAN step's op time, halved by this bprop
    (benchmarks/RESULTS.md). First-order only: StyleGAN2, whose R1 and path-length penalties
    differentiate twice, keeps ``bias_act``.
    """

    def __init__(self, alpha: float = 0.2):
        super().__init__()
        self.alpha = alpha

    def construct(self, x):
        return ops.leaky_relu(x, self.alpha)

    def bprop(self, x, out, dout):
        return (ops.select(x > 0, dout, dout * self.alpha),)


def rsqrt(x):
    return ops.pow(x, -0.5)


def zero_insert_2x(x):
    """(N, C, H, W) → (N, C, 2H, 2W) with the samples at even positions and zeros between."""
    n, c, h, w = x.shape
    x = x.reshape(n, c, h, 1, w, 1)
    x = ops.concat((x, ops.zeros((n, c, h, 1, w, 1), x.dtype)), 5)
    x = ops.concat((x, ops.zeros((n, c, h, 1, w, 2), x.dtype)), 3)
    return x.reshape(n, c, 2 * h, 2 * w)
