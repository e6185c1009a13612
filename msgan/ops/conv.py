"""Which convolution Cells a model gets: the one place that looks at the device.

On CPU, fastconv's im2col + MatMul lowering (``ops/fastconv.py``) replaces MindSpore 2.10's conv
kernels, whose forward and input gradient run oneDNN's reference kernel there
(``benchmarks/probe_cpu_conv.py``); Ascend and GPU keep MindSpore's own Cells. Both have the same
Parameters, so checkpoints move freely between devices. StyleGAN2 never asks: it uses MindSpore's
operators on every device, so the CPU tests run what device users run.
"""
from __future__ import annotations

from mindspore import nn

from msgan.ops import device, fastconv


def matmul_convs() -> bool:
    """True where convolutions are lowered to MatMul (the CPU)."""
    return device.is_cpu()


def conv_cells(second_order: bool = False):
    """(Conv2d, ConvTranspose2d) classes, both with ``nn.Conv2d``'s signature and Parameters.

    ``second_order``: the caller differentiates through the convs twice (R1): fastconv's Slice
    and compiled-kernel ops have no second-order gradients
    (tests/test_small_data.py::test_r1_needs_native_convs), so MindSpore's Cells are used.
    """
    if matmul_convs() and not second_order:
        return fastconv.Conv2d, fastconv.ConvTranspose2d
    return nn.Conv2d, nn.Conv2dTranspose
