"""CycleGAN (Zhu et al. 2017): ResNet generators G_AB, G_BA and PatchGAN discriminators.

The generator is the reference code's ResnetGenerator: c7s1-ngf, two stride-2 3x3 downs,
``n_blocks`` residual blocks with reflection padding, two stride-2 3x3 ups, c7s1-out, tanh.
D_A judges domain-A images (real a vs G_BA(b)), D_B domain B (real b vs G_AB(a)).
"""
from dataclasses import dataclass
from typing import Optional

from mindspore import nn

from msgan.checks import positive
from msgan.models.config_base import ModelConfig
from msgan.models.norm import norm_has_shift, norm_layer
from msgan.models.patchgan import PatchGAN, check_keys
from msgan.models.translate_layers import ReflectPad2d, UpConv3x3, conv

GENERATORS = ("G_AB", "G_BA")


@dataclass
class CycleGANConfig(ModelConfig):
    """Zhu et al. 2017: ResNet G_AB/G_BA, PatchGAN D_A/D_B, LSGAN + cycle + identity losses."""
    name: str = "cyclegan"
    ngf: int = 64
    ndf: int = 64
    n_blocks: int = 9                # residual blocks: 9 for 256², 6 for 128² and below
    d_layers: int = 3
    lambda_cycle: float = 10.0
    lambda_identity: float = 0.5     # times lambda_cycle, as in the paper's code
    pool_size: int = 50              # history of generated images shown to D; 0 = off
    norm: str = "instance"           # instance | batch
    gan_mode: str = "lsgan"          # lsgan | vanilla
    decay_start_kimg: Optional[float] = None  # lr decays linearly to 0 from here; auto: half

    def validate(self, cfg) -> None:
        check_keys(self)
        positive("model.n_blocks", self.n_blocks)
        for key in ("lambda_cycle", "lambda_identity", "pool_size", "decay_start_kimg"):
            positive(f"model.{key}", getattr(self, key), allow_zero=True)


class ResnetBlock(nn.Cell):
    def __init__(self, width: int, norm: str):
        super().__init__()
        bias = not norm_has_shift(norm)
        self.body = nn.SequentialCell([
            ReflectPad2d(1), conv(width, width, 3, bias=bias), norm_layer(norm, width), nn.ReLU(),
            ReflectPad2d(1), conv(width, width, 3, bias=bias), norm_layer(norm, width)])

    def construct(self, x):
        return x + self.body(x)


class ResnetGenerator(nn.Cell):
    def __init__(self, cfg: CycleGANConfig, resolution: int, channels: int):
        super().__init__()
        self.resolution, self.channels = resolution, channels
        ngf, norm = cfg.ngf, cfg.norm
        bias = not norm_has_shift(norm)
        layers = [ReflectPad2d(3), conv(channels, ngf, 7, bias=bias), norm_layer(norm, ngf),
                  nn.ReLU()]
        for mult in (1, 2):
            layers += [conv(ngf * mult, ngf * mult * 2, 3, 2, 1, bias=bias),
                       norm_layer(norm, ngf * mult * 2), nn.ReLU()]
        layers += [ResnetBlock(ngf * 4, norm) for _ in range(cfg.n_blocks)]
        for mult in (4, 2):
            layers += [UpConv3x3(ngf * mult, ngf * mult // 2, bias=bias),
                       norm_layer(norm, ngf * mult // 2), nn.ReLU()]
        layers += [ReflectPad2d(3), conv(ngf, channels, 7), nn.Tanh()]
        self.net = nn.SequentialCell(layers)

    def construct(self, x):
        return self.net(x)


def generator(cfg: CycleGANConfig, resolution: int, channels: int):
    return ResnetGenerator(cfg, resolution, channels)


def build(cfg: CycleGANConfig, resolution: int, channels: int) -> dict:
    def D():
        return PatchGAN(channels, cfg.ndf, cfg.d_layers, cfg.norm, resolution)
    return {"G_AB": generator(cfg, resolution, channels),
            "G_BA": generator(cfg, resolution, channels), "D_A": D(), "D_B": D()}


def export_net(G):
    G.set_train(False)
    return G
