"""``train.init_from``: a run that starts from another model's weights (fine-tuning).

A source is a converted model folder (``msgan convert``: meta.json + G.ckpt, D.ckpt, G_ema.ckpt
named as a freshly built net's parameters), a msgan snapshot (its state.ckpt) or a msgan run
folder (the snapshot ``snapshots.model_snapshot`` picks there: the one that wrote its Data/).
G, D and G_ema (with the mapping's w_avg) are copied in; the run itself starts at kimg 0 with
fresh optimizers, ADA p, path-length mean and statistics. ``train.resume`` wins: a resumed
fine-tune continues from its own snapshot.

The model's architecture keys are taken from the source (a config that does not match the
source is the first cause of garbage fine-tunes in SG2A, #279). What the target's data changes
is adapted so that the first images are the source's:
- classes added (unconditional source, class-folder target): G's mapping sees z and the class
  embedding; its first layer gets the source's z columns (rescaled: the equalised-LR gain is
  1/sqrt(fan_in)) and zero embedding columns, so G's function is the source's; G's embedding, D's
  label mapping and projection head start fresh.
- another number of classes: the embeddings start fresh, the rest is loaded.
- classes removed: the embedding is dropped (its mean contribution kept in the first layer's
  bias, so G draws what the source drew for an average class); D's head starts fresh.
- grey target from an RGB source: G's output rows become their luma combination, D's input
  weights their sum (a grey image seen as R=G=B gives the source's response); RGB target from a
  grey source: output rows copied, input weights divided by 3.
Values are copied with ``Parameter.copy_`` (graphs compiled before see them) and every name and
shape is checked here (``load_param_into_net`` matches stripped prefixes quietly).
"""
from __future__ import annotations

import dataclasses
import logging
import math
import os
import re

import numpy as np
import mindspore as ms

from msgan import io, snapshots
from msgan.config import Config
from msgan.errors import MsganError
from msgan.models import MODELS

log = logging.getLogger("msgan")

WHAT = ("pass a model folder made by msgan convert, a msgan run folder or one of its "
        "checkpoints/snapshot-* folders")
NETS = ("G", "D", "G_ema")
LUMA = np.array([0.299, 0.587, 0.114], np.float32)     # ITU-R BT.601, what PIL's "L" uses

# The keys that shape a model's parameters: taken from the source, never from the YAML.
# (conv_clamp only where msgan's StyleGAN2 has it; keys missing on either side are skipped.)
ARCH_KEYS = {
    "stylegan2": ("z_dim", "w_dim", "mapping_layers", "channel_base", "channel_max",
                  "conv_clamp", "mbstd_group"),
    "dcgan": ("z_dim", "z_dist", "ngf", "ndf", "upsample", "g_cond", "embed_dim",
              "minibatch_discrimination", "mbd_kernels", "mbd_kernel_dim", "spectral_norm"),
    "gan": ("z_dim", "z_dist", "g_hidden", "d_hidden", "embed_dim", "spectral_norm"),
}


@dataclasses.dataclass
class Source:
    given: str           # train.init_from as written
    kind: str            # converted | run | snapshot
    folder: str          # the folder holding meta.json and the weights
    meta: dict

    @property
    def kimg(self):
        """How long the source was trained (a converted model: as its pickle says, or None)."""
        if isinstance(self.meta.get("source"), dict):
            return self.meta["source"].get("kimg")
        return self.meta.get("kimg")

    def weights(self) -> dict:
        """{"G"|"D"|"G_ema": {parameter name as in a freshly built net: numpy array}}."""
        if self.kind == "converted":
            return {key: _read_net(os.path.join(self.folder, f"{key}.ckpt"), key) for key in NETS}
        saved = _read_ckpt(os.path.join(self.folder, "state.ckpt"))
        out = {key: {} for key in NETS}
        for name, value in saved.items():     # "<cell key>/<cell key>.<parameter name>"
            key, _, rest = name.partition("/")
            if key in out and rest.startswith(key + "."):
                out[key][rest[len(key) + 1:]] = value.asnumpy()
        for key in NETS:
            if not out[key]:
                raise MsganError(f"train.init_from: {self.folder}/state.ckpt holds no {key} — "
                                 f"{WHAT}")
        return out


