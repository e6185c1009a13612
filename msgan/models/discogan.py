"""DiscoGAN (Kim et al. 2017): encoder-decoder generators and conv discriminators.

As in the paper's code (SKTBrain/DiscoGAN, model.py): G halves the image with stride-2 4x4
convs + LeakyReLU(0.2) (BatchNorm from the second conv on) down to 4x4, then doubles it back
with transposed convs + BatchNorm + ReLU, tanh at the end. D has the same encoder and a 4x4
valid conv to one logit; it also returns the activations of its BatchNorm layers, which the
paper's feature-matching loss compares between real and generated batches.
"""
import math
from dataclasses import dataclass

from mindspore import nn

from msgan.checks import choice, positive
from msgan.errors import MsganError
from msgan.models.config_base import ModelConfig
from msgan.models.translate_layers import conv, conv_transpose
from msgan.ops.lowering import LeakyReLU

GENERATORS = ("G_AB", "G_BA")


@dataclass
class DiscoGANConfig(ModelConfig):
    """Kim et al. 2017: encoder-decoder G_AB/G_BA and conv D_A/D_B, GAN + reconstruction."""
    name: str = "discogan"
    ngf: int = 64
    ndf: int = 64
    lambda_recon: float = 1.0
    recon_loss: str = "mse"          # mse (the paper's code) | l1
    lambda_feature: float = 0.9      # weight of D feature matching vs the GAN loss (paper code)

    def validate(self, cfg) -> None:
        for key in ("ngf", "ndf"):
            positive(f"model.{key}", getattr(self, key))
        choice("model.recon_loss", self.recon_loss, ("mse", "l1"))
        positive("model.lambda_recon", self.lambda_recon, allow_zero=True)
        if not 0.0 <= self.lambda_feature <= 1.0:
            raise MsganError(f"config key model.lambda_feature is {self.lambda_feature} — use "
                             "0..1")


def _width(base: int, level: int) -> int:
    return base * min(2 ** level, 8)


def _encoder(channels: int, base: int, n_down: int) -> list:
    """One SequentialCell per level, so D can read each level's activation."""
    levels, cin = [], channels
    for level in range(n_down):
        cout = _width(base, level)
        layers = [conv(cin, cout, 4, 2, 1, bias=False)]
        if level > 0:
            layers.append(nn.BatchNorm2d(cout))
        layers.append(LeakyReLU(0.2))
        levels.append(nn.SequentialCell(layers))
        cin = cout
    return levels


class Generator(nn.Cell):
    def __init__(self, cfg: DiscoGANConfig, resolution: int, channels: int):
        super().__init__()
        self.resolution, self.channels = resolution, channels
        n = int(math.log2(resolution)) - 2            # resolution → 4x4
        layers = _encoder(channels, cfg.ngf, n)
        for level in range(n - 2, -1, -1):
            layers += [conv_transpose(_width(cfg.ngf, level + 1), _width(cfg.ngf, level), 4, 2,
                                      1, bias=False),
                       nn.BatchNorm2d(_width(cfg.ngf, level)), nn.ReLU()]
        layers += [conv_transpose(cfg.ngf, channels, 4, 2, 1, bias=False), nn.Tanh()]
        self.net = nn.SequentialCell(layers)

    def construct(self, x):
        return self.net(x)


class Discriminator(nn.Cell):
    """``construct(x) -> (logits (B,), features)``; features are the BatchNorm levels' outputs."""

    def __init__(self, cfg: DiscoGANConfig, resolution: int, channels: int):
        super().__init__()
        n = int(math.log2(resolution)) - 2
        self.levels = nn.CellList(_encoder(channels, cfg.ndf, n))
        self.out = conv(_width(cfg.ndf, n - 1), 1, 4, 1, 0, bias=False)

    def construct(self, x):
        feats = ()
        h = x
        for i, level in enumerate(self.levels):
            h = level(h)
            if i > 0:
                feats = feats + (h,)
        logits = self.out(h)
        return logits.reshape(logits.shape[0]), feats


def generator(cfg: DiscoGANConfig, resolution: int, channels: int):
    return Generator(cfg, resolution, channels)


def build(cfg: DiscoGANConfig, resolution: int, channels: int) -> dict:
    return {"G_AB": generator(cfg, resolution, channels),
            "G_BA": generator(cfg, resolution, channels),
            "D_A": Discriminator(cfg, resolution, channels),
            "D_B": Discriminator(cfg, resolution, channels)}


def export_net(G):
    G.set_train(False)
    return G
