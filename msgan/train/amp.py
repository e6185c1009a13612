"""Mixed precision for the training phases: fp16 networks, fp32 losses, one loss scale per network.

``train.amp`` O2 casts everything but the normalisation layers to fp16, O3 casts everything
(``mindspore.amp.auto_mixed_precision``; O1 fails on MindSpore 2.10: its rewrite breaks
LeakyReLU). The Parameters stay fp32, so checkpoints, G_ema and exports are the same as with O0.

Each optimizer gets its own ``DynamicLossScaler``: G's and D's gradients overflow at different
scales, and one graph may hold only one scaler's Parameters under a given name. The scaler's
Parameters live in a ``LossScale`` Cell so the checkpoint saves and restores them.
"""
from __future__ import annotations

import mindspore as ms
from mindspore import nn
from mindspore.amp import DynamicLossScaler, auto_mixed_precision

LEVELS = ("O0", "O2", "O3")
INIT_SCALE = 2.0 ** 16      # the usual start; halves on each overflow until gradients are finite
SCALE_FACTOR = 2
SCALE_WINDOW = 2000         # finite steps in a row before the scale doubles again


def enabled(level: str) -> bool:
    return level in ("O2", "O3")


def cast_network(net: nn.Cell, level: str) -> nn.Cell:
    """The Cell to call in the training graphs: ``net`` computing in fp16, returning fp32.

    ``net`` itself is changed in place (its cells are marked fp16) but keeps its Parameters and
    their names; only the returned wrapper casts the output back, so losses are fp32. Call it
    after ``net`` has its final parent (the phases' ``NamedCells`` holder): O2 wraps BatchNorm
    cells, and a later parent would rename their Parameters ``..._backbone...``, which O0
    checkpoints do not have.
    """
    if not enabled(level):
        return net
    params = list(net.get_parameters())
    names = [p.name for p in params]
    wrapped = auto_mixed_precision(net, level)
    for p, name in zip(params, names):
        p.name = name
    return wrapped


class LossScale(nn.Cell):
    """A network's dynamic loss scale, as a Cell whose Parameters a checkpoint holds."""

    def __init__(self, name: str, init_scale: float = INIT_SCALE):
        super().__init__()
        self.scaler = DynamicLossScaler(scale_value=init_scale, scale_factor=SCALE_FACTOR,
                                        scale_window=SCALE_WINDOW)
        # unique names: a jit graph refuses two Parameters with the same name
        self.scaler.scale_value.name = f"loss_scale_{name}"
        self.scaler.counter.name = f"loss_scale_counter_{name}"
        self.scale_value = self.scaler.scale_value
        self.counter = self.scaler.counter

    def scale(self, loss):
        return self.scaler.scale(loss)

    def unscale(self, grads):
        return self.scaler.unscale(grads)

    def adjust(self, ok):
        """Halve the scale after an overflow, double it after SCALE_WINDOW finite steps."""
        self.scaler.adjust(ok)
        return self.scale_value * 1.0    # a copy: the Parameter changes again next step

    def value(self) -> float:
        return float(self.scale_value.asnumpy())

    def set_value(self, value: float) -> None:
        self.scale_value.copy_(ms.Tensor(value, ms.float32))


def loss_scales(level: str, names=("G", "D")) -> dict:
    """``{name: LossScale}`` for each optimizer, or ``{}`` when training in fp32."""
    return {n: LossScale(n) for n in names} if enabled(level) else {}
