"""StyleGAN2's layers: equalised-LR layers, modulated conv, FIR resampling.

Everything here follows NVlabs stylegan2-ada-pytorch (SG2A) and is written so that graph mode,
second-order gradients (R1, path length) and MindIR/ONNX export all work on MindSpore 2.10, with
MindSpore's own convolution operators on every device (CPU included, so the tests run the code
Ascend and GPU users run):
zero padding is the convolution's own (functional constant pad has a wrong backward from the
second jit call on, and a Pad kernel is slow on CPU), ``rsqrt`` is ``pow(x, -0.5)`` (ONNX has no
Rsqrt converter) and FIR filtering (SG2A's upfirdn2d) is a padded depthwise convolution.
"""
from __future__ import annotations

import math

import numpy as np
from mindspore import Parameter, Tensor, nn, ops

from msgan.ops.lowering import expand, lrelu, rsqrt, zero_insert_2x

LRELU_GAIN = math.sqrt(2.0)    # keeps the activation variance of lrelu(0.2) layers at ~1


def normalize_2nd_moment(x, eps: float = 1e-8):
    return x * rsqrt(ops.mean(x * x, axis=1, keep_dims=True) + eps)


def randn(shape, seed_rng=None) -> np.ndarray:
    """Initial values drawn from numpy's global RNG (seeded by runtime.set_seeds)."""
    rng = seed_rng if seed_rng is not None else np.random
    return rng.standard_normal(shape).astype(np.float32)


def bias_act(x, bias, activation: str, gain: float, channel_axis: int = 1, clamp=None):
    """SG2A bias_act: add bias, activate, multiply by the activation's gain times ``gain``,
    then clip to [-clamp, clamp] (SG2A's conv_clamp; None = no clipping)."""
    if bias is not None:
        shape = [1] * x.ndim
        shape[channel_axis] = -1
        x = x + expand(bias.reshape(tuple(shape)), x)
    if activation == "lrelu":
        x = lrelu(x, 0.2) * (LRELU_GAIN * gain)
    elif gain != 1.0:
        x = x * gain
    if clamp is not None:
        x = ops.clamp(x, -clamp, clamp)
    return x


class EqualLinear(nn.Cell):
    """SG2A FullyConnectedLayer: weights ~ N(0, 1/lr_mul²), scaled by lr_mul/sqrt(fan_in) at run time."""

    def __init__(self, cin: int, cout: int, bias: bool = True, bias_init: float = 0.0,
                 lr_mul: float = 1.0, activation: str = "linear"):
        super().__init__()
        self.weight = Parameter(Tensor(randn((cout, cin)) / lr_mul), name="weight")
        self.has_bias = bias
        self.bias = Parameter(Tensor(np.full((cout,), bias_init, np.float32)), name="bias",
                              requires_grad=bias)
        self.weight_gain = lr_mul / math.sqrt(cin)
        self.bias_gain = lr_mul
        self.activation = activation

    def construct(self, x):
        y = ops.matmul(x, (self.weight * self.weight_gain).T)
        b = self.bias * self.bias_gain if self.has_bias else None
        return bias_act(y, b, self.activation, 1.0)


def fir_2d(taps=(1, 3, 3, 1), gain: float = 1.0) -> np.ndarray:
    k = np.asarray(taps, np.float64)
    k = np.outer(k, k)
    return (k / k.sum() * gain).astype(np.float32)


