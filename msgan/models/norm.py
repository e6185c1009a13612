"""Instance normalisation from mean/var, and the batch | instance choice of pix2pix/CycleGAN.

MindSpore 2.10's InstanceNorm2d has no CPU kernel (DESIGN.md), so it is written here from
reductions, which run on every backend, differentiate in graph mode and export to MindIR and
ONNX. ``pow(var + eps, -0.5)`` instead of rsqrt: ONNX has no Rsqrt converter. The statistics
are broadcast explicitly (``expand``): MindSpore's CPU broadcasting kernels keep ~4x their output
per compiled graph (msgan/ops/lowering.py).
"""
import mindspore as ms
from mindspore import Parameter, Tensor, nn, ops
import numpy as np

from msgan.errors import MsganError
from msgan.ops.lowering import expand


class InstanceNorm2d(nn.Cell):
    """Per-sample, per-channel normalisation over H, W (biased variance, like torch)."""

    def __init__(self, channels: int, affine: bool = False, eps: float = 1e-5):
        super().__init__()
        self.channels, self.affine, self.eps = channels, affine, eps
        if affine:
            self.gamma = Parameter(Tensor(np.ones(channels, np.float32)), name="gamma")
            self.beta = Parameter(Tensor(np.zeros(channels, np.float32)), name="beta")

    def construct(self, x):
        # fp32 statistics under train.amp: in fp16, xc * xc overflows once |x - mean| > 256
        # and the whole channel comes out 0 (the extra casts are no-ops for fp32 input)
        dtype = x.dtype
        x = ops.cast(x, ms.float32)
        xc = x - expand(x.mean(axis=(2, 3), keep_dims=True), x)
        var = (xc * xc).mean(axis=(2, 3), keep_dims=True)
        y = ops.cast(xc * expand(ops.pow(var + self.eps, -0.5), xc), dtype)
        if self.affine:
            y = y * expand(self.gamma.reshape(1, -1, 1, 1), y) + \
                expand(self.beta.reshape(1, -1, 1, 1), y)
        return y


def norm_layer(kind: str, channels: int) -> nn.Cell:
    """``batch`` → BatchNorm2d (affine, running stats); ``instance`` → InstanceNorm2d without
    affine or running stats, as the pix2pix/CycleGAN reference code builds them."""
    if kind == "batch":
        return nn.BatchNorm2d(channels)
    if kind == "instance":
        return InstanceNorm2d(channels)
    raise MsganError(f"normalisation {kind!r} is unknown — use batch or instance")


def norm_has_shift(kind: str) -> bool:
    """Whether the norm adds its own bias, making the preceding conv's bias redundant."""
    return kind == "batch"
