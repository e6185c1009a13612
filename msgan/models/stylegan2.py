"""StyleGAN2 generator and discriminator as in NVlabs stylegan2-ada-pytorch (SG2A).

G: mapping MLP (normalised z, optional class embedding, lr_mul 0.01) → W, broadcast to one w per
layer; synthesis from a learned 4×4 constant with modulated/demodulated 3×3 convs, per-pixel
noise with learned strength, FIR upsampling and the "skip" toRGB architecture.
D: "resnet" blocks with FIR downsampling, minibatch stddev, and for class-conditional data the
projection of SG2A (D's own mapping net turns the label into ``cmap``).
Channel width at resolution r is ``min(channel_base // r, channel_max)``.

Noise: ``synthesis(ws, noises, noise_mode)`` takes the noise maps as an input tuple
(``"input"``; the training phases draw them on the host so a resumed run repeats exactly),
draws them in the graph (``"random"``, what ``G(z, c)`` does) or uses the constant buffers
(``"const"``, what the export uses: deterministic and exportable).
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Optional

import numpy as np
import mindspore as ms
from mindspore import Parameter, Tensor, nn, ops

from msgan.checks import choice, positive
from msgan.errors import MsganError
from msgan.models.config_base import ModelConfig
from msgan.models.sg2_layers import (EqualConv2d, EqualLinear, MinibatchStd, ModulatedConv2d, Upsample2d,
                      bias_act, normalize_2nd_moment, randn)
from msgan.ops.lowering import expand

W_AVG_BETA = 0.995


@dataclass
class StyleGAN2Config(ModelConfig):
    """StyleGAN2-ADA (Karras et al. 2020). ``None`` means SG2A's ``auto`` value."""
    name: str = "stylegan2"
    z_dim: int = 512
    w_dim: int = 512
    mapping_layers: int = 2
    channel_base: int = 16384
    channel_max: int = 512
    conv_clamp: Optional[float] = None  # SG2A's conv_clamp (its configs: 256); None = off
    mbstd_group: int = 4
    freeze_d: int = 0                # Freeze-D: D's first N blocks (from the highest
                                     # resolution) stay fixed; SG2A's --freezed counts layers
    r1_gamma: Optional[float] = None  # auto: 0.0002 * resolution**2 / batch_size
    r1_interval: int = 16
    pl_weight: float = 2.0
    pl_interval: int = 4
    pl_decay: float = 0.01
    style_mixing: float = 0.9
    augment: str = "ada"             # ada | fixed | diffaug (DiffAugment, p = 1) | none (= noaug)
    augment_p: float = 0.0           # initial p for ada, the constant p for fixed
    ada_target: float = 0.6
    ada_interval: int = 4
    ada_kimg: float = 500.0
    ada_p_max: float = 1.0           # p is clamped to [0, ada_p_max] (SG2A lets it run above 1)

    def validate(self, cfg) -> None:
        choice("model.augment", self.augment, ("ada", "fixed", "diffaug", "none", "noaug"))
        for key in ("z_dim", "w_dim", "channel_base", "channel_max", "r1_interval",
                    "pl_interval", "ada_interval", "ada_kimg"):
            positive(f"model.{key}", getattr(self, key))
        positive("model.mapping_layers", self.mapping_layers)
        positive("model.conv_clamp", self.conv_clamp)      # None (off) passes
        blocks = d_blocks(cfg.data.resolution)
        if not 0 <= self.freeze_d <= blocks:
            r = cfg.data.resolution
            raise MsganError(f"config key model.freeze_d is {self.freeze_d} — D has {blocks} "
                             f"blocks at {r}x{r}; use 0..{blocks}")
        positive("model.r1_gamma", self.r1_gamma, allow_zero=True)
        positive("model.pl_weight", self.pl_weight, allow_zero=True)
        if not 0.0 <= self.augment_p <= 1.0 or not 0.0 < self.ada_p_max <= 1.0:
            raise MsganError("config keys model.augment_p and model.ada_p_max must lie in [0, 1]")
        if not 0.0 < self.ada_target < 1.0:
            raise MsganError(f"config key model.ada_target is {self.ada_target} — use 0 < t < 1")
        if not 0.0 <= self.style_mixing <= 1.0:
            raise MsganError(f"config key model.style_mixing is {self.style_mixing} — use 0..1")


def d_blocks(resolution: int) -> int:
    """How many DiscriminatorBlocks D has (one per resolution from ``resolution`` down to 8)."""
    return max(int(math.log2(max(resolution, 1))) - 2, 0)


