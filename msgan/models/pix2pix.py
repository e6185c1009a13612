"""pix2pix (Isola et al. 2017): U-Net generator and conditional 70x70 PatchGAN discriminator.

The U-Net follows the reference code's UnetSkipConnectionBlock: stride-2 4x4 convs down to a
1x1 bottleneck (at most 8 downs, the paper's 256² net; larger images keep a bigger bottleneck),
transposed convs up, each decoder output concatenated with the mirrored encoder output. The
innermost encoder block has no norm (a 1x1 map has no spatial statistics) and dropout sits in
the three decoder blocks just above the innermost, as in the paper's 256² net.
"""
import math
from dataclasses import dataclass
from typing import Optional

from mindspore import nn, ops

from msgan.checks import positive
from msgan.errors import MsganError
from msgan.models.config_base import ModelConfig
from msgan.models.norm import norm_has_shift, norm_layer
from msgan.models.patchgan import PatchGAN, check_keys
from msgan.models.translate_layers import conv, conv_transpose
from msgan.ops.lowering import LeakyReLU

GENERATORS = ("G",)
MAX_DOWNS = 8


@dataclass
class Pix2PixConfig(ModelConfig):
    """Isola et al. 2017: U-Net G, 70x70 PatchGAN D, adversarial + L1 on paired images."""
    name: str = "pix2pix"
    ngf: int = 64
    ndf: int = 64
    d_layers: int = 3                # PatchGAN depth: 3 → 70x70 receptive field
    lambda_l1: float = 100.0
    norm: str = "batch"              # batch | instance
    dropout: float = 0.5             # in the U-Net's innermost decoder blocks
    gan_mode: str = "vanilla"        # vanilla (BCE) | lsgan
    decay_start_kimg: Optional[float] = None  # lr decays linearly to 0 from here; auto: half

    def validate(self, cfg) -> None:
        check_keys(self)
        positive("model.lambda_l1", self.lambda_l1, allow_zero=True)
        if not 0.0 <= self.dropout < 1.0:
            raise MsganError(f"config key model.dropout is {self.dropout} — use 0 <= p < 1")
        positive("model.decay_start_kimg", self.decay_start_kimg, allow_zero=True)


def _width(ngf: int, level: int) -> int:
    return ngf * min(2 ** level, 8)


class _Block(nn.Cell):
    """Encoder level ``level`` (output width w_level), the sub-U-Net below it, and its decoder.

    Returns concat(x, decoded) except at the outermost level, which returns the image.
    """

    def __init__(self, level, n_downs, ngf, in_channels, out_channels, norm, dropout):
        super().__init__()
        self.outermost, innermost = level == 0, level == n_downs - 1
        bias = not norm_has_shift(norm)
        inner = _width(ngf, level)
        down = [conv(in_channels, inner, 4, 2, 1, bias=bias)]
        if not self.outermost:
            down.insert(0, LeakyReLU(0.2))
        if not (self.outermost or innermost):
            down.append(norm_layer(norm, inner))
        self.down = nn.SequentialCell(down)
        self.sub = None if innermost else _Block(level + 1, n_downs, ngf, inner, inner, norm,
                                                 dropout)
        up_in = inner if innermost else 2 * inner
        up = [nn.ReLU(), conv_transpose(up_in, out_channels, 4, 2, 1,
                                        bias=bias or self.outermost)]
        if self.outermost:
            up.append(nn.Tanh())
        else:
            up.append(norm_layer(norm, out_channels))
            if dropout > 0 and max(1, n_downs - 4) <= level <= n_downs - 2:
                up.append(nn.Dropout(p=dropout))
        self.up = nn.SequentialCell(up)

    def construct(self, x):
        h = self.down(x)
        if self.sub is not None:
            h = self.sub(h)
        y = self.up(h)
        if self.outermost:
            return y
        return ops.concat((x, y), axis=1)


class UNetGenerator(nn.Cell):
    def __init__(self, cfg: Pix2PixConfig, resolution: int, channels: int):
        super().__init__()
        self.resolution, self.channels = resolution, channels
        self.n_downs = min(int(math.log2(resolution)), MAX_DOWNS)
        self.net = _Block(0, self.n_downs, cfg.ngf, channels, channels, cfg.norm, cfg.dropout)

    def construct(self, x):
        return self.net(x)


class ConditionalD(nn.Cell):
    """PatchGAN on concat(input, output or target): D judges whether y fits x."""

    def __init__(self, cfg: Pix2PixConfig, resolution: int, channels: int):
        super().__init__()
        self.net = PatchGAN(2 * channels, cfg.ndf, cfg.d_layers, cfg.norm, resolution)

    def construct(self, x, y):
        return self.net(ops.concat((x, y), axis=1))


def generator(cfg: Pix2PixConfig, resolution: int, channels: int):
    return UNetGenerator(cfg, resolution, channels)


def build(cfg: Pix2PixConfig, resolution: int, channels: int) -> dict:
    return {"G": generator(cfg, resolution, channels),
            "D": ConditionalD(cfg, resolution, channels)}


def export_net(G):
    G.set_train(False)
    return G
