"""Run configuration: nested dataclasses loaded from YAML plus dotted ``key=value`` overrides.

Every YAML key is a dataclass field and a CLI override path (``train.total_kimg=1``). Unknown keys
and wrong types are errors naming the key, so a typo never silently trains the wrong model.
The run's sections (data, train, generate, metrics) live here; the ``model:`` section is the
Config dataclass of the model named by ``model.name`` in msgan.models.MODELS, which also gives
its resolution range and its own checks.
"""
from __future__ import annotations

import dataclasses
import difflib
import math
import typing
from dataclasses import dataclass, field
from typing import List, Optional, Union

import yaml

from msgan.checks import choice, positive
from msgan.errors import MsganError
from msgan.models import MODELS
from msgan.models.config_base import ModelConfig

DEFAULT_MODEL = "dcgan"

# The ModelArts StyleGAN operator's flat parameter names (DESIGN.md), accepted at the top level
# (YAML or KEY=VALUE) and moved to the section that holds them. ``resume`` is the model of predict
# mode there (generate.resume); without predict it can only mean continuing training.
FLAT_KEYS = {"resolution": "data.resolution", "do_validation": "data.do_validation",
             "batch_size": "train.batch_size", "total_kimg": "train.total_kimg",
             "generate_num": "generate.generate_num", "predict": "generate.predict",
             "resume": "generate.resume"}


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
    preload_limit_gib: float = 8.0   # decoded images up to this size are held in memory; above
                                     # it they are decoded once to OUT/cache and read from disk
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
    init_from: str = ""              # fine-tune: start from a converted model, a msgan run or
                                     # snapshot (weights only; kimg 0, fresh optimizers, ADA p 0)
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
    batch_size: Optional[int] = None   # export batch, fixed in the exported graphs; auto:
                                     # min(32, train.batch_size), 4 for image-to-image
    format: str = "png"              # png | jpg
    balance: Union[bool, str] = "auto"   # true: only classes smaller than the largest get images,
                                     # up to its count (at most generate_num each); auto: true
                                     # for an imbalanced folder (largest >= 2x smallest), else false
    target_per_class: Optional[int] = None   # with balance: fill every class up to this
    use_snapshot: str = "best"       # best (lowest KID) | last: which snapshot the end uses
    min_class_images: int = 10       # classes with fewer reals get no generated images (0 = all)
    filter: str = "classifier"       # classifier: keep an image only if a classifier of the reals
                                     # sees its class in it (runs with 2+ classes) | none
    filter_tries: int = 4            # with filter: at most this many candidates per image asked
    filter_confidence: float = 0.0   # with filter: also refuse an image the classifier gives its
                                     # class less than this probability (0 = its top class is enough)
    min_diversity: float = 0.0       # with filter: no images for a class whose kept images vary
                                     # less than this times its reals (G collapsed on it; 0 = off;
                                     # below 0.5 the run warns either way)


@dataclass
class MetricsConfig:
    extractor: str = "classifier"    # classifier (trained on your reals) | inception | none
    inception_checkpoint: str = ""   # MindSpore .ckpt of the FID InceptionV3 (see docs/evaluate.md)
    kid_images: int = 500            # generated images scored per snapshot
    classifier_epochs: int = 30
    benefit_check: bool = True       # at the end: do the generated images help a classifier?
    benefit_heldout: str = ""        # reals of the same classes the GAN never trains on (e.g.
                                     # your validation folder): the check judges on them instead
                                     # of a split of data.path, whose reals G was trained on


@dataclass
class Config:
    model: ModelConfig = field(default_factory=lambda: MODELS[DEFAULT_MODEL].config())
    data: DataConfig = field(default_factory=DataConfig)
    train: TrainConfig = field(default_factory=TrainConfig)
    generate: GenerateConfig = field(default_factory=GenerateConfig)
    metrics: MetricsConfig = field(default_factory=MetricsConfig)
    output_dir: str = "runs/msgan"
    device_target: str = "auto"      # auto | Ascend | GPU | CPU