def _read_ckpt(path: str) -> dict:
    if not os.path.isfile(path):
        raise MsganError(f"train.init_from: {path} is missing — {WHAT}")
    try:
        return ms.load_checkpoint(path)
    except Exception as e:
        raise MsganError(f"train.init_from: {path} is not a readable MindSpore checkpoint "
                         f"({io.one_line(e, 120)}) — {WHAT}") from None


def _read_net(path: str, key: str) -> dict:
    saved = {n: v.asnumpy() for n, v in _read_ckpt(path).items()}
    prefix = key + "."
    if saved and all(n.startswith(prefix) for n in saved):    # written with its holder's names
        saved = {n[len(prefix):]: v for n, v in saved.items()}
    return saved


# ----------------------------------------------------------------------------------------------
# Finding the source and taking its architecture

def open_source(path: str) -> Source:
    """The model at ``path``; one MsganError line when there is none."""
    if not os.path.exists(path):
        raise MsganError(f"train.init_from={path} does not exist — {WHAT}")
    if not os.path.isdir(path):
        if os.path.basename(path) in ("state.ckpt", "G_ema.ckpt", "G.ckpt", "meta.json"):
            path = os.path.dirname(os.path.abspath(path))
        else:
            raise MsganError(f"train.init_from={path} is a file — {WHAT}")
    if all(os.path.isfile(os.path.join(path, f)) for f in ("meta.json", "G.ckpt", "D.ckpt",
                                                           "G_ema.ckpt")):
        kind, folder = "converted", path
    else:
        # a snapshot as named, or the one ``msgan generate --model RUN`` uses (the snapshot
        # that wrote the run's Data/, else the newest intact one), checked against its
        # checksums with the training state it must also hold
        folder, why = snapshots.model_snapshot(path, ("meta.json", "state.ckpt"), skip=())
        if folder is None:
            raise MsganError(f"train.init_from={path} holds no model (meta.json with G.ckpt, "
                             "D.ckpt, G_ema.ckpt, or checkpoints/snapshot-*/state.ckpt) — "
                             f"{WHAT}")
        kind = "snapshot" if why == "named" else "run"
        if kind == "run":
            log.info("%s", snapshots.using_line(path, folder, why))
    meta = io.read_json(os.path.join(folder, "meta.json"), "meta.json of train.init_from", WHAT)
    if not isinstance(meta, dict) or "model" not in meta or "resolution" not in meta:
        raise MsganError(f"train.init_from: {folder}/meta.json does not describe a model — "
                         f"{WHAT}")
    return Source(path, kind, folder, meta)


def _model_cfg(meta: dict) -> dict:
    cfg = meta.get("model_cfg", meta.get("config", {}))
    if isinstance(cfg, dict) and isinstance(cfg.get("model"), dict):   # a whole run config
        cfg = cfg["model"]
    return cfg if isinstance(cfg, dict) else {}


def check_source(cfg: Config, meta: dict, given: str) -> None:
    """Same model family and resolution, else one line naming both sides."""
    name, src = cfg.model.name, meta.get("model")
    if src != name:
        raise MsganError(f"train.init_from={given} holds a {src} model, this run trains {name} "
                         f"— set model.name={src}, or start from a {name} model")
    res, src_res = cfg.data.resolution, int(meta["resolution"])
    if res != src_res:
        raise MsganError(f"train.init_from={given} is a {src_res}x{src_res} model, "
                         f"data.resolution is {res} — set data.resolution={src_res} (msgan does "
                         "not resize a model)")


