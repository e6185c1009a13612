"""A trained generator as a function of numpy arrays, from a Cell, a snapshot, MindIR or ONNX.

Every backend runs fixed-size batches of ``meta["batch"]`` rows (what an export was traced
with) and returns uint8 images; ``Sampler.run`` pads the last batch and keeps the real rows.
The ``meta`` is the one a snapshot's meta.json or an export's ``.json`` sidecar holds; for
image-to-image models, one generator's meta (``generator_meta``).
"""
from __future__ import annotations

import glob
import logging
import os

import mindspore as ms
import numpy as np

from msgan import io, snapshots
from msgan.errors import MsganError
from msgan.models import MODELS

log = logging.getLogger("msgan")

WHAT_TO_PASS = ("pass a checkpoint folder (checkpoints/snapshot-*), a run output folder, "
                "a .mindir or an .onnx export with its .json next to it")
NOISE_SNAPSHOT = ("meta.json", "G_ema.ckpt")     # what a noise model's snapshot must hold


def to_uint8(images: np.ndarray) -> np.ndarray:
    """Float images in [-1, 1] (any shape) → uint8 0..255, rounded; values outside the range
    are clipped and NaN (a diverged generator) becomes 0, like -1: NumPy leaves the uint8 of a
    NaN undefined, and a black pixel is what the image writers and grids then show."""
    a = np.nan_to_num(np.asarray(images, dtype=np.float32), nan=-1.0)
    return np.clip(np.rint((a + 1.0) * 127.5), 0, 255).astype(np.uint8)


def pad(a: np.ndarray, batch: int) -> np.ndarray:
    """``a`` with zero rows appended up to ``batch`` rows (contiguous, for the backends)."""
    if len(a) == batch:
        return np.ascontiguousarray(a)
    filler = np.zeros((batch - len(a),) + a.shape[1:], a.dtype)
    return np.concatenate([a, filler])


# ----------------------------------------------------------------------------------------------
# Samplers: meta + run_batch(arrays); __call__(z, c, psi) -> uint8 (n, C, R, R) for any n

class Sampler:
    meta: dict

    def __call__(self, z: np.ndarray, c: np.ndarray | None = None, psi: float = 1.0) -> np.ndarray:
        """Images of a noise-to-image generator for latents ``z`` and class labels ``c``."""
        meta = self.meta
        z_dim = int(meta["z_dim"])
        z = np.asarray(z, np.float32)
        n = len(z)
        if z.ndim != 2 or z.shape[1] != z_dim:
            raise ValueError(f"z must have shape (n, {z_dim}), got {z.shape}")
        c = np.zeros(n, np.int32) if c is None else np.asarray(c, np.int32).reshape(-1)
        if len(c) != n:
            raise ValueError(f"c has {len(c)} labels for {n} latents")
        num_classes = int(meta.get("num_classes", 0))
        if "c" in meta["inputs"] and n and (c.min() < 0 or c.max() >= num_classes):
            raise ValueError(f"class labels must lie in [0, {num_classes}), "
                             f"got {c.min()}..{c.max()}")
        return self.run({"z": z, "c": c, "psi": np.full((n,), psi, np.float32)})

    def run(self, inputs: dict) -> np.ndarray:
        """uint8 (n, C, R, R) for ``inputs`` {name: n rows}, in batches of ``meta["batch"]``."""
        meta = self.meta
        batch = int(meta["batch"])
        n = len(next(iter(inputs.values())))
        out = np.empty((n, int(meta["channels"]), int(meta["resolution"]),
                        int(meta["resolution"])), np.uint8)
        for start in range(0, n, batch):
            k = min(batch, n - start)
            images = self.run_batch([pad(inputs[name][start:start + k], batch)
                                     for name in meta["inputs"]])
            out[start:start + k] = to_uint8(np.asarray(images)[:k])
        return out

    def run_batch(self, arrays: list[np.ndarray]) -> np.ndarray:
        """The model on one batch of ``meta["batch"]`` rows, inputs in ``meta["inputs"]`` order."""
        raise NotImplementedError


class CellSampler(Sampler):
    """A MindSpore Cell (a model's ``export_net``), run in eval mode through one compiled graph."""

    def __init__(self, net, meta: dict):
        self.meta = dict(meta)
        self.net = net
        # Eval mode before the first call: a compiled graph keeps the BatchNorm mode it first saw.
        net.set_train(False)

        @ms.jit
        def run(*args):
            return net(*args)

        self._compiled = run

    def run_batch(self, arrays):
        return self._compiled(*[ms.Tensor(a) for a in arrays]).asnumpy()