def key_listing(width: int = 92) -> str:
    """Every run section's keys, for ``msgan train --help`` (the model: section's keys depend
    on model.name: its configs/<model>.yaml lists them)."""
    import textwrap
    lines = []
    for f in dataclasses.fields(Config):
        if f.name == "model":
            lines += textwrap.wrap("name (" + ", ".join(MODELS) + ") and the model's own "
                                   "keys, listed in configs/<name>.yaml", width,
                                   initial_indent="  model:    ", subsequent_indent=" " * 12)
            continue
        if not dataclasses.is_dataclass(f.default_factory if f.default_factory is not
                                         dataclasses.MISSING else None):
            lines.append(f"  {f.name}")
            continue
        keys = ", ".join(g.name for g in dataclasses.fields(f.default_factory))
        lines += textwrap.wrap(keys, width, initial_indent=f"  {f.name + ':':9} ",
                               subsequent_indent=" " * 12)
    return "\n".join(lines)


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
    _move_flat_keys(raw)
    flat = {}                       # the operator's flat names on the command line win, as
    for item in overrides or []:    # every override does
        key = item.partition("=")[0].strip()
        _apply_override(flat if key in FLAT_KEYS else raw, item)
    _move_flat_keys(raw, flat)
    cfg = _build(Config, raw, "")
    validate(cfg)
    return cfg


# What ``train.resume=auto`` into a folder that holds a run may change on the command line: how
# long it trains, and what is made and measured at the end (generate.*, metrics.*); every other
# key (model, data, optimiser, seed, ...) keeps the value in the run's config.yaml, which its
# snapshots were trained with.
RESUME_MAY_CHANGE = ("train.total_kimg", "train.resume", "train.progress", "train.export",
                     "train.snapshot_kimg", "train.tick_kimg", "output_dir", "device_target",
                     "generate.", "metrics.")


def _may_change(key: str) -> bool:
    return any(key == k or (k.endswith(".") and key.startswith(k)) for k in RESUME_MAY_CHANGE)


def continue_run(cfg: Config, path: Optional[str], overrides: Optional[List[str]]):
    """``cfg`` (loaded from ``path`` + ``overrides``, train.resume=auto) as the run in its
    output_dir continues it: (config, notes). The run's own config.yaml is the base; keys of
    RESUME_MAY_CHANGE given as overrides apply (notes: "changed"), every other key given in
    ``path`` or ``overrides`` that differs from the run's is left as the run had it (notes:
    "kept", {key: (given, run's)}). (cfg, None) when output_dir holds no snapshot yet: a fresh
    start takes the config as given."""
    import os

    from msgan.io import list_snapshots
    run = os.path.abspath(cfg.output_dir)
    run_yaml = os.path.join(run, "config.yaml")
    if not (os.path.isfile(run_yaml) and list_snapshots(os.path.join(run, "checkpoints"))):
        return cfg, None
    try:
        base = load_config(run_yaml)
    except MsganError as e:
        raise MsganError(f"cannot continue {run}: its config.yaml does not load ({e})") from None
    from_file = _given_paths(_read_yaml(path) if path else {})
    from_cli = _given_paths(_overrides_raw(overrides))
    new, old = _flatten(to_dict(cfg)), _flatten(to_dict(base))
    changed, kept = {}, {}
    for key in sorted(from_file | from_cli):
        if key not in new or new[key] is None or _same(key, new[key], old.get(key)) or \
                key in ("train.resume", "output_dir"):      # how it continues, not what
            continue
        if _may_change(key) and key in from_cli:
            changed[key] = (old.get(key), new[key])
        elif not _may_change(key):
            kept[key] = (new[key], old.get(key))
    raw = to_dict(base)
    for key, (_, value) in changed.items():
        section, _, leaf = key.rpartition(".")
        (raw[section] if section else raw)[leaf] = value
    raw["train"]["resume"], raw["output_dir"] = "auto", run
    out = _build(Config, raw, "")
    validate(out)
    return out, {"run_config": run_yaml, "changed": changed, "kept": kept}