def take_architecture(cfg: Config, meta: dict):
    """``cfg`` with the source's architecture keys, and [(key, ours, source's)] that differed."""
    src = _model_cfg(meta)
    fields = {f.name for f in dataclasses.fields(cfg.model)}
    changes, taken = [], {}
    for key in ARCH_KEYS.get(cfg.model.name, ()):
        if key not in fields or key not in src:
            continue
        value = src[key]
        if getattr(cfg.model, key) != value:
            changes.append((key, getattr(cfg.model, key), value))
            taken[key] = value
    if not taken:
        return cfg, []
    model = dataclasses.replace(cfg.model, **taken)
    out = dataclasses.replace(cfg, model=model)
    model.validate(out)
    return out, changes


def _show(value) -> str:
    return "auto" if value is None else str(value)


def prepare(cfg: Config):
    """``(cfg, source)``: the config with the source's architecture keys, and the source whose
    weights the run loads once the nets are built (None without train.init_from). A resumed
    fine-tune takes the same architecture and loads its own snapshot instead (run.Run._start)."""
    given = cfg.train.init_from
    if not given:
        return cfg, None
    if MODELS[cfg.model.name].task != "noise":
        raise MsganError(f"train.init_from works for gan, dcgan and stylegan2, not "
                         f"{cfg.model.name} — leave train.init_from empty")
    source = open_source(given)
    check_source(cfg, source.meta, given)
    cfg, changes = take_architecture(cfg, source.meta)
    if changes:
        log.info("taken from init_from: %s", ", ".join(
            f"model.{k} {_show(ours)} → {_show(theirs)}" for k, ours, theirs in changes))
    return cfg, source


# ----------------------------------------------------------------------------------------------
# Copying the weights in

class _Plan:
    """New values per target parameter, and what was fresh or adapted (labels for the log)."""

    def __init__(self):
        self.values, self.fresh, self.adapted = {}, [], []

    def note(self, kind: str, label: str):
        lst = self.fresh if kind == "fresh" else self.adapted
        if label not in lst:
            lst.append(label)


def _ctx(source: Source, phases, num_classes: int, channels: int) -> dict:
    meta, m = source.meta, phases.cfg.model
    return {"model": m.name, "cfg": m,
            "src_classes": int(meta.get("num_classes", len(meta.get("classes", [])))),
            "classes": num_classes,
            "src_channels": int(meta.get("channels", 3)), "channels": channels,
            "z_dim": int(m.z_dim), "w_dim": int(getattr(m, "w_dim", 0) or 0)}


def _channel_axis(src_shape, shape, c_src: int, c_dst: int):
    """The one axis on which a channel-dependent weight differs, and the size per channel."""
    if len(src_shape) != len(shape):
        return None
    diff = [i for i, (a, b) in enumerate(zip(src_shape, shape)) if a != b]
    if len(diff) != 1:
        return None
    ax = diff[0]
    if src_shape[ax] % c_src or shape[ax] % c_dst or src_shape[ax] // c_src != shape[ax] // c_dst:
        return None
    return ax, src_shape[ax] // c_src


def _regroup(value: np.ndarray, ax: int, c: int, fn) -> np.ndarray:
    """Apply ``fn`` to ``value`` seen as (c, rest) along axis ``ax`` (channel-major groups)."""
    moved = np.moveaxis(value, ax, 0)
    rest = moved.shape[1:]
    grouped = moved.reshape((c, -1) + rest)            # (c, per channel, ...)
    out = fn(grouped)
    return np.moveaxis(out.reshape((-1,) + rest), 0, ax)


def _image_out(value, ax, c_src, c_dst):
    """G's output rows: luma combination (RGB → grey) or copies (grey → RGB)."""
    if c_src == 3 and c_dst == 1:
        return _regroup(value, ax, 3, lambda g: np.tensordot(LUMA, g, axes=(0, 0))[None])
    return _regroup(value, ax, 1, lambda g: np.repeat(g, c_dst, axis=0))


