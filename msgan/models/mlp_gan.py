"""The classic fully connected GAN: Dense/BatchNorm/ReLU generator, LeakyReLU discriminator."""
from dataclasses import dataclass, field
from typing import List

from mindspore import nn, ops

from msgan.errors import MsganError
from msgan.models.classic_config import ClassicGANConfig
from msgan.models.layers import ClassEmbedding, class_head, classic_export_net
from msgan.models.spectral_norm import SNDense
from msgan.ops.lowering import LeakyReLU


@dataclass
class MLPGANConfig(ClassicGANConfig):
    """Classic fully connected GAN (Goodfellow et al. 2014, with BatchNorm in G)."""
    name: str = "gan"
    d_dropout: float = 0.3
    g_hidden: List[int] = field(default_factory=lambda: [256, 512, 1024])
    d_hidden: List[int] = field(default_factory=lambda: [512, 256])

    def validate(self, cfg) -> None:
        super().validate(cfg)
        for key in ("g_hidden", "d_hidden"):
            if not getattr(self, key) or min(getattr(self, key)) <= 0:
                raise MsganError(f"config key model.{key} must be a non-empty list of positive "
                                 "layer widths")


class Generator(nn.Cell):
    def __init__(self, cfg: MLPGANConfig, resolution: int, channels: int, num_classes: int):
        super().__init__()
        self.z_dim, self.num_classes = cfg.z_dim, num_classes
        self.resolution, self.channels = resolution, channels
        in_dim = cfg.z_dim + (cfg.embed_dim if num_classes else 0)
        self.embed = ClassEmbedding(num_classes, cfg.embed_dim)
        layers = []
        for width in cfg.g_hidden:
            layers += [nn.Dense(in_dim, width), nn.BatchNorm1d(width), nn.ReLU()]
            in_dim = width
        layers += [nn.Dense(in_dim, channels * resolution * resolution), nn.Tanh()]
        self.net = nn.SequentialCell(layers)

    def construct(self, z, c):
        if self.num_classes > 0:
            z = ops.concat((z, self.embed(c)), axis=1)
        x = self.net(z)
        return x.reshape(-1, self.channels, self.resolution, self.resolution)


def _dense(cin: int, cout: int, spectral_norm: bool):
    layer = nn.Dense(cin, cout)
    return SNDense(layer) if spectral_norm else layer


class Discriminator(nn.Cell):
    def __init__(self, cfg: MLPGANConfig, resolution: int, channels: int, num_classes: int):
        super().__init__()
        self.num_classes = num_classes
        in_dim = channels * resolution * resolution
        layers = []
        for width in cfg.d_hidden:
            layers += [_dense(in_dim, width, cfg.spectral_norm), LeakyReLU(0.2)]
            if cfg.d_dropout > 0:
                layers.append(nn.Dropout(p=cfg.d_dropout))
            in_dim = width
        self.features = nn.SequentialCell(layers)
        self.out = _dense(in_dim, 1, cfg.spectral_norm)
        # Projection conditioning (Miyato & Koyama 2018): logit += <embed(c), features>.
        self.embed = ClassEmbedding(num_classes, in_dim)
        self.classifier = class_head(cfg.ac_weight, in_dim, num_classes)

    def _logit(self, h, c):
        logit = self.out(h).squeeze(1)
        if self.num_classes > 0:
            logit = logit + (self.embed(c) * h).sum(axis=1)
        return logit

    def construct(self, x, c):
        return self._logit(self.features(x.reshape(x.shape[0], -1)), c)

    def scores(self, x, c):
        """(real/fake logit, class logits) from one pass; only with model.ac_weight > 0."""
        h = self.features(x.reshape(x.shape[0], -1))
        return self._logit(h, c), self.classifier(h)


def build(cfg: MLPGANConfig, resolution: int, channels: int, num_classes: int):
    return (Generator(cfg, resolution, channels, num_classes),
            Discriminator(cfg, resolution, channels, num_classes))


def export_net(G):
    return classic_export_net(G)