def _read_yaml(path: str) -> dict:
    with open(path, encoding="utf-8") as f:     # load_config read it a moment ago
        raw = yaml.safe_load(f)
    return raw if isinstance(raw, dict) else {}


def _overrides_raw(overrides) -> dict:
    raw, flat = {}, {}
    for item in overrides or []:
        key = item.partition("=")[0].strip()
        _apply_override(flat if key in FLAT_KEYS else raw, item)
    _move_flat_keys(raw, flat)
    return raw


def _given_paths(raw: dict) -> set:
    """The dotted keys a YAML mapping (or the overrides) set; flat operator names mapped."""
    raw = dict(raw)
    _move_flat_keys(raw)
    return set(_flatten(raw))


def _flatten(d: dict, where: str = "") -> dict:
    out = {}
    for key, value in d.items():
        if isinstance(value, dict):
            out.update(_flatten(value, f"{where}{key}."))
        else:
            out[where + key] = value
    return out


def _same(key: str, a, b) -> bool:
    """Equal, or (data.path) the same folder written relative and absolute."""
    if a == b:
        return True
    if key == "data.path" and isinstance(a, str) and isinstance(b, str) and \
            not a.startswith("builtin:"):
        import os
        return os.path.abspath(a) == os.path.abspath(b)
    return False


def model_config(name: str, values: dict) -> ModelConfig:
    """The ``model:`` section of model ``name`` from a dict (a snapshot's or export's
    ``model_cfg``), with the same checks of keys and types as a YAML's."""
    return _build(MODELS[name].config, {**values, "name": name}, "model.")


def _move_flat_keys(raw: dict, given: dict | None = None) -> None:
    """The operator's flat names (FLAT_KEYS) at the top of ``raw`` into their sections (the same
    key given both ways with two values is an error naming both); those in ``given`` (overrides)
    replace what their section holds."""
    given = {} if given is None else given
    flat = {k: raw.pop(k) for k in list(raw) if k in FLAT_KEYS}
    generate = raw.get("generate") if isinstance(raw.get("generate"), dict) else {}
    predict = given.get("predict", flat.get("predict", generate.get("predict")))
    for key, value in [*flat.items(), *given.items()]:
        target = FLAT_KEYS[key]
        if key == "resume" and predict is not True:
            target = "train.resume"
        section, leaf = target.split(".")
        node = raw.get(section)
        if node is None:
            node = raw[section] = {}
        if not isinstance(node, dict):
            raise MsganError(f"config key {section} must be a mapping, got {node!r}")
        if key in flat and key not in given and leaf in node and node[leaf] != value:
            raise MsganError(f"config key {key} (the operator's name for {target}) is {value!r} "
                             f"but {target} is {node[leaf]!r} — give one of the two")
        node[leaf] = value