def _image_in(value, ax, c_src, c_dst, gain_ratio):
    """D's input weights: summed (RGB → grey) or split in three (grey → RGB); ``gain_ratio`` is
    the source's run-time weight gain over the target's (equalised LR: 1/sqrt(fan_in))."""
    if c_src == 3 and c_dst == 1:
        out = _regroup(value, ax, 3, lambda g: g.sum(axis=0, keepdims=True))
    else:
        out = _regroup(value, ax, 1, lambda g: np.repeat(g / c_dst, c_dst, axis=0))
    return out * gain_ratio


# Per model: which parameters belong to the classes, to the image channels, to G's input.
def _is_class_param(model: str, net: str, name: str) -> bool:
    if model == "stylegan2":
        if net == "D":
            return name.startswith("mapping.") or name.startswith("epilogue.out.")
        return name.startswith("mapping.embed.")
    if net == "D":
        return name.startswith("embed.") or name.startswith("classifier.")
    return name.startswith("embed.")


def _image_side(ctx: dict, net: str, name: str):
    """"out" for G's image-producing weights, "in" for D's image-reading ones, else None."""
    model = ctx["model"]
    if model == "stylegan2":
        if net != "D" and re.search(r"(^|\.)torgb\.(conv\.weight|bias)$", name):
            return "out"
        if net == "D" and re.fullmatch(r"blocks\.0\.fromrgb\.weight", name):
            return "in"
        return None
    if net != "D":
        if model == "dcgan" and name.startswith("to_image."):
            return "out"
        if model == "gan" and re.fullmatch(r"net\.\d+\.(weight|bias)", name):
            last = 3 * len(ctx["cfg"].g_hidden)      # Dense, BatchNorm1d, ReLU per layer
            if name.startswith(f"net.{last}."):
                return "out"
        return None
    if re.fullmatch(r"features\.0\.(layer\.)?weight", name):
        return "in"
    return None


def _input_layer(model: str, name: str) -> bool:
    """G's first layer, whose input is z beside the class embedding."""
    return name in {"stylegan2": ("mapping.fcs.0.weight",), "dcgan": ("ups.0.0.weight",),
                    "gan": ("net.0.weight",)}.get(model, ())


def _adapt_input(value, shape, ctx, plan, label):
    """G's first layer when classes appear or disappear: z columns kept, embedding columns zero
    (added) or dropped (removed, their mean contribution folded into the bias where there is
    one). StyleGAN2's equalised LR divides by sqrt(fan_in) at run time: rescaled to match."""
    ax = [i for i, (a, b) in enumerate(zip(value.shape, shape)) if a != b]
    if len(value.shape) != len(shape) or len(ax) != 1:
        return None
    ax, z = ax[0], ctx["z_dim"]
    src_in, dst_in = value.shape[ax], shape[ax]
    scale = math.sqrt(dst_in / src_in) if ctx["model"] == "stylegan2" else 1.0
    if src_in == z and dst_in > z:                       # classes added
        out = np.zeros(shape, np.float32)
        idx = [slice(None)] * len(shape)
        idx[ax] = slice(0, z)
        out[tuple(idx)] = value * scale
        plan.note("adapted", f"{label} (z part loaded, class part zero: starts as the source)")
        return out
    if dst_in == z and src_in > z:                       # classes removed
        idx = [slice(None)] * len(shape)
        idx[ax] = slice(0, z)
        plan.note("adapted", f"{label} (class embedding dropped" + (
            ", its mean contribution kept in the bias)" if ctx["model"] == "stylegan2" else ")"))
        return value[tuple(idx)] * scale
    return None


def _stylegan2_folded_bias(net_src: dict, weight: np.ndarray, bias: np.ndarray, z: int,
                           lr_mul: float = 0.01) -> np.ndarray:
    """The first mapping layer's bias plus the mean over the source's classes of what their
    embedding added (SG2A mapping: normalised embedding, gain lr_mul/sqrt(fan_in))."""
    emb_w, emb_b = net_src["mapping.embed.weight"], net_src["mapping.embed.bias"]
    k = emb_w.shape[0]
    y = emb_w / math.sqrt(k) + emb_b
    y = y / np.sqrt((y * y).mean(axis=1, keepdims=True) + 1e-8)
    contrib = y @ (weight[:, z:] * (lr_mul / math.sqrt(weight.shape[1]))).T   # (k, out)
    return (bias + contrib.mean(axis=0) / lr_mul).astype(np.float32)


