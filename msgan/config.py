"""Run configuration: nested dataclasses loaded from YAML plus dotted ``key=value`` overrides.

Every YAML key is a dataclass field and a CLI override path (``train.total_kimg=1``). Unknown keys
and wrong types are errors naming the key, so a typo never silently trains the wrong model.
This module is a leaf: it imports nothing from msgan except the error type.
"""
from __future__ import annotations

import dataclasses
import math
import typing
from dataclasses import dataclass, field
from typing import List, Optional, Union

import yaml

from msgan.errors import MsganError


# ----------------------------------------------------------------------------------------------
# Model sections. `model.name` picks one of these; its other keys are checked against it.

@dataclass
class ClassicGANConfig:
    """Keys shared by the classic GANs, with the small-data options (benchmarks/RESULTS.md has
    the measurements behind the defaults)."""
    name: str = ""
    z_dim: int = 100
    label_smoothing: float = 1.0     # target for real labels in D's BCE; 0.9 = one-sided smoothing
    instance_noise: float = 0.0      # initial std of Gaussian noise on D's inputs, linear decay to 0
    d_dropout: float = 0.0
    z_dist: str = "gaussian"         # gaussian | uniform
    embed_dim: int = 32              # label embedding size when the data has classes
    augment: str = "diffaug"         # none | diffaug (DiffAugment) | ada (SG2A's pipe + p control)
    augment_p: Optional[float] = None  # diffaug: chance per image (auto 1); ada: initial p (auto 0)
    ada_target: float = 0.6
    ada_interval: int = 4
    ada_kimg: float = 20.0           # kimg for p to move from 0 to 1 (SG2A: 500, for long runs)
    loss: str = "bce"                # bce (non-saturating) | hinge
    spectral_norm: bool = False      # spectral normalisation of D's weights
    r1_gamma: float = 0.0            # zero-centred R1 on reals (0 = off)
    r1_interval: int = 16            # lazy R1: every this many steps, scaled to match


@dataclass
class MLPGANConfig(ClassicGANConfig):
    """Classic fully connected GAN (Goodfellow et al. 2014, with BatchNorm in G)."""
    name: str = "gan"
    d_dropout: float = 0.3
    g_hidden: List[int] = field(default_factory=lambda: [256, 512, 1024])
    d_hidden: List[int] = field(default_factory=lambda: [512, 256])


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


@dataclass
class StyleGAN2Config:
    """StyleGAN2-ADA (Karras et al. 2020). ``None`` means SG2A's ``auto`` value."""
    name: str = "stylegan2"
    z_dim: int = 512
    w_dim: int = 512
    mapping_layers: int = 2
    channel_base: int = 16384
    channel_max: int = 512
    mbstd_group: int = 4
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


# Image-to-image models. `data.resolution` is the size of the generator's output (for SRGAN: the
# high-resolution crop; the input is resolution / scale).

@dataclass
class Pix2PixConfig:
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


@dataclass
class CycleGANConfig:
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


@dataclass
class DiscoGANConfig:
    """Kim et al. 2017: encoder-decoder G_AB/G_BA and conv D_A/D_B, GAN + reconstruction."""
    name: str = "discogan"
    ngf: int = 64
    ndf: int = 64
    lambda_recon: float = 1.0
    recon_loss: str = "mse"          # mse (the paper's code) | l1
    lambda_feature: float = 0.9      # weight of D feature matching vs the GAN loss (paper code)


@dataclass
class SRGANConfig:
    """Ledig et al. 2017: SRResNet G (residual blocks, pixel shuffle), SRGAN D."""
    name: str = "srgan"
    scale: int = 4                   # 2 or 4
    n_blocks: int = 16
    ngf: int = 64
    ndf: int = 64
    content_loss: str = "mse"        # mse | vgg (needs vgg_checkpoint)
    vgg_checkpoint: str = ""         # MindSpore .ckpt of VGG19 (see README)
    adv_weight: float = 0.001
    pretrain_kimg: float = 0.0       # SRResNet MSE-only pre-training before the GAN phase


MODEL_CONFIGS = {"gan": MLPGANConfig, "dcgan": DCGANConfig, "stylegan2": StyleGAN2Config,
                 "pix2pix": Pix2PixConfig, "cyclegan": CycleGANConfig,
                 "discogan": DiscoGANConfig, "srgan": SRGANConfig}