def _did_you_mean(where: str, key: str, names) -> str:
    """' — did you mean X?' for a misspelt key: a close name in its section, else a section
    that holds a key of that name or a close one (``seed`` → ``train.seed``)."""
    close = difflib.get_close_matches(key, sorted(names), n=1, cutoff=0.75)
    if close:
        return f"did you mean {where}{close[0]}? "
    if not where:
        leaves = {f"{f.name}.{g.name}": g.name for f in dataclasses.fields(Config)
                  if isinstance(f.default_factory, type) and dataclasses.is_dataclass(
                      f.default_factory) for g in dataclasses.fields(f.default_factory)}
        hits = [path for path, leaf in leaves.items() if leaf == key] or \
            [path for path, leaf in leaves.items()
             if difflib.get_close_matches(key, [leaf], n=1, cutoff=0.8)]
        if hits:
            return f"did you mean {' or '.join(sorted(hits)[:2])}? "
    return ""


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
        name = model_raw.get("name", DEFAULT_MODEL)
        if name not in MODELS:
            raise MsganError(f"config key model.name: unknown model {name!r} — use one of "
                             f"{', '.join(MODELS)}")
    hints = typing.get_type_hints(cls)
    names = {f.name for f in dataclasses.fields(cls)}
    unknown = sorted(set(raw) - names)
    if unknown:
        hint = _did_you_mean(where, str(unknown[0]), names)
        raise MsganError(f"unknown config key {where}{unknown[0]} — {hint}valid keys here: "
                         f"{', '.join(sorted(names))}")
    kwargs = {}
    for key, value in raw.items():
        path = where + key
        tp = hints[key]
        if cls is Config and key == "model":
            tp = MODELS[(value or {}).get("name", DEFAULT_MODEL)].config
        kwargs[key] = _convert(tp, value, path)
    return cls(**kwargs)


def _convert(tp, value, path: str):
    origin = typing.get_origin(tp)
    if dataclasses.is_dataclass(tp):
        return _build(tp, value, path + ".")
    if origin is Union:
        args = [a for a in typing.get_args(tp) if a is not type(None)]
        if value is None and len(args) < len(typing.get_args(tp)):
            return None
        for a in args[:-1]:             # e.g. Union[bool, str]: true/false, else a word
            try:
                return _convert(a, value, path)
            except MsganError:
                pass
        return _convert(args[-1], value, path)
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
        if isinstance(value, str):   # PyYAML (YAML 1.1) reads 2e-4, without a dot, as a string
            try:
                value = float(value)
            except ValueError:
                pass
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


def validate(cfg: Config) -> None:
    """Range and consistency checks that types alone cannot express."""
    d, t, g, m = cfg.data, cfg.train, cfg.generate, cfg.model
    lo, hi = MODELS[m.name].resolution
    r = d.resolution
    if r <= 0 or r & (r - 1) or not lo <= r <= hi:
        raise MsganError(f"config key data.resolution is {r} — {m.name} needs a power of two "
                         f"from {lo} to {hi}")
    choice("data.channels", d.channels, (1, 3))
    choice("data.resize", d.resize, ("crop", "pad", "stretch"))
    choice("data.sampling", d.sampling, ("balanced", "uniform"))
    positive("data.min_size", d.min_size)
    positive("data.preload_limit_gib", d.preload_limit_gib, allow_zero=True)
    choice("device_target", cfg.device_target, ("auto", "Ascend", "GPU", "CPU"))
    positive("train.batch_size", t.batch_size)
    if t.batch_size > 4096:
        raise MsganError(f"config key train.batch_size is {t.batch_size} — use at most 4096")
    positive("train.total_kimg", t.total_kimg)
    positive("train.tick_kimg", t.tick_kimg)
    positive("train.snapshot_kimg", t.snapshot_kimg)
    positive("train.ema_kimg", t.ema_kimg, allow_zero=True)
    positive("train.ema_rampup", t.ema_rampup, allow_zero=True)
    choice("train.jit_level", t.jit_level, ("O0", "O1"))
    for fmt in t.export:
        choice("train.export[]", fmt, ("mindir", "onnx"))
    for which, opt in (("G_opt", t.G_opt), ("D_opt", t.D_opt)):
        positive(f"train.{which}.lr", opt.lr)
        if len(opt.betas) != 2 or not all(0.0 <= b < 1.0 for b in opt.betas):
            raise MsganError(f"config key train.{which}.betas must be two numbers in [0, 1), "
                             f"got {opt.betas}")
        positive(f"train.{which}.eps", opt.eps)
    positive("generate.generate_num", g.generate_num, allow_zero=True)
    positive("generate.batch_size", g.batch_size)
    choice("generate.format", g.format, ("png", "jpg"))
    choice("generate.use_snapshot", g.use_snapshot, ("best", "last"))
    positive("generate.target_per_class", g.target_per_class)
    if not isinstance(g.balance, bool) and g.balance != "auto":
        raise MsganError(f"config key generate.balance is {g.balance!r} — use auto, true or false")
    positive("generate.min_class_images", g.min_class_images, allow_zero=True)
    choice("generate.filter", g.filter, ("classifier", "none"))
    positive("generate.filter_tries", g.filter_tries)
    if not 0.0 <= g.filter_confidence < 1.0:
        raise MsganError(f"config key generate.filter_confidence is {g.filter_confidence} — use 0 "
                         "(the classifier's top class is enough) up to below 1, e.g. 0.9")
    if not 0.0 <= g.min_diversity < 1.0:
        raise MsganError(f"config key generate.min_diversity is {g.min_diversity} — use 0 (off) "
                         "up to below 1, e.g. 0.5")
    mt = cfg.metrics
    choice("metrics.extractor", mt.extractor, ("classifier", "inception", "none"))
    positive("metrics.kid_images", mt.kid_images)
    positive("metrics.classifier_epochs", mt.classifier_epochs)
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
    choice("data.direction", d.direction, ("AtoB", "BtoA"))
    if d.load_size is not None and d.load_size < r:
        raise MsganError(f"config key data.load_size is {d.load_size} — it must be at least "
                         f"data.resolution ({r}), or empty for no random crop")
    if not 0.0 < d.holdout < 1.0:
        raise MsganError(f"config key data.holdout is {d.holdout} — use a fraction in (0, 1)")
    choice("train.amp", t.amp, ("O0", "O2", "O3"))
    positive("train.rollback_after", t.rollback_after, allow_zero=True)
    if not 0.0 < t.rollback_lr_factor < 1.0:
        raise MsganError(f"config key train.rollback_lr_factor is {t.rollback_lr_factor} — "
                         "use 0 < factor < 1")
    m.validate(cfg)