def channels_at(cfg: StyleGAN2Config, res: int) -> int:
    return min(cfg.channel_base // res, cfg.channel_max)


class ClassEmbed(nn.Cell):
    """SG2A's embed FullyConnectedLayer applied to a one-hot label, written as a row lookup."""

    def __init__(self, num_classes: int, dim: int):
        super().__init__()
        self.weight = Parameter(Tensor(randn((num_classes, dim))), name="weight")
        self.bias = Parameter(Tensor(np.zeros((dim,), np.float32)), name="bias")
        self.gain = 1.0 / math.sqrt(num_classes)

    def construct(self, c):
        return ops.gather(self.weight, c, 0) * self.gain + self.bias


class MappingNetwork(nn.Cell):
    """z (and label) → w. ``num_ws`` > 0 broadcasts w to (B, num_ws, w_dim).

    ``w_avg`` tracks the mean w (the phases update it, beta 0.995) for the truncation trick.
    With ``z_dim == 0`` it maps the label alone (the discriminator's cmap network).
    """

    def __init__(self, z_dim: int, num_classes: int, w_dim: int, num_ws: int, num_layers: int,
                 lr_mul: float = 0.01):
        super().__init__()
        self.z_dim, self.num_classes, self.w_dim, self.num_ws = z_dim, num_classes, w_dim, num_ws
        self.embed = ClassEmbed(num_classes, w_dim) if num_classes > 0 else None
        features = [z_dim + (w_dim if num_classes > 0 else 0)] + [w_dim] * num_layers
        self.fcs = nn.CellList([EqualLinear(features[i], features[i + 1], lr_mul=lr_mul,
                                            activation="lrelu") for i in range(num_layers)])
        self.w_avg = Parameter(Tensor(np.zeros((w_dim,), np.float32)), name="w_avg",
                               requires_grad=False)

    def construct(self, z, c):
        if self.num_classes > 0:
            y = normalize_2nd_moment(self.embed(c))
            x = ops.concat((normalize_2nd_moment(z), y), 1) if self.z_dim > 0 else y
        else:
            x = normalize_2nd_moment(z)
        for fc in self.fcs:
            x = fc(x)
        if self.num_ws > 0:
            x = ops.tile(x.reshape(x.shape[0], 1, self.w_dim), (1, self.num_ws, 1))
        return x

    def truncate(self, ws, psi):
        """w_avg + psi·(w − w_avg) per sample; psi (B,) float32, 1 = no truncation."""
        return self.w_avg + (ws - self.w_avg) * psi.reshape(-1, 1, 1)


class SynthesisLayer(nn.Cell):
    def __init__(self, cin: int, cout: int, w_dim: int, resolution: int, up: int = 1,
                 conv_clamp=None):
        super().__init__()
        self.conv_clamp = conv_clamp
        self.affine = EqualLinear(w_dim, cin, bias_init=1.0)
        self.conv = ModulatedConv2d(cin, cout, 3, demodulate=True, up=up)
        self.noise_const = Parameter(Tensor(randn((resolution, resolution))), name="noise_const",
                                     requires_grad=False)
        self.noise_strength = Parameter(Tensor(np.zeros((1,), np.float32)), name="noise_strength")
        self.bias = Parameter(Tensor(np.zeros((cout,), np.float32)), name="bias")
        self.resolution = resolution

    def construct(self, x, w, noise, noise_mode: str):
        x = self.conv(x, self.affine(w))
        n = x.shape[0]
        if noise_mode == "const":
            noise = self.noise_const.reshape(1, 1, self.resolution, self.resolution)
        elif noise_mode == "random":
            noise = ops.standard_normal((n, 1, self.resolution, self.resolution))
        x = x + expand(noise * self.noise_strength, x)
        return bias_act(x, self.bias, "lrelu", 1.0, clamp=self.conv_clamp)


class ToRGBLayer(nn.Cell):
    def __init__(self, cin: int, cout: int, w_dim: int, conv_clamp=None):
        super().__init__()
        self.conv_clamp = conv_clamp
        self.affine = EqualLinear(w_dim, cin, bias_init=1.0)
        self.conv = ModulatedConv2d(cin, cout, 1, demodulate=False)
        self.bias = Parameter(Tensor(np.zeros((cout,), np.float32)), name="bias")
        self.weight_gain = 1.0 / math.sqrt(cin)

    def construct(self, x, w):
        x = self.conv(x, self.affine(w) * self.weight_gain)
        return bias_act(x, self.bias, "linear", 1.0, clamp=self.conv_clamp)


class SynthesisBlock(nn.Cell):
    """One resolution: (up-conv,) conv, toRGB; the running image is upsampled and summed."""

    def __init__(self, cin: int, cout: int, w_dim: int, resolution: int, img_channels: int,
                 w_idx: int, noise_idx: int, conv_clamp=None):
        super().__init__()
        self.first = cin == 0
        self.w_idx, self.noise_idx = w_idx, noise_idx
        if self.first:
            self.const = Parameter(Tensor(randn((cout, resolution, resolution))), name="const")
            self.conv0 = None
            self.up_img = None
        else:
            self.conv0 = SynthesisLayer(cin, cout, w_dim, resolution, up=2, conv_clamp=conv_clamp)
            self.up_img = Upsample2d(img_channels)
        self.conv1 = SynthesisLayer(cout, cout, w_dim, resolution, conv_clamp=conv_clamp)
        self.torgb = ToRGBLayer(cout, img_channels, w_dim, conv_clamp=conv_clamp)
        self.num_conv = 1 if self.first else 2

    def construct(self, x, img, ws, noises, noise_mode: str):
        i, k = self.w_idx, self.noise_idx
        if self.first:
            x = ops.tile(self.const.expand_dims(0), (ws.shape[0], 1, 1, 1))
            x = self.conv1(x, ws[:, i], _pick(noises, k, noise_mode), noise_mode)
            return x, self.torgb(x, ws[:, i + 1])
        x = self.conv0(x, ws[:, i], _pick(noises, k, noise_mode), noise_mode)
        x = self.conv1(x, ws[:, i + 1], _pick(noises, k + 1, noise_mode), noise_mode)
        return x, self.up_img(img) + self.torgb(x, ws[:, i + 2])


def _pick(noises, k: int, noise_mode: str):
    if noise_mode == "input":
        return noises[k]
    return None


class SynthesisNetwork(nn.Cell):
    def __init__(self, cfg: StyleGAN2Config, resolution: int, img_channels: int):
        super().__init__()
        log2 = int(math.log2(resolution))
        resolutions = [2 ** i for i in range(2, log2 + 1)]
        blocks, w_idx, noise_idx, cin = [], 0, 0, 0
        self.noise_resolutions = []
        for res in resolutions:
            cout = channels_at(cfg, res)
            block = SynthesisBlock(cin, cout, cfg.w_dim, res, img_channels, w_idx, noise_idx,
                                   cfg.conv_clamp)
            blocks.append(block)
            w_idx += block.num_conv
            noise_idx += block.num_conv
            self.noise_resolutions += [res] * block.num_conv
            cin = cout
        self.b4 = blocks[0]
        self.blocks = nn.CellList(blocks[1:])
        self.num_ws = w_idx + 1          # the last toRGB needs its own w
        self.w_dim = cfg.w_dim

    def construct(self, ws, noises=(), noise_mode: str = "input"):
        x, img = self.b4(None, None, ws, noises, noise_mode)
        for block in self.blocks:
            x, img = block(x, img, ws, noises, noise_mode)
        return img


class Generator(nn.Cell):
    def __init__(self, cfg: StyleGAN2Config, resolution: int, channels: int, num_classes: int):
        super().__init__()
        self.z_dim, self.w_dim = cfg.z_dim, cfg.w_dim
        self.num_classes, self.resolution, self.channels = num_classes, resolution, channels
        self.synthesis = SynthesisNetwork(cfg, resolution, channels)
        self.num_ws = self.synthesis.num_ws
        self.mapping = MappingNetwork(cfg.z_dim, num_classes, cfg.w_dim, self.num_ws,
                                      cfg.mapping_layers)

    @property
    def w_avg(self):
        return self.mapping.w_avg

    def construct(self, z, c):
        return self.synthesis(self.mapping(z, c), (), "random")


class DiscriminatorBlock(nn.Cell):
    def __init__(self, cin: int, tmp: int, cout: int, img_channels: int, conv_clamp=None):
        super().__init__()
        self.first = cin == 0
        clamp = conv_clamp      # SG2A clamps every conv but the skip
        self.fromrgb = (EqualConv2d(img_channels, tmp, 1, activation="lrelu", conv_clamp=clamp)
                        if self.first else None)
        self.conv0 = EqualConv2d(tmp, tmp, 3, activation="lrelu", conv_clamp=clamp)
        self.conv1 = EqualConv2d(tmp, cout, 3, activation="lrelu", down=2, conv_clamp=clamp)
        self.skip = EqualConv2d(tmp, cout, 1, bias=False, down=2)

    def construct(self, x):
        if self.first:
            x = self.fromrgb(x)
        y = self.skip(x, math.sqrt(0.5))
        x = self.conv1(self.conv0(x), math.sqrt(0.5))
        return x + y


class DiscriminatorEpilogue(nn.Cell):
    def __init__(self, cin: int, cmap_dim: int, mbstd_group: int, conv_clamp=None):
        super().__init__()
        self.mbstd = MinibatchStd(mbstd_group, 1)
        self.conv = EqualConv2d(cin + 1, cin, 3, activation="lrelu", conv_clamp=conv_clamp)
        self.fc = EqualLinear(cin * 16, cin, activation="lrelu")
        self.out = EqualLinear(cin, cmap_dim if cmap_dim > 0 else 1)
        self.cmap_dim = cmap_dim

    def construct(self, x, cmap, passes: int = 1):
        x = self.conv(self.mbstd(x, passes))
        x = self.out(self.fc(x.reshape(x.shape[0], -1)))
        if self.cmap_dim > 0:
            return (x * cmap).sum(axis=1) * (1.0 / math.sqrt(self.cmap_dim))
        return x.reshape(-1)


class Discriminator(nn.Cell):
    """D(img, c) → raw logits of shape (B,)."""

    def __init__(self, cfg: StyleGAN2Config, resolution: int, channels: int, num_classes: int):
        super().__init__()
        self.num_classes, self.resolution = num_classes, resolution
        log2 = int(math.log2(resolution))
        blocks = []
        for res in [2 ** i for i in range(log2, 2, -1)]:
            cin = channels_at(cfg, res) if res < resolution else 0
            blocks.append(DiscriminatorBlock(cin, channels_at(cfg, res), channels_at(cfg, res // 2),
                                             channels, cfg.conv_clamp))
        self.blocks = nn.CellList(blocks)
        cmap_dim = channels_at(cfg, 4) if num_classes > 0 else 0
        # SG2A gives D's label mapping its default 8 layers (only G's depth is configurable).
        self.mapping = MappingNetwork(0, num_classes, cmap_dim, 0, 8) if num_classes > 0 else None
        self.epilogue = DiscriminatorEpilogue(channels_at(cfg, 4), cmap_dim, cfg.mbstd_group,
                                              cfg.conv_clamp)

    def construct(self, img, c, passes: int = 1):
        """``passes`` = 2: img is a fake and a real batch joined by ``sg2_layers.pair_batches``."""
        x = img
        for block in self.blocks:
            x = block(x)
        cmap = self.mapping(None, c) if self.num_classes > 0 else None
        return self.epilogue(x, cmap, passes)


def build(model_cfg: StyleGAN2Config, resolution: int, channels: int, num_classes: int):
    if resolution < 8 or resolution > 1024 or resolution & (resolution - 1):
        raise MsganError(f"StyleGAN2 resolution {resolution} is not a power of two in 8..1024 — "
                         "set data.resolution to one of 8, 16, ..., 1024")
    if channels_at(model_cfg, resolution) < 1:
        raise MsganError(f"model.channel_base {model_cfg.channel_base} leaves no channels at "
                         f"{resolution}x{resolution} — use channel_base >= {resolution}")
    return (Generator(model_cfg, resolution, channels, num_classes),
            Discriminator(model_cfg, resolution, channels, num_classes))


class _ExportG(nn.Cell):
    """G_ema as deployed: constant noise, truncation per sample, output clipped to [-1, 1]."""

    def __init__(self, G):
        super().__init__(auto_prefix=False)
        self.G = G

    def generate(self, z, c, psi):
        ws = self.G.mapping.truncate(self.G.mapping(z, c), psi)
        return ops.clamp(self.G.synthesis(ws, (), "const"), -1.0, 1.0)


class _ExportUnconditional(_ExportG):
    def construct(self, z, psi):
        return self.generate(z, ops.zeros((z.shape[0],), ms.int32), psi)


class _ExportConditional(_ExportG):
    def construct(self, z, c, psi):
        return self.generate(z, c, psi)


def export_net(G):
    """``construct(z, c, psi)`` (``construct(z, psi)`` when unconditional); deterministic."""
    net = _ExportConditional(G) if G.num_classes > 0 else _ExportUnconditional(G)
    net.set_train(False)
    return net
