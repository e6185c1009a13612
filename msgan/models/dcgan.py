"""DCGAN (Radford et al. 2016) for resolutions 32..256, optionally class-conditional.

G: z (+ label embedding) → 4×4 by a transposed conv, then ×2 blocks of (transposed conv or
nearest-upsample + conv) / BatchNorm / ReLU, Tanh at the end. D mirrors it with strided convs,
BatchNorm (not on the first layer) and LeakyReLU(0.2); class conditioning by projection.
With ``g_cond: cbn`` every BatchNorm of G also takes its scale and shift from the class.
"""
import dataclasses
import math
from dataclasses import dataclass
from typing import Optional

from mindspore import nn, ops
from mindspore.common.initializer import Normal

from msgan.checks import choice, positive
from msgan.errors import MsganError
from msgan.models.classic_config import ClassicGANConfig
from msgan.models.layers import (ClassEmbedding, MinibatchDiscrimination, ResizeConv2d,
                                 class_head, classic_export_net)
from msgan.models.spectral_norm import SNConv2d, SNDense
from msgan.ops.lowering import LeakyReLU, expand

SMALL_DATA_IMAGES = 1000     # below this many training images the auto D is half G's width


@dataclass
class DCGANConfig(ClassicGANConfig):
    """Radford et al. 2016 DCGAN with the usual stability options and the small-data ones."""
    name: str = "dcgan"
    ngf: int = 64
    ndf: Optional[int] = None        # D's width; auto: ngf, or ngf/2 below 1000 images
    minibatch_discrimination: bool = False
    mbd_kernels: int = 32
    mbd_kernel_dim: int = 8
    upsample: str = "deconv"         # deconv | resize_conv (nearest upsample + conv, no checkerboard)
    g_cond: str = "cbn"              # where G sees the class: cbn (also a per-class scale and
                                     # shift in every BatchNorm) | input (embedding beside z only)
    freeze_d: int = 0                # Freeze-D: D's first N conv blocks (from the image) keep
                                     # their weights, e.g. when fine-tuning (train.init_from)

    def validate(self, cfg) -> None:
        super().validate(cfg)
        positive("model.ngf", self.ngf)
        positive("model.ndf", self.ndf)     # None (auto) passes
        choice("model.upsample", self.upsample, ("deconv", "resize_conv"))
        choice("model.g_cond", self.g_cond, ("input", "cbn"))
        positive("model.mbd_kernels", self.mbd_kernels)
        positive("model.mbd_kernel_dim", self.mbd_kernel_dim)
        blocks = int(math.log2(cfg.data.resolution)) - 2
        if not 0 <= self.freeze_d <= blocks:
            r = cfg.data.resolution
            raise MsganError(f"config key model.freeze_d is {self.freeze_d} — D has {blocks} "
                             f"conv blocks at {r}x{r}; use 0..{blocks}")

    def with_data(self, num_images: int):
        if self.ndf is not None:
            return self, None
        small = num_images < SMALL_DATA_IMAGES
        ndf = max(self.ngf // 2, 8) if small else self.ngf
        note = (f"model.ndf: auto → {ndf} ({'fewer than' if small else 'at least'} "
                f"{SMALL_DATA_IMAGES} training images)")
        return dataclasses.replace(self, ndf=ndf), note


def _weights():
    """N(0, 0.02), the DCGAN paper's init (MindSpore's "normal" string means sigma 0.01)."""
    return Normal(0.02)


def _width(base: int, level: int) -> int:
    """Channel width `level` steps away from the image, capped at 8x like the paper's 64² nets."""
    return base * min(8, 2 ** level)


def _up_block(cin: int, cout: int, mode: str):
    if mode == "deconv":
        return [nn.Conv2dTranspose(cin, cout, 4, 2, pad_mode="pad", padding=1,
                                   weight_init=_weights(), has_bias=False)]
    return [ResizeConv2d(cin, cout, _weights())]


class ClassBatchNorm(nn.Cell):
    """BatchNorm whose scale and shift are looked up per class (conditional BatchNorm, de Vries et
    al. 2017, as in Miyato & Koyama 2018's projection-cGAN generator and BigGAN).

    With the class only beside z at G's input, BatchNorm can wash it out: a DCGAN trained on the
    imbalanced digits drew 3s, 8s and 9s under every label (benchmarks/RESULTS.md). Here every
    block is told the class again. The per-class offsets start at zero, so at initialisation this
    is plain BatchNorm.
    """

    def __init__(self, channels: int, num_classes: int):
        super().__init__()
        self.bn = nn.BatchNorm2d(channels, affine=False)
        self.gamma = nn.Embedding(num_classes, channels, embedding_table="zeros")
        self.beta = nn.Embedding(num_classes, channels, embedding_table="zeros")

    def construct(self, x, c):
        h = self.bn(x)
        n, ch = h.shape[0], h.shape[1]
        scale = expand((1.0 + self.gamma(c)).reshape(n, ch, 1, 1), h)
        return h * scale + expand(self.beta(c).reshape(n, ch, 1, 1), h)


class Generator(nn.Cell):
    def __init__(self, cfg: DCGANConfig, resolution: int, channels: int, num_classes: int):
        super().__init__()
        self.z_dim, self.num_classes = cfg.z_dim, num_classes
        self.resolution, self.channels = resolution, channels
        n_up = int(math.log2(resolution)) - 2          # 4x4 → resolution
        in_dim = cfg.z_dim + (cfg.embed_dim if num_classes else 0)
        self.embed = ClassEmbedding(num_classes, cfg.embed_dim)
        self.cbn = cfg.g_cond == "cbn" and num_classes > 0

        def norm(width):
            return ClassBatchNorm(width, num_classes) if self.cbn else nn.BatchNorm2d(width)

        width = _width(cfg.ngf, n_up - 1)
        ups = [nn.SequentialCell([nn.Conv2dTranspose(in_dim, width, 4, 1, pad_mode="valid",
                                                     weight_init=_weights(), has_bias=False)])]
        norms = [norm(width)]
        for level in range(n_up - 2, -1, -1):
            nxt = _width(cfg.ngf, level)
            ups.append(nn.SequentialCell(_up_block(width, nxt, cfg.upsample)))
            norms.append(norm(nxt))
            width = nxt
        self.ups = nn.CellList(ups)
        self.norms = nn.CellList(norms)
        self.to_image = nn.SequentialCell(_up_block(width, channels, cfg.upsample) + [nn.Tanh()])
        self.relu = nn.ReLU()

    def construct(self, z, c):
        if self.num_classes > 0:
            z = ops.concat((z, self.embed(c)), axis=1)
        x = z.reshape(z.shape[0], -1, 1, 1)
        for up, norm in zip(self.ups, self.norms):
            x = up(x)
            x = norm(x, c) if self.cbn else norm(x)
            x = self.relu(x)
        return self.to_image(x)


class Discriminator(nn.Cell):
    def __init__(self, cfg: DCGANConfig, resolution: int, channels: int, num_classes: int):
        super().__init__()
        self.num_classes = num_classes
        n_down = int(math.log2(resolution)) - 2        # resolution → 4x4
        ndf = cfg.ngf if cfg.ndf is None else cfg.ndf   # None: resolved from the data by the run
        sn = cfg.spectral_norm
        layers = []
        cin = channels
        for level in range(n_down):
            cout = _width(ndf, level)
            first = len(layers)
            layer = nn.Conv2d(cin, cout, 4, 2, pad_mode="pad", padding=1,
                              weight_init=_weights(), has_bias=level == 0 or sn)
            layers.append(SNConv2d(layer) if sn else layer)
            # spectral norm replaces BatchNorm in D (Miyato et al. 2018)
            if level > 0 and not sn:
                layers.append(nn.BatchNorm2d(cout))
            layers.append(LeakyReLU(0.2))
            if cfg.d_dropout > 0:
                layers.append(nn.Dropout(p=cfg.d_dropout))
            if level < cfg.freeze_d:     # Freeze-D: no gradient, so no optimizer update
                for block_layer in layers[first:]:
                    for p in block_layer.get_parameters():
                        p.requires_grad = False
            cin = cout
        self.features = nn.SequentialCell(layers)
        feat = cin * 16
        self.use_mbd = cfg.minibatch_discrimination
        self.mbd = MinibatchDiscrimination(feat, cfg.mbd_kernels, cfg.mbd_kernel_dim)
        out = nn.Dense(feat + (cfg.mbd_kernels if self.use_mbd else 0), 1,
                       weight_init=_weights())
        self.out = SNDense(out) if sn else out
        # Projection conditioning (Miyato & Koyama 2018) on spatially summed features.
        self.embed = ClassEmbedding(num_classes, cin)
        self.classifier = class_head(cfg.ac_weight, cin, num_classes)

    def _logit(self, h, c):
        flat = h.reshape(h.shape[0], -1)
        if self.use_mbd:
            flat = self.mbd(flat)
        logit = self.out(flat).squeeze(1)
        if self.num_classes > 0:
            logit = logit + (self.embed(c) * h.sum(axis=(2, 3))).sum(axis=1)
        return logit

    def construct(self, x, c):
        return self._logit(self.features(x), c)

    def scores(self, x, c):
        """(real/fake logit, class logits) from one pass; only with model.ac_weight > 0."""
        h = self.features(x)
        return self._logit(h, c), self.classifier(h.mean(axis=(2, 3)))


def build(cfg: DCGANConfig, resolution: int, channels: int, num_classes: int):
    return (Generator(cfg, resolution, channels, num_classes),
            Discriminator(cfg, resolution, channels, num_classes))


def export_net(G):
    return classic_export_net(G)
