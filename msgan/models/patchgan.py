"""The N-layer PatchGAN discriminator of pix2pix and CycleGAN (Isola et al. 2017).

``d_layers`` stride-2 4x4 convs, then two stride-1 4x4 convs; with 3 layers each output logit
sees a 70x70 patch. Logits are returned per patch, (B, 1, h, w), without a sigmoid.
"""
from mindspore import nn

from msgan.checks import choice, positive
from msgan.errors import MsganError
from msgan.models.norm import norm_has_shift, norm_layer
from msgan.models.translate_layers import conv
from msgan.ops.lowering import LeakyReLU


def check_keys(m) -> None:
    """The config keys pix2pix and CycleGAN share (widths, norm, GAN loss, D depth)."""
    for key in ("ngf", "ndf"):
        positive(f"model.{key}", getattr(m, key))
    choice("model.norm", m.norm, ("batch", "instance"))
    choice("model.gan_mode", m.gan_mode, ("vanilla", "lsgan"))
    positive("model.d_layers", m.d_layers)


def patch_size(resolution: int, d_layers: int) -> int:
    """Side of the logit map: each stride-1 4x4 conv with padding 1 removes one pixel."""
    return resolution // 2 ** d_layers - 2


def receptive_field(d_layers: int) -> int:
    rf = 1
    for stride in [1, 1] + [2] * d_layers:      # walk back from the output through every conv
        rf = (rf - 1) * stride + 4
    return rf


class PatchGAN(nn.Cell):
    def __init__(self, in_channels: int, ndf: int, d_layers: int, norm: str, resolution: int):
        super().__init__()
        if patch_size(resolution, d_layers) < 1:
            most = max(n for n in range(0, 11) if patch_size(resolution, n) >= 1) \
                if resolution >= 3 else 0
            raise MsganError(f"model.d_layers={d_layers} is too deep for resolution "
                             f"{resolution} (no output patch left) — use d_layers <= {most} or a "
                             "larger data.resolution")
        bias = not norm_has_shift(norm)
        layers = [conv(in_channels, ndf, 4, 2, 1), LeakyReLU(0.2)]
        width = ndf
        for n in range(1, d_layers + 1):
            nxt = ndf * min(2 ** n, 8)
            stride = 2 if n < d_layers else 1
            layers += [conv(width, nxt, 4, stride, 1, bias), norm_layer(norm, nxt),
                       LeakyReLU(0.2)]
            width = nxt
        layers.append(conv(width, 1, 4, 1, 1))
        self.net = nn.SequentialCell(layers)

    def construct(self, x):
        return self.net(x)