ModelConfig = Union[MLPGANConfig, DCGANConfig, StyleGAN2Config, Pix2PixConfig, CycleGANConfig,
                    DiscoGANConfig, SRGANConfig]
TRANSLATION_MODELS = ("pix2pix", "cyclegan", "discogan", "srgan")

# Resolutions each model can be built at (powers of two).
RESOLUTION_RANGE = {"gan": (4, 256), "dcgan": (32, 256), "stylegan2": (8, 1024),
                    "pix2pix": (16, 1024), "cyclegan": (16, 1024), "discogan": (16, 256),
                    "srgan": (16, 1024)}


# ----------------------------------------------------------------------------------------------

@dataclass
class DataConfig:
    path: str = "builtin:digits"     # a folder, or builtin:digits (embedded demo data)
    resolution: int = 32
    channels: int = 3                # 1 (greyscale) or 3 (RGB); every image is converted
    do_validation: bool = True
    resize: str = "crop"             # crop | pad | stretch, for non-square images
    mirror: bool = False             # random horizontal flips of the reals (off as in SG2A: a
                                     # flip changes digits, text, arrows, oriented defects)
    sampling: str = "balanced"       # balanced (every class equally often) | uniform (per image)
    min_size: int = 8                # images whose shorter side is below this are skipped
    direction: str = "AtoB"          # image-to-image: AtoB | BtoA (which side is the input)
    load_size: Optional[int] = None  # image-to-image: load at this size, random-crop resolution
    holdout: float = 0.1             # image-to-image without a test split: fraction held out


@dataclass
class OptimizerConfig:
    lr: float = 0.0002
    betas: List[float] = field(default_factory=lambda: [0.5, 0.999])
    eps: float = 1e-8


@dataclass
class TrainConfig:
    batch_size: int = 64
    total_kimg: float = 10.0         # images shown to D = total_kimg * 1000
    seed: int = 0
    tick_kimg: Optional[float] = None       # stats line every tick; auto: total_kimg / 50
    snapshot_kimg: Optional[float] = None   # samples + checkpoint + exports; auto: total_kimg / 5
    resume: str = ""                 # "" | auto | PATH of a checkpoint
    G_opt: OptimizerConfig = field(default_factory=OptimizerConfig)
    D_opt: OptimizerConfig = field(default_factory=OptimizerConfig)
    ema_kimg: Optional[float] = None        # G_ema half-life; auto: batch_size * 10 / 32
    ema_rampup: Optional[float] = None      # half-life <= kimg * ema_rampup early on (SG2A: 0.05)
    export: List[str] = field(default_factory=lambda: ["mindir", "onnx"])
    jit_level: str = "O0"
    progress: bool = True
    amp: str = "O0"                  # O0 (fp32) | O2 | O3: mixed precision with loss scaling
    rollback_after: int = 20         # this many skipped (non-finite) updates in a row → reload
                                     # the last good snapshot with lower lr; 0 = never
    rollback_lr_factor: float = 0.5


@dataclass
class GenerateConfig:
    generate_num: int = 300          # per class when the input has class folders
    predict: bool = False            # skip training, generate from `resume`
    resume: str = ""                 # model for predict mode: checkpoint, .mindir or .onnx
    truncation: float = 1.0
    seed: int = 0
    batch_size: int = 32
    format: str = "png"              # png | jpg
    balance: bool = False            # per class, generate up to the largest class's count
    target_per_class: Optional[int] = None   # with balance: fill every class up to this
    use_snapshot: str = "best"       # best (lowest KID) | last: which snapshot the end uses
    min_class_images: int = 10       # classes with fewer reals get no generated images (0 = all)


@dataclass
class MetricsConfig:
    extractor: str = "classifier"    # classifier (trained on your reals) | inception | none
    inception_checkpoint: str = ""   # MindSpore .ckpt of the FID InceptionV3 (see README)
    kid_images: int = 500            # generated images scored per snapshot
    classifier_epochs: int = 30
    benefit_check: bool = True       # at the end: do the generated images help a classifier?


@dataclass
class Config:
    model: ModelConfig = field(default_factory=DCGANConfig)
    data: DataConfig = field(default_factory=DataConfig)
    train: TrainConfig = field(default_factory=TrainConfig)
    generate: GenerateConfig = field(default_factory=GenerateConfig)
    metrics: MetricsConfig = field(default_factory=MetricsConfig)
    output_dir: str = "runs/msgan"
    device_target: str = "auto"      # auto | Ascend | GPU | CPU