def _load_export(path: str, kind: str, load):
    """``load(path)``, or one clear line when the file is not a loadable ``kind`` export."""
    try:
        return load(path)
    except Exception as e:
        raise MsganError(f"{path} could not be loaded as {kind} ({io.one_line(e)}) — "
                         f"{WHAT_TO_PASS}") from None


class MindIRSampler(Sampler):
    def __init__(self, path: str):
        self.meta = read_sidecar(path)
        self.graph = _load_export(path, "MindIR", lambda p: ms.nn.GraphCell(ms.load(p)))

    def run_batch(self, arrays):
        return self.graph(*[ms.Tensor(a) for a in arrays]).asnumpy()


class OnnxSampler(Sampler):
    def __init__(self, path: str):
        import onnxruntime as ort   # optional: only ONNX users need it

        self.meta = read_sidecar(path)
        self.session = _load_export(path, "ONNX", lambda p: ort.InferenceSession(
            p, providers=["CPUExecutionProvider"]))
        self.input_names = [i.name for i in self.session.get_inputs()]
        if len(self.input_names) != len(self.meta["inputs"]):
            raise MsganError(f"{path} takes inputs {self.input_names} but its .json lists "
                             f"{self.meta['inputs']} — re-export the model with msgan export")

    def run_batch(self, arrays):
        return self.session.run(None, dict(zip(self.input_names, arrays)))[0]


class CheckpointSampler(CellSampler):
    """A generator rebuilt from a snapshot's meta.json with its trained weights: G_ema, or
    generator ``only`` (default: the first) of an image-to-image model."""

    def __init__(self, path: str, only: str = ""):
        _, G, meta = load_generators(path, only)[0]
        super().__init__(MODELS[meta["model"]].export_net(G), meta)


def open_export(path: str) -> Sampler:
    """The sampler of a .mindir or .onnx export (its ``.json`` sidecar next to it)."""
    ext = os.path.splitext(path)[1].lower()
    if ext == ".mindir":
        return MindIRSampler(path)
    if ext == ".onnx":
        return OnnxSampler(path)
    raise MsganError(f"{path} has an unknown model type {ext or '(no extension)'!r} — "
                     f"{WHAT_TO_PASS}")


# ----------------------------------------------------------------------------------------------
# Descriptions: meta.json and export sidecars

def read_meta(path: str, what: str) -> dict:
    """The model description at ``path`` (a snapshot's meta.json or an export's sidecar)."""
    meta = io.read_json(path, what, WHAT_TO_PASS)
    needed = ("resolution", "channels", "batch", "inputs")
    if isinstance(meta, dict) and meta.get("task") != "translate":
        needed = ("z_dim",) + needed
    if not isinstance(meta, dict) or any(k not in meta for k in needed):
        raise MsganError(f"{path} lacks the model description ({', '.join(needed)}) — "
                         f"{WHAT_TO_PASS}")
    return meta


def read_sidecar(path: str) -> dict:
    return read_meta(os.path.splitext(path)[0] + ".json", f"sidecar .json of {path}")


def generator_meta(meta: dict, name: str) -> dict:
    """The meta of generator ``name`` of an image-to-image run's meta (its export sidecar)."""
    g = dict(meta)
    g["generator"] = name
    g["domains"] = meta.get("domains", {}).get(name, ["A", "B"])
    return g


def newest_export(folder: str) -> str | None:
    """The most recently written export with its sidecar; MindIR before ONNX for the same stem."""
    found = []
    for rank, ext in enumerate((".onnx", ".mindir")):
        for f in glob.glob(os.path.join(folder, "*" + ext)):
            if os.path.isfile(os.path.splitext(f)[0] + ".json"):
                found.append((os.path.getmtime(f), rank, f))
    return max(found)[2] if found else None


# ----------------------------------------------------------------------------------------------
# Generators from snapshots

def build_generator(meta: dict):
    """A freshly built generator (untrained weights) of the model a meta describes: G of a
    noise-to-image model, or one generator of an image-to-image model (all are alike)."""
    name = meta.get("model")
    if name not in MODELS:
        raise MsganError(f"checkpoint model {name!r} is unknown — this msgan knows "
                         f"{', '.join(MODELS)}; use the msgan version that trained it")
    spec = MODELS[name]
    try:
        cfg = spec.config(**meta.get("model_cfg", {}))
    except TypeError as e:
        raise MsganError(f"checkpoint model_cfg does not fit {name} ({e}) — use the msgan "
                         "version that trained it") from None
    resolution, channels = int(meta["resolution"]), int(meta["channels"])
    if spec.task == "translate":
        return spec.generator(cfg, resolution, channels)
    G, _ = spec.build(cfg, resolution, channels, int(meta.get("num_classes", 0)))
    return G