_CBN = re.compile(r"norms\.(\d+)\.(gamma|beta)\.embedding_table")
_CBN_BN = re.compile(r"norms\.(\d+)\.bn\.(moving_mean|moving_variance|gamma|beta)")
_BN = re.compile(r"norms\.(\d+)\.(moving_mean|moving_variance|gamma|beta)")


def _dcgan_norm(name, shape, src: dict, plan, label):
    """DCGAN's G with and without class BatchNorm (g_cond=cbn only has classes): plain BN's
    scale and shift become every class's (offsets from 1 and 0), per-class ones their mean."""
    m = _CBN.fullmatch(name)
    if m:
        i, what = m.groups()
        plain = src.get(f"norms.{i}.{what}")
        if plain is not None and plain.shape == shape[1:]:
            plan.note("adapted", f"{label}.norms (plain BatchNorm → per-class BatchNorm)")
            row = plain - 1.0 if what == "gamma" else plain
            return np.tile(row[None], (shape[0], 1)).astype(np.float32)
        rows = src.get(name)
        if rows is not None and rows.shape[1:] == shape[1:]:
            plan.note("adapted", f"{label}.norms (per-class scale/shift: each class starts at "
                      "the source classes' mean)")
            return np.tile(rows.mean(axis=0, keepdims=True), (shape[0], 1)).astype(np.float32)
        return None
    m = _CBN_BN.fullmatch(name)
    if m:
        i, what = m.groups()
        if what in ("gamma", "beta"):
            return None              # affine=False: fixed 1 and 0, kept
        return src.get(f"norms.{i}.{what}")
    m = _BN.fullmatch(name)
    if m:
        i, what = m.groups()
        if what in ("moving_mean", "moving_variance"):
            return src.get(f"norms.{i}.bn.{what}")
        rows = src.get(f"norms.{i}.{what}.embedding_table")
        if rows is None:
            return None
        plan.note("adapted", f"{label}.norms (per-class BatchNorm → plain, the classes' mean)")
        return (rows.mean(axis=0) + (1.0 if what == "gamma" else 0.0)).astype(np.float32)
    return None


def _plan_net(net: str, params: list, src: dict, ctx: dict, plan: _Plan, given: str):
    """Values for every parameter of one net (G, D or G_ema) from the source's ``src``."""
    model, label = ctx["model"], "G" if net == "G_ema" else net
    c_src, c_dst = ctx["src_channels"], ctx["channels"]
    classes_differ = ctx["src_classes"] != ctx["classes"]
    for p in params:
        name = p.name.split(".", 1)[1]       # without the holder's "G." / "D." / "G_ema."
        shape = tuple(p.shape)
        value = src.get(name)
        if value is not None and tuple(value.shape) == shape:
            plan.values[p.name] = value
            continue
        new = None
        if model == "dcgan" and ("norms." in name):
            new = _dcgan_norm(name, shape, src, plan, label)
            if new is None and _CBN_BN.fullmatch(name) and name.rsplit(".", 1)[1] in ("gamma",
                                                                                      "beta"):
                continue                     # BatchNorm without affine: its fixed 1 and 0
        if new is None and value is not None and _input_layer(model, name) and classes_differ:
            new = _adapt_input(value, shape, ctx, plan, f"{label}.{name.rsplit('.', 1)[0]}")
        if new is None and value is not None and c_src != c_dst:
            side = _image_side(ctx, net, name)
            found = _channel_axis(value.shape, shape, c_src, c_dst) if side else None
            if found:
                ax, _ = found
                if side == "out":
                    new = _image_out(value, ax, c_src, c_dst)
                else:                # equalised LR: gain 1/sqrt(channels * k * k)
                    ratio = math.sqrt(c_dst / c_src) if model == "stylegan2" else 1.0
                    new = _image_in(value, ax, c_src, c_dst, ratio)
                plan.note("adapted", _channels_label(c_src, c_dst))
        if new is None and _is_class_param(model, net, name):
            plan.note("fresh", f"{label}.{_class_group(model, net, name, src)}")
            continue                         # keeps its initial value (G_ema: G's)
        if new is None:
            if value is None:
                raise MsganError(f"train.init_from={given} has no value for {label}.{name} — "
                                 "it was made by another msgan version or model variant; start "
                                 "from a model of this version")
            raise MsganError(f"train.init_from={given}: {label}.{name} has shape "
                             f"{tuple(value.shape)} in the source, this model needs {shape} — "
                             "make the model's config match the source's")
        plan.values[p.name] = np.asarray(new, np.float32)