# ----------------------------------------------------------------------------------------------
# Loading

def load_config(path: Optional[str] = None, overrides: Optional[List[str]] = None) -> Config:
    """Read YAML at ``path`` (or start from defaults), apply ``key=value`` overrides, validate."""
    raw: dict = {}
    if path is not None:
        try:
            with open(path, encoding="utf-8") as f:
                raw = yaml.safe_load(f)
        except FileNotFoundError:
            raise MsganError(f"config file {path} does not exist — pass the path of a YAML file "
                             "such as configs/dcgan_digits.yaml") from None
        except IsADirectoryError:
            raise MsganError(f"config path {path} is a folder — pass a YAML file") from None
        except yaml.YAMLError as e:
            where = getattr(e, "problem_mark", None)
            at = f" at line {where.line + 1}, column {where.column + 1}" if where else ""
            raise MsganError(f"config {path} is not valid YAML{at} — fix the syntax "
                             f"({getattr(e, 'problem', None) or 'parse error'})") from None
        except UnicodeDecodeError:
            raise MsganError(f"config {path} is not a UTF-8 text file — pass a YAML file") from None
        if raw is None:
            raw = {}
        if not isinstance(raw, dict):
            raise MsganError(f"config {path} must be a mapping of sections (model:, data:, "
                             f"train:, ...), not a {type(raw).__name__}")
    for item in overrides or []:
        _apply_override(raw, item)
    cfg = _build(Config, raw, "")
    validate(cfg)
    return cfg


def _apply_override(raw: dict, item: str) -> None:
    key, sep, value = item.partition("=")
    if not sep or not key.strip():
        raise MsganError(f"override {item!r} is not KEY=VALUE — write e.g. train.total_kimg=1")
    try:
        parsed = yaml.safe_load(value) if value.strip() else ""
    except yaml.YAMLError:
        parsed = value
    parts = key.strip().split(".")
    node = raw
    for p in parts[:-1]:
        nxt = node.get(p)
        if nxt is None:
            nxt = node[p] = {}
        if not isinstance(nxt, dict):
            raise MsganError(f"override {key}: {p} is not a section")
        node = nxt
    node[parts[-1]] = parsed


def _build(cls, raw, where: str):
    if raw is None:
        raw = {}
    if not isinstance(raw, dict):
        raise MsganError(f"config key {where.rstrip('.') or 'top level'} must be a mapping, "
                         f"got {raw!r}")
    if cls is Config and "model" in raw:
        model_raw = raw["model"] or {}
        if not isinstance(model_raw, dict):
            raise MsganError(f"config key model must be a mapping with a name, got {model_raw!r}")
        name = model_raw.get("name", "dcgan")
        if name not in MODEL_CONFIGS:
            raise MsganError(f"config key model.name: unknown model {name!r} — use one of "
                             f"{', '.join(MODEL_CONFIGS)}")
    hints = typing.get_type_hints(cls)
    names = {f.name for f in dataclasses.fields(cls)}
    unknown = sorted(set(raw) - names)
    if unknown:
        raise MsganError(f"unknown config key {where}{unknown[0]} — valid keys here: "
                         f"{', '.join(sorted(names))}")
    kwargs = {}
    for key, value in raw.items():
        path = where + key
        tp = hints[key]
        if cls is Config and key == "model":
            tp = MODEL_CONFIGS[(value or {}).get("name", "dcgan")]
        kwargs[key] = _convert(tp, value, path)
    return cls(**kwargs)


def _convert(tp, value, path: str):
    origin = typing.get_origin(tp)
    if dataclasses.is_dataclass(tp):
        return _build(tp, value, path + ".")
    if origin is Union:
        args = [a for a in typing.get_args(tp) if a is not type(None)]
        if value is None:
            return None
        return _convert(args[0], value, path)
    if origin in (list, List):
        (item_tp,) = typing.get_args(tp)
        if not isinstance(value, list):
            raise MsganError(f"config key {path} must be a list, got {value!r}")
        return [_convert(item_tp, v, f"{path}[{i}]") for i, v in enumerate(value)]
    if tp is bool:
        if not isinstance(value, bool):
            raise MsganError(f"config key {path} must be true or false, got {value!r}")
        return value
    if tp is int:
        if isinstance(value, bool) or not isinstance(value, int):
            raise MsganError(f"config key {path} must be an integer, got {value!r}")
        return value
    if tp is float:
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise MsganError(f"config key {path} must be a number, got {value!r}")
        if not math.isfinite(value):
            raise MsganError(f"config key {path} must be a finite number, got {value!r}")
        return float(value)
    if tp is str:
        if not isinstance(value, str):
            raise MsganError(f"config key {path} must be a string, got {value!r}")
        return value
    raise TypeError(f"unsupported config type {tp} at {path}")


