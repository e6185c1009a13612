"""Cells shared by the image-to-image models (pix2pix, CycleGAN, DiscoGAN)."""
import numpy as np
from mindspore import Tensor, nn, ops
from mindspore.common.initializer import Normal


def weights():
    """N(0, 0.02): the init of the pix2pix/CycleGAN/DiscoGAN reference code."""
    return Normal(0.02)


def conv(cin, cout, k, stride=1, padding=0, bias=True):
    return nn.Conv2d(cin, cout, k, stride, pad_mode="pad", padding=padding, has_bias=bias,
                     weight_init=weights())


def conv_transpose(cin, cout, k, stride=2, padding=1, bias=True):
    return nn.Conv2dTranspose(cin, cout, k, stride, pad_mode="pad", padding=padding,
                              has_bias=bias, weight_init=weights())


class ReflectPad2d(nn.Cell):
    """Reflection padding of H and W as one Gather per axis.

    MindSpore's reflect pad lowers to PadV3 (or MirrorPad), which the ONNX exporter cannot
    convert; Gather with fixed indices exports everywhere and has an exact gradient.
    """

    def __init__(self, pad: int):
        super().__init__()
        self.pad = pad

    def _index(self, n):
        p = self.pad
        idx = list(range(p, 0, -1)) + list(range(n)) + list(range(n - 2, n - 2 - p, -1))
        return Tensor(np.array(idx, np.int32))

    def construct(self, x):
        x = ops.gather(x, self._index(x.shape[2]), 2)
        return ops.gather(x, self._index(x.shape[3]), 3)


class UpConv3x3(nn.Cell):
    """torch's ConvTranspose2d(k=3, stride=2, padding=1, output_padding=1): exactly 2x upsampling.

    ONNX's exported ConvTranspose does not handle output_padding, so the transposed conv runs
    unpadded ((2h+1) rows) and the first row/column is cropped, which is the same
    function with the same (cin, cout, 3, 3) weight.
    """

    def __init__(self, cin, cout, bias=True):
        super().__init__()
        self.up = conv_transpose(cin, cout, 3, 2, 0, bias)
        self.cout = cout

    def construct(self, x):
        n, _, h, w = x.shape
        return ops.slice(self.up(x), (0, 0, 1, 1), (n, self.cout, 2 * h, 2 * w))
