"""SRGAN (Ledig et al. 2017): SRResNet generator and the SRGAN discriminator.

G maps a low-resolution image (B, C, R/scale, R/scale) to (B, C, R, R): a 9x9 conv + PReLU,
``n_blocks`` residual blocks (conv3-BN-PReLU-conv3-BN + skip), conv3-BN + a long skip, log2(scale)
x2 upsampling blocks (conv3 to 4x channels, pixel shuffle, PReLU) and a 9x9 conv + tanh. It is
fully convolutional, so a trained G super-resolves images of any size.

D follows the paper's conv stack (k3n64s1, then seven conv3-BN-LeakyReLU(0.2) blocks of 64, 128,
128, 256, 256, 512, 512 channels with strides 2, 1, 2, 1, ...; widths scale with ``ndf``/64) but
global-average-pools before its dense layers where the paper flattens a 6x6 map of 96² crops:
that keeps D valid for every configured resolution. Its dense head is 16*ndf (1024 at ndf 64)
+ LeakyReLU + 1 logit.
"""
import math
from dataclasses import dataclass

from mindspore import nn, ops

from msgan.checks import choice, positive
from msgan.errors import MsganError
from msgan.models.config_base import ModelConfig
from msgan.ops.lowering import LeakyReLU

GENERATORS = ("G",)


@dataclass
class SRGANConfig(ModelConfig):
    """Ledig et al. 2017: SRResNet G (residual blocks, pixel shuffle), SRGAN D."""
    name: str = "srgan"
    scale: int = 4                   # 2 or 4
    n_blocks: int = 16
    ngf: int = 64
    ndf: int = 64
    content_loss: str = "mse"        # mse | vgg (needs vgg_checkpoint)
    vgg_checkpoint: str = ""         # MindSpore .ckpt of VGG19 (see docs/models.md)
    adv_weight: float = 0.001
    pretrain_kimg: float = 0.0       # SRResNet MSE-only pre-training before the GAN phase

    def validate(self, cfg) -> None:
        for key in ("ngf", "ndf"):
            positive(f"model.{key}", getattr(self, key))
        choice("model.scale", self.scale, (2, 4))
        positive("model.n_blocks", self.n_blocks)
        choice("model.content_loss", self.content_loss, ("mse", "vgg"))
        positive("model.adv_weight", self.adv_weight, allow_zero=True)
        positive("model.pretrain_kimg", self.pretrain_kimg, allow_zero=True)
        if self.content_loss == "vgg" and not self.vgg_checkpoint:
            raise MsganError("model.content_loss is vgg but model.vgg_checkpoint is empty — "
                             "give the path of a VGG19 .ckpt (see docs/models.md), or use "
                             "content_loss=mse")
        r = cfg.data.resolution
        if r // self.scale < 4:
            raise MsganError(f"config key data.resolution {r} is too small for scale "
                             f"{self.scale} — the input would be under 4 pixels")


def _conv(cin, cout, k, stride=1, bias=True):
    return nn.Conv2d(cin, cout, k, stride, pad_mode="pad", padding=k // 2, has_bias=bias)


class ResidualBlock(nn.Cell):
    def __init__(self, ch: int):
        super().__init__()
        # no conv bias before BatchNorm: BN's beta takes its place
        self.body = nn.SequentialCell([_conv(ch, ch, 3, bias=False), nn.BatchNorm2d(ch),
                                       nn.PReLU(ch), _conv(ch, ch, 3, bias=False),
                                       nn.BatchNorm2d(ch)])

    def construct(self, x):
        return x + self.body(x)


class UpsampleBlock(nn.Cell):
    """x2 by sub-pixel convolution (Shi et al. 2016). MindSpore's PixelShuffle is a reshape +
    transpose: it trains under jit and exports to ONNX Reshape/Transpose (checked)."""

    def __init__(self, ch: int):
        super().__init__()
        self.conv = _conv(ch, 4 * ch, 3)
        self.shuffle = nn.PixelShuffle(2)
        self.act = nn.PReLU(ch)

    def construct(self, x):
        return self.act(self.shuffle(self.conv(x)))


class Generator(nn.Cell):
    def __init__(self, cfg: SRGANConfig, resolution: int, channels: int):
        super().__init__()
        self.scale, self.resolution, self.channels = cfg.scale, resolution, channels
        ch = cfg.ngf
        self.head = nn.SequentialCell([_conv(channels, ch, 9), nn.PReLU(ch)])
        self.blocks = nn.SequentialCell([ResidualBlock(ch) for _ in range(cfg.n_blocks)])
        self.mid = nn.SequentialCell([_conv(ch, ch, 3, bias=False), nn.BatchNorm2d(ch)])
        self.up = nn.SequentialCell([UpsampleBlock(ch) for _ in range(int(math.log2(cfg.scale)))])
        self.tail = _conv(ch, channels, 9)
        self.tanh = nn.Tanh()

    def construct(self, x):
        h = self.head(x)
        h = h + self.mid(self.blocks(h))
        return self.tanh(self.tail(self.up(h)))


class Discriminator(nn.Cell):
    """construct(x (B, C, R, R)) -> logits (B,)."""

    def __init__(self, cfg: SRGANConfig, channels: int):
        super().__init__()
        w = cfg.ndf
        layers = [_conv(channels, w, 3), LeakyReLU(0.2)]
        cin = w
        for i, mult in enumerate((1, 2, 2, 4, 4, 8, 8)):
            layers += [_conv(cin, w * mult, 3, stride=2 if i % 2 == 0 else 1, bias=False),
                       nn.BatchNorm2d(w * mult), LeakyReLU(0.2)]
            cin = w * mult
        self.features = nn.SequentialCell(layers)
        self.head = nn.SequentialCell([nn.Dense(cin, 16 * w), LeakyReLU(0.2),
                                       nn.Dense(16 * w, 1)])

    def construct(self, x):
        h = ops.mean(self.features(x), (2, 3))
        return self.head(h).squeeze(1)


def check_config(cfg: SRGANConfig, resolution: int) -> None:
    if cfg.scale < 2 or cfg.scale & (cfg.scale - 1):
        raise MsganError(f"model.scale is {cfg.scale}; SRGAN upsamples by powers of two — "
                         "use model.scale=2 or 4")
    if resolution % cfg.scale:
        raise MsganError(f"data.resolution {resolution} is not divisible by model.scale "
                         f"{cfg.scale} — choose a resolution that is a multiple of the scale")


def generator(cfg: SRGANConfig, resolution: int, channels: int):
    check_config(cfg, resolution)
    return Generator(cfg, resolution, channels)


def build(cfg: SRGANConfig, resolution: int, channels: int) -> dict:
    """{"G", "D"}; ``resolution`` is G's output (high-resolution) size."""
    check_config(cfg, resolution)
    return {"G": Generator(cfg, resolution, channels), "D": Discriminator(cfg, channels)}


class _Export(nn.Cell):
    def __init__(self, G):
        super().__init__(auto_prefix=False)     # keep G's parameter names for later checkpoints
        self.G = G

    def construct(self, x):
        return self.G(x)


def export_net(G):
    """G as exported: ``construct(x low-res (B, C, R/scale, R/scale)) -> (B, C, R, R)``, eval."""
    net = _Export(G)
    net.set_train(False)
    return net