def snapshot_generators(meta: dict) -> list:
    """The generators a snapshot holds weights for, each in ``<name>.ckpt``: G_ema of a
    noise-to-image model, every generator (G_AB, G_BA, ...) of an image-to-image model."""
    return list(meta.get("generators", [])) if meta.get("task") == "translate" else ["G_ema"]


def resolve_snapshot(path: str, required: tuple = ("meta.json",)) -> str | None:
    """The snapshot folder ``path`` stands for (msgan.snapshots.model_snapshot: a run folder is
    the snapshot that wrote its Data/), checked against its checksums; one line says which
    when ``path`` is not a snapshot itself. None when ``path`` holds no snapshot."""
    snap, why = snapshots.model_snapshot(path, required)
    if snap is not None and why != "named":
        log.info("%s", snapshots.using_line(path, snap, why))
    return snap


def load_generators(path: str, only: str = "") -> list:
    """[(name, generator Cell with its trained weights, its meta)] of a snapshot folder or of
    the snapshot a run folder stands for (``resolve_snapshot``); ``only`` keeps one generator
    (e.g. G_BA). The meta names the snapshot (``snapshot``), for export sidecars."""
    if not os.path.isdir(path):
        raise MsganError(f"{path} is not a folder — pass a checkpoints/snapshot-* folder or a "
                         "run output folder")
    snap = resolve_snapshot(path)
    if snap is None:
        raise MsganError(f"{path} holds no snapshot (snapshot-*/meta.json + weights) — pass a "
                         "checkpoints/snapshot-* folder or a run output folder")
    meta = read_meta(os.path.join(snap, "meta.json"), "meta.json of the checkpoint")
    meta["snapshot"] = os.path.basename(os.path.abspath(snap))
    names = snapshot_generators(meta)
    if only and only not in names:
        raise MsganError(f"generator {only!r} is not in this model — it has {', '.join(names)}")
    out = []
    for name in [only] if only else names:
        net = build_generator(meta)
        load_generator_weights(net, os.path.join(snap, f"{name}.ckpt"))
        out.append((name, net, generator_meta(meta, name) if meta.get("task") == "translate"
                    else meta))
    return out


def load_generator_weights(G, ckpt_path: str) -> None:
    """Copy every G parameter from the checkpoint, checking names and shapes ourselves.

    ``load_param_into_net`` quietly matches stripped prefixes and aliases the loaded dict, so it
    is not used. Names must equal G's, or all carry one common prefix (e.g. ``G_ema.``).
    """
    if not os.path.isfile(ckpt_path):
        raise MsganError(f"{ckpt_path} does not exist — {WHAT_TO_PASS}")
    try:
        saved = ms.load_checkpoint(ckpt_path)
    except Exception as e:
        raise MsganError(f"{ckpt_path} is not a readable MindSpore checkpoint "
                         f"({io.one_line(e)}) — {WHAT_TO_PASS}") from None
    params = list(G.get_parameters())
    prefix = _common_prefix([p.name for p in params], saved)
    if prefix is None:
        missing = [p.name for p in params if p.name not in saved][:3]
        raise MsganError(f"{ckpt_path} does not hold every generator parameter (missing e.g. "
                         f"{missing}) — pass the G_ema.ckpt written with this model's meta.json")
    for p in params:
        value = saved[prefix + p.name].asnumpy()
        if tuple(value.shape) != tuple(p.shape):
            raise MsganError(f"{ckpt_path}: parameter {p.name} has shape {tuple(value.shape)}, "
                             f"the model built from meta.json needs {tuple(p.shape)} — pass the "
                             "checkpoint that belongs to this meta.json")
        p.set_data(ms.Tensor(value, dtype=p.dtype))


def _common_prefix(names: list[str], saved: dict) -> str | None:
    if all(n in saved for n in names):
        return ""
    first = names[0]
    candidates = {k[:-len(first)] for k in saved if k.endswith("." + first)}
    fits = [c for c in candidates if all(c + n in saved for n in names)]
    return fits[0] if len(fits) == 1 else None