def _choice(path: str, value, choices) -> None:
    if value not in choices:
        raise MsganError(f"config key {path} is {value!r} — use one of {', '.join(map(str, choices))}")


def _positive(path: str, value, allow_zero: bool = False) -> None:
    if value is not None and (value < 0 or (value == 0 and not allow_zero)):
        raise MsganError(f"config key {path} must be {'>= 0' if allow_zero else '> 0'}, "
                         f"got {value}")


def validate(cfg: Config) -> None:
    """Range and consistency checks that types alone cannot express."""
    d, t, g, m = cfg.data, cfg.train, cfg.generate, cfg.model
    lo, hi = RESOLUTION_RANGE[m.name]
    r = d.resolution
    if r <= 0 or r & (r - 1) or not lo <= r <= hi:
        raise MsganError(f"config key data.resolution is {r} — {m.name} needs a power of two "
                         f"from {lo} to {hi}")
    _choice("data.channels", d.channels, (1, 3))
    _choice("data.resize", d.resize, ("crop", "pad", "stretch"))
    _choice("data.sampling", d.sampling, ("balanced", "uniform"))
    _positive("data.min_size", d.min_size)
    _choice("device_target", cfg.device_target, ("auto", "Ascend", "GPU", "CPU"))
    _positive("train.batch_size", t.batch_size)
    if t.batch_size > 4096:
        raise MsganError(f"config key train.batch_size is {t.batch_size} — use at most 4096")
    _positive("train.total_kimg", t.total_kimg)
    _positive("train.tick_kimg", t.tick_kimg)
    _positive("train.snapshot_kimg", t.snapshot_kimg)
    _positive("train.ema_kimg", t.ema_kimg, allow_zero=True)
    _positive("train.ema_rampup", t.ema_rampup, allow_zero=True)
    _choice("train.jit_level", t.jit_level, ("O0", "O1"))
    for fmt in t.export:
        _choice("train.export[]", fmt, ("mindir", "onnx"))
    for which, opt in (("G_opt", t.G_opt), ("D_opt", t.D_opt)):
        _positive(f"train.{which}.lr", opt.lr)
        if len(opt.betas) != 2 or not all(0.0 <= b < 1.0 for b in opt.betas):
            raise MsganError(f"config key train.{which}.betas must be two numbers in [0, 1), "
                             f"got {opt.betas}")
        _positive(f"train.{which}.eps", opt.eps)
    _positive("generate.generate_num", g.generate_num, allow_zero=True)
    _positive("generate.batch_size", g.batch_size)
    _choice("generate.format", g.format, ("png", "jpg"))
    _choice("generate.use_snapshot", g.use_snapshot, ("best", "last"))
    _positive("generate.target_per_class", g.target_per_class)
    _positive("generate.min_class_images", g.min_class_images, allow_zero=True)
    mt = cfg.metrics
    _choice("metrics.extractor", mt.extractor, ("classifier", "inception", "none"))
    _positive("metrics.kid_images", mt.kid_images)
    _positive("metrics.classifier_epochs", mt.classifier_epochs)
    if mt.extractor == "inception" and not mt.inception_checkpoint:
        raise MsganError("metrics.extractor is inception but metrics.inception_checkpoint is "
                         "empty — give the path of the converted FID Inception .ckpt, or use "
                         "metrics.extractor=classifier")
    if not 0.0 <= g.truncation <= 2.0:
        raise MsganError(f"config key generate.truncation is {g.truncation} — use 0..2 (1 = off)")
    if g.predict and not g.resume:
        raise MsganError("generate.predict is true but generate.resume is empty — set "
                         "generate.resume to a checkpoint, .mindir or .onnx file")
    if not cfg.output_dir:
        raise MsganError("config key output_dir is empty — set a folder for the results")
    if m.name in ("gan", "dcgan"):
        _choice("model.z_dist", m.z_dist, ("gaussian", "uniform"))
        _positive("model.z_dim", m.z_dim)
        _positive("model.embed_dim", m.embed_dim)
        if not 0.5 <= m.label_smoothing <= 1.0:
            raise MsganError(f"config key model.label_smoothing is {m.label_smoothing} — use a "
                             "target in [0.5, 1] (1 = off, 0.9 is typical)")
        _positive("model.instance_noise", m.instance_noise, allow_zero=True)
        if not 0.0 <= m.d_dropout < 1.0:
            raise MsganError(f"config key model.d_dropout is {m.d_dropout} — use 0 <= p < 1")
        _choice("model.augment", m.augment, ("none", "diffaug", "ada"))
        _choice("model.loss", m.loss, ("bce", "hinge"))
        if m.augment_p is not None and not 0.0 <= m.augment_p <= 1.0:
            raise MsganError(f"config key model.augment_p is {m.augment_p} — use 0..1")
        if not 0.0 < m.ada_target < 1.0:
            raise MsganError(f"config key model.ada_target is {m.ada_target} — use 0 < t < 1")
        for key in ("ada_interval", "ada_kimg", "r1_interval"):
            _positive(f"model.{key}", getattr(m, key))
        _positive("model.r1_gamma", m.r1_gamma, allow_zero=True)
        if m.loss == "hinge" and m.label_smoothing != 1.0:
            raise MsganError("model.label_smoothing only applies to loss=bce — set "
                             "model.label_smoothing=1.0 or model.loss=bce")
    if m.name == "gan":
        for key in ("g_hidden", "d_hidden"):
            if not getattr(m, key) or min(getattr(m, key)) <= 0:
                raise MsganError(f"config key model.{key} must be a non-empty list of positive "
                                 "layer widths")
    if m.name == "dcgan":
        _positive("model.ngf", m.ngf)
        _positive("model.ndf", m.ndf)     # None (auto) passes
        _choice("model.upsample", m.upsample, ("deconv", "resize_conv"))
        _positive("model.mbd_kernels", m.mbd_kernels)
        _positive("model.mbd_kernel_dim", m.mbd_kernel_dim)
    _choice("data.direction", d.direction, ("AtoB", "BtoA"))
    if d.load_size is not None and d.load_size < r:
        raise MsganError(f"config key data.load_size is {d.load_size} — it must be at least "
                         f"data.resolution ({r}), or empty for no random crop")
    if not 0.0 < d.holdout < 1.0:
        raise MsganError(f"config key data.holdout is {d.holdout} — use a fraction in (0, 1)")
    _choice("train.amp", t.amp, ("O0", "O2", "O3"))
    _positive("train.rollback_after", t.rollback_after, allow_zero=True)
    if not 0.0 < t.rollback_lr_factor < 1.0:
        raise MsganError(f"config key train.rollback_lr_factor is {t.rollback_lr_factor} — "
                         "use 0 < factor < 1")
    if m.name in TRANSLATION_MODELS:
        for key in ("ngf", "ndf"):
            _positive(f"model.{key}", getattr(m, key))
    if m.name in ("pix2pix", "cyclegan"):
        _choice("model.norm", m.norm, ("batch", "instance"))
        _choice("model.gan_mode", m.gan_mode, ("vanilla", "lsgan"))
        _positive("model.d_layers", m.d_layers)
    if m.name == "pix2pix":
        _positive("model.lambda_l1", m.lambda_l1, allow_zero=True)
        if not 0.0 <= m.dropout < 1.0:
            raise MsganError(f"config key model.dropout is {m.dropout} — use 0 <= p < 1")
        _positive("model.decay_start_kimg", m.decay_start_kimg, allow_zero=True)
    if m.name == "cyclegan":
        _positive("model.n_blocks", m.n_blocks)
        _positive("model.lambda_cycle", m.lambda_cycle, allow_zero=True)
        _positive("model.lambda_identity", m.lambda_identity, allow_zero=True)
        _positive("model.pool_size", m.pool_size, allow_zero=True)
        _positive("model.decay_start_kimg", m.decay_start_kimg, allow_zero=True)
    if m.name == "discogan":
        _choice("model.recon_loss", m.recon_loss, ("mse", "l1"))
        _positive("model.lambda_recon", m.lambda_recon, allow_zero=True)
        if not 0.0 <= m.lambda_feature <= 1.0:
            raise MsganError(f"config key model.lambda_feature is {m.lambda_feature} — use 0..1")
    if m.name == "srgan":
        _choice("model.scale", m.scale, (2, 4))
        _positive("model.n_blocks", m.n_blocks)
        _choice("model.content_loss", m.content_loss, ("mse", "vgg"))
        _positive("model.adv_weight", m.adv_weight, allow_zero=True)
        _positive("model.pretrain_kimg", m.pretrain_kimg, allow_zero=True)
        if m.content_loss == "vgg" and not m.vgg_checkpoint:
            raise MsganError("model.content_loss is vgg but model.vgg_checkpoint is empty — give "
                             "the path of a VGG19 .ckpt (see README), or use content_loss=mse")
        if r // m.scale < 4:
            raise MsganError(f"config key data.resolution {r} is too small for scale "
                             f"{m.scale} — the input would be under 4 pixels")
    if m.name == "stylegan2":
        _choice("model.augment", m.augment, ("ada", "fixed", "diffaug", "none", "noaug"))
        for key in ("z_dim", "w_dim", "channel_base", "channel_max", "r1_interval",
                    "pl_interval", "ada_interval", "ada_kimg"):
            _positive(f"model.{key}", getattr(m, key))
        _positive("model.mapping_layers", m.mapping_layers)
        _positive("model.r1_gamma", m.r1_gamma, allow_zero=True)
        _positive("model.pl_weight", m.pl_weight, allow_zero=True)
        if not 0.0 <= m.augment_p <= 1.0 or not 0.0 < m.ada_p_max <= 1.0:
            raise MsganError("config keys model.augment_p and model.ada_p_max must lie in [0, 1]")
        if not 0.0 < m.ada_target < 1.0:
            raise MsganError(f"config key model.ada_target is {m.ada_target} — use 0 < t < 1")
        if not 0.0 <= m.style_mixing <= 1.0:
            raise MsganError(f"config key model.style_mixing is {m.style_mixing} — use 0..1")