class Blur(nn.Cell):
    """upfirdn2d(up=1, down, pad=(p0, p1)) with a 2-D FIR: zero pad + depthwise conv (stride down).

    The kernel is flipped so the convolution is a true convolution as in SG2A (flip_filter=False);
    the binomial filters used here are symmetric, so this only matters for clarity.
    """

    def __init__(self, channels: int, pad, taps=(1, 3, 3, 1), gain: float = 1.0, down: int = 1):
        super().__init__()
        k = fir_2d(taps, gain)[::-1, ::-1].copy()
        self.kernel = Tensor(np.tile(k[None, None], (channels, 1, 1, 1)))
        self.channels = channels
        self.down = down
        # The conv pads by max(p0, p1) itself and the surplus row/column is sliced off: a separate
        # Pad kernel took 15 % of a CPU StyleGAN2 iteration at 32² (~6 ms a call,
        # benchmarks/RESULTS.md). Functional conv2d pads symmetrically only, and the Conv2D
        # primitive's asymmetric pad list exported to an ONNX graph onnxruntime rejects.
        if down != 1 and pad[0] != pad[1]:
            raise ValueError("Blur: an asymmetric pad needs down=1")
        self.padding = max(pad)
        self.start = self.padding - pad[0]
        self.trim = abs(pad[0] - pad[1])

    def construct(self, x):
        y = ops.conv2d(x, self.kernel, stride=self.down, pad_mode="pad", padding=self.padding,
                       groups=self.channels)
        if self.trim:
            h, w = y.shape[2] - self.trim, y.shape[3] - self.trim
            y = y[:, :, self.start:self.start + h, self.start:self.start + w]
        return y