def to_dict(cfg) -> dict:
    return dataclasses.asdict(cfg)


# Keys whose null means "auto": how each resolves (as the code that uses it computes it, see
# train.run.Run, phases.base.ema_beta, losses.r1_gamma, the translation phases) and the value.
AUTO_VALUES = {
    ("train", "tick_kimg"): ("total_kimg / 50", lambda c: max(c.train.total_kimg / 50, 0.001)),
    ("train", "snapshot_kimg"): ("total_kimg / 5", lambda c: c.train.total_kimg / 5),
    ("train", "ema_kimg"): ("batch_size * 10 / 32", lambda c: c.train.batch_size * 10 / 32),
    ("train", "ema_rampup"): ("SG2A's 0.05", lambda c: 0.05),
    ("generate", "batch_size"): ("min(32, train.batch_size); 4 for image-to-image",
                                 lambda c: export_batch(c)),
    ("model", "r1_gamma"): ("0.0002 * resolution^2 / batch_size",
                            lambda c: 0.0002 * c.data.resolution ** 2 / c.train.batch_size),
    ("model", "decay_start_kimg"): ("total_kimg / 2", lambda c: c.train.total_kimg / 2),
    ("model", "augment_p"): ("1 for diffaug, 0 (then adaptive) for ada",
                             lambda c: 0.0 if c.model.augment == "ada" else 1.0),
}


def export_batch(cfg: Config) -> int:
    """The batch the generator graphs are traced with: ``generate.batch_size`` when given, else
    at most a training step's (at 256² a batch-32 G_ema graph needed more memory than the
    batch-8 training step and ran a 24 GB host out of memory), and 4 for image-to-image."""
    if cfg.generate.batch_size is not None:
        return cfg.generate.batch_size
    if MODELS[cfg.model.name].task == "translate":
        return 4
    return min(32, cfg.train.batch_size)


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