def to_dict(cfg) -> dict:
    return dataclasses.asdict(cfg)


# Keys whose null means "auto": how each resolves (as the code that uses it computes it, see
# loop.Run, phases.ema_beta, losses.r1_gamma, translate_phases) and the value.
AUTO_VALUES = {
    ("train", "tick_kimg"): ("total_kimg / 50", lambda c: max(c.train.total_kimg / 50, 0.001)),
    ("train", "snapshot_kimg"): ("total_kimg / 5", lambda c: c.train.total_kimg / 5),
    ("train", "ema_kimg"): ("batch_size * 10 / 32", lambda c: c.train.batch_size * 10 / 32),
    ("train", "ema_rampup"): ("SG2A's 0.05", lambda c: 0.05),
    ("model", "r1_gamma"): ("0.0002 * resolution^2 / batch_size",
                            lambda c: 0.0002 * c.data.resolution ** 2 / c.train.batch_size),
    ("model", "decay_start_kimg"): ("total_kimg / 2", lambda c: c.train.total_kimg / 2),
    ("model", "augment_p"): ("1 for diffaug, 0 (then adaptive) for ada",
                             lambda c: 0.0 if c.model.augment == "ada" else 1.0),
}


def resolve_auto_values(cfg: Config) -> dict:
    """{(section, key): (value, how)} for every key of ``cfg`` left at auto (None)."""
    out = {}
    for (section, key), (how, value) in AUTO_VALUES.items():
        if getattr(getattr(cfg, section), key, 0) is None:
            out[(section, key)] = (value(cfg), how)
    return out


def dump_config(cfg: Config, path: str) -> None:
    """The resolved config: auto keys hold the value the run used, marked ``# auto: how``."""
    from msgan.io import write_text

    data, auto = to_dict(cfg), resolve_auto_values(cfg)
    for (section, key), (value, _) in auto.items():
        data[section][key] = value
    lines, section = [], None
    for line in yaml.safe_dump(data, sort_keys=False).splitlines():
        if not line.startswith(" "):
            section = line.split(":")[0]
        elif not line.startswith("   ") and (section, line.strip().split(":")[0]) in auto:
            line += f"  # auto: {auto[(section, line.strip().split(':')[0])][1]}"
        lines.append(line)
    write_text(path, "\n".join(lines) + "\n")