class Upsample2d(nn.Cell):
    """SG2A upfirdn2d.upsample2d(x, [1,3,3,1]): zero insertion + FIR with gain 4, pad (2, 1)."""

    def __init__(self, channels: int, taps=(1, 3, 3, 1)):
        super().__init__()
        fw = len(taps)
        self.blur = Blur(channels, ((fw + 1) // 2, (fw - 2) // 2), taps, gain=4.0)

    def construct(self, x):
        return self.blur(zero_insert_2x(x))


class EqualConv2d(nn.Cell):
    """SG2A Conv2dLayer (equalised LR, optional FIR downsampling by 2, bias + activation).

    down=2 follows conv2d_resample: for k > 1 blur with pad k//2 + 1 then a stride-2 conv; for
    1x1 convs blur-and-subsample first (cheaper, same result).
    """

    def __init__(self, cin: int, cout: int, kernel: int, bias: bool = True,
                 activation: str = "linear", down: int = 1, taps=(1, 3, 3, 1), conv_clamp=None):
        super().__init__()
        self.conv_clamp = conv_clamp
        self.weight = Parameter(Tensor(randn((cout, cin, kernel, kernel))), name="weight")
        self.has_bias = bias
        self.bias = Parameter(Tensor(np.zeros((cout,), np.float32)), name="bias", requires_grad=bias)
        self.weight_gain = 1.0 / math.sqrt(cin * kernel * kernel)
        self.activation = activation
        self.kernel, self.down = kernel, down
        fw = len(taps)
        if down == 1:
            self.pre = None
            self.stride, self.padding = 1, kernel // 2
        elif kernel == 1:
            p = ((fw - down + 1) // 2, (fw - down) // 2)
            self.pre = Blur(cin, p, taps, down=down)
            self.stride, self.padding = 1, 0
        else:
            p = kernel // 2
            self.pre = Blur(cin, (p + (fw - down + 1) // 2, p + (fw - down) // 2), taps)
            self.stride, self.padding = down, 0

    def construct(self, x, gain: float = 1.0):
        if self.pre is not None:
            x = self.pre(x)
        w = self.weight * self.weight_gain
        if self.padding > 0:
            x = ops.conv2d(x, w, stride=self.stride, pad_mode="pad", padding=self.padding)
        else:
            x = ops.conv2d(x, w, stride=self.stride)
        clamp = None if self.conv_clamp is None else self.conv_clamp * gain
        return bias_act(x, self.bias if self.has_bias else None, self.activation, gain,
                        clamp=clamp)


class ModulatedConv2d(nn.Cell):
    """Weight modulation/demodulation (StyleGAN2 eq. 1-3) as input scaling + one shared conv.

    Scaling the input by the styles and the output by the demodulation coefficients equals the
    per-sample weight (SG2A's fused_modconv=False path) and is faster on CPU than a grouped conv.
    up=2 is a stride-2 transposed conv followed by a [1,3,3,1] FIR (conv2d_resample).
    """

    def __init__(self, cin: int, cout: int, kernel: int, demodulate: bool = True, up: int = 1):
        super().__init__()
        self.weight = Parameter(Tensor(randn((cout, cin, kernel, kernel))), name="weight")
        self.cin, self.cout, self.kernel = cin, cout, kernel
        self.demodulate, self.up = demodulate, up
        if up == 2:
            # Conv2DTranspose's out_channel is the forward conv's output, i.e. our input width.
            self.tconv = ops.Conv2DTranspose(out_channel=cin, kernel_size=kernel,
                                             pad_mode="valid", stride=2)
            self.blur = Blur(cout, (1, 1), gain=4.0)

    def construct(self, x, styles):
        n, _, h, w = x.shape
        x = x * expand(styles.reshape(n, self.cin, 1, 1), x)
        if self.up == 2:
            wt = self.weight.transpose(1, 0, 2, 3)
            oh, ow = (h - 1) * 2 + self.kernel, (w - 1) * 2 + self.kernel
            x = self.blur(self.tconv(x, wt, (n, self.cout, oh, ow)))
        else:
            x = ops.conv2d(x, self.weight, pad_mode="pad", padding=self.kernel // 2)
        if self.demodulate:
            w2 = (self.weight * self.weight).sum(axis=(2, 3))              # (cout, cin)
            d = rsqrt(ops.matmul(styles * styles, w2.T) + 1e-8)             # (n, cout)
            x = x * expand(d.reshape(n, self.cout, 1, 1), x)
        return x


def _largest_divisor(n: int, at_most: int) -> int:
    g = max(1, min(n, at_most))
    while n % g:
        g -= 1
    return g


def minibatch_group(n: int, group_size: int) -> int:
    """MinibatchStd's group for a batch of ``n``: its largest divisor not above group_size."""
    return _largest_divisor(n, group_size)


def pair_batches(a, b, g: int):
    """Two batches of n as one of 2n whose MinibatchStd groups (of ``g``) each stay within one.

    MinibatchStd groups sample i with i + n/g, i + 2n/g, ...; stacking the batches along that
    second axis gives every group exactly the samples it has when each batch runs alone, so one
    D pass over the pair equals two passes (``passes=2``) with half the kernels.
    """
    n = a.shape[0]
    rest = a.shape[1:]
    ab = ops.concat((a.reshape((g, n // g) + rest), b.reshape((g, n // g) + rest)), 1)
    return ab.reshape((2 * n,) + rest)


def unpair_batches(y, g: int):
    """Inverse of ``pair_batches`` for the first axis: (2n, ...) → the two batches of n."""
    n = y.shape[0] // 2
    rest = y.shape[1:]
    y = y.reshape((g, 2, n // g) + rest)
    return y[:, 0].reshape((n,) + rest), y[:, 1].reshape((n,) + rest)


class MinibatchStd(nn.Cell):
    """SG2A MinibatchStdLayer: one extra feature map with the stddev across groups of samples.

    The group is the largest divisor of the batch not above ``group_size``, so any batch works.
    ``passes`` > 1: the batch is that many equal batches joined by ``pair_batches``, and groups
    are formed as each would be alone.
    """

    def __init__(self, group_size: int, num_channels: int = 1):
        super().__init__()
        self.group_size, self.num_channels = group_size, num_channels

    def construct(self, x, passes: int = 1):
        n, c, h, w = x.shape
        g = minibatch_group(n // passes, self.group_size)
        f = self.num_channels
        y = x.reshape(g, n // g, f, c // f, h, w)
        y = y - expand(y.mean(axis=0, keep_dims=True), y)
        y = ops.sqrt((y * y).mean(axis=0) + 1e-8)
        y = y.mean(axis=(2, 3, 4)).reshape(n // g, f, 1, 1)
        y = ops.tile(y, (g, 1, h, w))
        return ops.concat((x, y), 1)