def _channels_label(c_src: int, c_dst: int) -> str:
    if c_src == 3:
        return ("RGB source, grey target: G's toRGB rows → their luma 0.299/0.587/0.114, D's "
                "fromRGB → the sum of its R, G, B weights")
    return ("grey source, RGB target: G's toRGB row copied to R, G and B, D's fromRGB → its "
            "grey weights / 3 per channel")


def _class_group(model: str, net: str, name: str, src: dict) -> str:
    if (model == "stylegan2" and net == "D" and name.startswith("mapping.")
            and not any(n.startswith("mapping.") for n in src)):
        return "mapping (label mapping)"
    if model == "stylegan2" and name.startswith("epilogue.out."):
        return "epilogue.out (projection head)"
    return name.rsplit(".", 1)[0].rsplit(".embedding_table", 1)[0]


def load(phases, source: Source, classes, channels: int) -> dict:
    """Copy ``source``'s G, D and G_ema into the phases' nets (``classes``: the target's class
    names, empty when unconditional); returns what stats.jsonl records."""
    cells = phases.state_cells()
    ctx = _ctx(source, phases, len(classes), channels)
    saved = source.weights()
    plan = _Plan()
    for net in NETS:
        _plan_net(net, list(cells[net].get_parameters()), saved[net], ctx, plan, source.given)
    if ctx["model"] == "stylegan2" and ctx["src_classes"] > 0 and ctx["classes"] == 0:
        for net in ("G", "G_ema"):      # the dropped classes' mean contribution (see module doc)
            bname = f"{net}.mapping.fcs.0.bias"
            src = saved[net]
            plan.values[bname] = _stylegan2_folded_bias(
                src, src["mapping.fcs.0.weight"], src["mapping.fcs.0.bias"], ctx["z_dim"])
    for net in NETS:                     # all checked: now copy
        for p in cells[net].get_parameters():
            if p.name in plan.values:
                p.copy_(ms.Tensor(np.array(plan.values[p.name], np.float32), p.dtype))
    src_names = [str(c) for c in source.meta.get("classes") or []]
    if classes and len(classes) == len(src_names) and list(classes) != src_names:
        plan.adapted.append(f"class embeddings taken by position ({', '.join(src_names)} → "
                            f"{', '.join(classes)})")
    info = {"path": os.path.abspath(source.given), "kind": source.kind,
            "snapshot": source.folder if source.kind == "run" else None,
            "source_kimg": source.kimg, "fresh": plan.fresh, "adapted": plan.adapted}
    return info


def describe(info: dict) -> str:
    """One line for the log and the report."""
    kimg = info.get("source_kimg")
    where = info["path"] + (f" ({os.path.basename(info['snapshot'])})" if info.get("snapshot")
                            else "")
    kind = {"converted": "converted model"}.get(info["kind"], info["kind"])
    text = f"{where}, a {kind}" + (f" at {kimg:g} kimg" if isinstance(kimg, (int, float))
                                   else "")
    if info.get("fresh"):
        text += "; fresh: " + ", ".join(info["fresh"])
    if info.get("adapted"):
        text += "; adapted: " + ", ".join(info["adapted"])
    return text
