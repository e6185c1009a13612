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


def expand(t, like):
    """``t`` broadcast to ``like``'s shape, so that the element-wise op that follows is same-shape.

    MindSpore 2.10's CPU element-wise kernels keep, for as long as their graph lives, buffers of
    about 4x the output for every broadcasting op (``x * s.reshape(B, C, 1, 1)``, a bias add, a
    ``where`` with a per-sample condition), and every compiled graph keeps its own: at StyleGAN2's
    full widths that was most of the 7.8 GB G_main alone held at 64² (benchmarks/RESULTS.md).
    BroadcastTo and same-shape element-wise kernels keep nothing
    (``python -m benchmarks.probe_cpu_memory``). Delete when that probe shows no growth.
    """
    return ops.broadcast_to(t, like.shape)


def lrelu(x, alpha: float):
    """leaky_relu as a Select; twice differentiable (R1, path length).

    MindSpore 2.10 computes ``ops.leaky_relu`` as Maximum(x, alpha * x), and on CPU each
    MaximumGrad kernel keeps about 4x its output for its graph's lifetime (see ``expand``).
    """
    return ops.select(x > 0, x, x * alpha)


def rsqrt(x):
    return ops.pow(x, -0.5)


def zero_insert_2x(x):
    """(N, C, H, W) → (N, C, 2H, 2W) with the samples at even positions and zeros between."""
    n, c, h, w = x.shape
    x = x.reshape(n, c, h, 1, w, 1)
    x = ops.concat((x, ops.zeros((n, c, h, 1, w, 1), x.dtype)), 5)
    x = ops.concat((x, ops.zeros((n, c, h, 1, w, 2), x.dtype)), 3)
    return x.reshape(n, c, 2 * h, 2 * w)
