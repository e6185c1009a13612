"""Images from a trained generator (checkpoint, MindIR or ONNX) and the manifest that lists them.

Every image has its own seed, in its file name: ``<class>_<seed>.png`` (``seed<seed>.png``
without classes). Each class gets seeds S, S+1, ..., S+n-1; the latent comes from
``RandomState(seed)`` and the class goes into the generator's class input, so
``--class C --seed S --num 1`` regenerates exactly the file ``C_S`` (like NVlabs ``--seeds``).
"""
from __future__ import annotations

import glob
import json
import logging
import os
import re

import numpy as np

from msgan.inference import generated
from msgan.errors import MsganError

log = logging.getLogger("msgan")

_WHAT_TO_PASS = ("pass a checkpoint folder (checkpoints/snapshot-*), a run output folder, "
                 "a .mindir or an .onnx export with its .json next to it")


# ----------------------------------------------------------------------------------------------
# Latents and pixels

def z_from_seeds(seeds, z_dim: int, z_dist: str = "gaussian") -> np.ndarray:
    """One latent per seed, each from its own RandomState so it does not depend on the others."""
    z = np.empty((len(seeds), z_dim), np.float32)
    for i, s in enumerate(seeds):
        rng = np.random.RandomState(int(s) % 2 ** 32)
        z[i] = rng.uniform(-1.0, 1.0, z_dim) if z_dist == "uniform" else rng.standard_normal(z_dim)
    return z


def to_uint8(images: np.ndarray) -> np.ndarray:
    """[-1, 1] float → uint8 with rounding; values outside the range are clipped."""
    return np.clip(np.rint((images.astype(np.float32) + 1.0) * 127.5), 0, 255).astype(np.uint8)


# ----------------------------------------------------------------------------------------------
# Samplers: meta + __call__(z, c, psi) -> uint8 (n, C, R, R) for any n

class Sampler:
    """Feeds fixed-size batches of ``meta["batch"]`` to ``run_batch`` and keeps the real rows."""

    meta: dict

    def __call__(self, z: np.ndarray, c: np.ndarray | None = None, psi: float = 1.0) -> np.ndarray:
        meta = self.meta
        batch, z_dim = int(meta["batch"]), int(meta["z_dim"])
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
        out = np.empty((n, int(meta["channels"]), int(meta["resolution"]),
                        int(meta["resolution"])), np.uint8)
        for start in range(0, n, batch):
            k = min(batch, n - start)
            arrays = {"z": _pad(z[start:start + k], batch), "c": _pad(c[start:start + k], batch),
                      "psi": np.full((batch,), psi, np.float32)}
            images = self.run_batch([arrays[name] for name in meta["inputs"]])
            out[start:start + k] = to_uint8(np.asarray(images)[:k])
        return out

    def run_batch(self, arrays: list[np.ndarray]) -> np.ndarray:
        """The model on one batch of ``meta["batch"]`` rows, inputs in ``meta["inputs"]`` order."""
        raise NotImplementedError


def _pad(a: np.ndarray, batch: int) -> np.ndarray:
    if len(a) == batch:
        return np.ascontiguousarray(a)
    pad = np.zeros((batch - len(a),) + a.shape[1:], a.dtype)
    return np.concatenate([a, pad])


class CellSampler(Sampler):
    """A MindSpore Cell (a model's ``export_net``), run in eval mode through one compiled graph."""

    def __init__(self, net, meta: dict):
        import mindspore as ms

        self.meta = dict(meta)
        self.net = net
        # Eval mode before the first call: a compiled graph keeps the BatchNorm mode it first saw.
        net.set_train(False)

        @ms.jit
        def run(*args):
            return net(*args)

        self._compiled = run

    def run_batch(self, arrays):
        import mindspore as ms

        return self._compiled(*[ms.Tensor(a) for a in arrays]).asnumpy()


class MindIRSampler(Sampler):
    def __init__(self, path: str):
        import mindspore as ms

        self.meta = read_sidecar(path)
        try:
            self.graph = ms.nn.GraphCell(ms.load(path))
        except Exception as e:
            raise MsganError(f"{path} could not be loaded as MindIR ({_one_line(e)}) — "
                             f"{_WHAT_TO_PASS}") from None

    def run_batch(self, arrays):
        import mindspore as ms

        return self.graph(*[ms.Tensor(a) for a in arrays]).asnumpy()


class OnnxSampler(Sampler):
    def __init__(self, path: str):
        import onnxruntime as ort

        self.meta = read_sidecar(path)
        try:
            self.session = ort.InferenceSession(path, providers=["CPUExecutionProvider"])
        except Exception as e:
            raise MsganError(f"{path} could not be loaded as ONNX ({_one_line(e)}) — "
                             f"{_WHAT_TO_PASS}") from None
        self.input_names = [i.name for i in self.session.get_inputs()]
        if len(self.input_names) != len(self.meta["inputs"]):
            raise MsganError(f"{path} takes inputs {self.input_names} but its .json lists "
                             f"{self.meta['inputs']} — re-export the model with msgan export")

    def run_batch(self, arrays):
        return self.session.run(None, dict(zip(self.input_names, arrays)))[0]


class CheckpointSampler(CellSampler):
    """Rebuilds G from a snapshot folder's meta.json and loads G_ema.ckpt into it."""

    def __init__(self, ckpt_dir: str):
        G, meta = load_checkpoint_generator(ckpt_dir)
        from msgan.models import MODELS

        super().__init__(MODELS[meta["model"]].export_net(G), meta)


def load_checkpoint_generator(path: str):
    """(G_ema as a freshly built generator, meta) from a snapshot folder or a run folder."""
    if not os.path.isdir(path):
        raise MsganError(f"{path} is not a folder — pass a checkpoints/snapshot-* folder or a "
                         "run output folder")
    folder = path if _is_snapshot(path) else (
        newest_snapshot(os.path.join(path, "checkpoints")) or newest_snapshot(path))
    if folder is None:
        raise MsganError(f"{path} holds no snapshot (meta.json + G_ema.ckpt) — pass a "
                         "checkpoints/snapshot-* folder or a run output folder")
    meta = _read_json(os.path.join(folder, "meta.json"), "meta.json of the checkpoint")
    G = build_generator(meta)
    load_generator_weights(G, os.path.join(folder, "G_ema.ckpt"))
    return G, meta


def build_generator(meta: dict):
    from msgan.config import MODEL_CONFIGS
    from msgan.models import MODELS

    name = meta.get("model")
    if name not in MODELS or name not in MODEL_CONFIGS:
        raise MsganError(f"checkpoint model {name!r} is unknown — this msgan knows "
                         f"{', '.join(MODELS)}; use the msgan version that trained it")
    try:
        model_cfg = MODEL_CONFIGS[name](**meta.get("model_cfg", {}))
    except TypeError as e:
        raise MsganError(f"checkpoint model_cfg does not fit {name} ({e}) — use the msgan "
                         "version that trained it") from None
    G, _ = MODELS[name].build(model_cfg, int(meta["resolution"]), int(meta["channels"]),
                              int(meta.get("num_classes", 0)))
    return G


def load_generator_weights(G, ckpt_path: str) -> None:
    """Copy every G parameter from the checkpoint, checking names and shapes ourselves.

    ``load_param_into_net`` quietly matches stripped prefixes and aliases the loaded dict, so it
    is not used. Names must equal G's, or all carry one common prefix (e.g. ``G_ema.``).
    """
    import mindspore as ms

    if not os.path.isfile(ckpt_path):
        raise MsganError(f"{ckpt_path} does not exist — {_WHAT_TO_PASS}")
    try:
        saved = ms.load_checkpoint(ckpt_path)
    except Exception as e:
        raise MsganError(f"{ckpt_path} is not a readable MindSpore checkpoint ({_one_line(e)}) "
                         f"— {_WHAT_TO_PASS}") from None
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


def read_sidecar(path: str) -> dict:
    return _read_json(os.path.splitext(path)[0] + ".json", f"sidecar .json of {path}")


def _read_json(path: str, what: str) -> dict:
    try:
        with open(path, encoding="utf-8") as f:
            meta = json.load(f)
    except FileNotFoundError:
        raise MsganError(f"{what} not found at {path} — {_WHAT_TO_PASS}") from None
    except (OSError, ValueError) as e:
        raise MsganError(f"{path} is not valid JSON ({_one_line(e)}) — {_WHAT_TO_PASS}") from None
    needed = ("resolution", "channels", "batch", "inputs")
    if isinstance(meta, dict) and meta.get("task") != "translate":
        needed = ("z_dim",) + needed
    if not isinstance(meta, dict) or any(k not in meta for k in needed):
        raise MsganError(f"{path} lacks the model description ({', '.join(needed)}) — "
                         f"{_WHAT_TO_PASS}")
    return meta


def load_sampler(path: str) -> Sampler:
    """A sampler for a snapshot folder, a run output folder, a .ckpt, .mindir or .onnx file."""
    if not os.path.exists(path):
        raise MsganError(f"model path {path} does not exist — {_WHAT_TO_PASS}")
    if os.path.isdir(path):
        return _sampler_for_folder(path)
    ext = os.path.splitext(path)[1].lower()
    if ext == ".mindir":
        return MindIRSampler(path)
    if ext == ".onnx":
        return OnnxSampler(path)
    if ext == ".ckpt":
        folder = os.path.dirname(os.path.abspath(path))
        if os.path.basename(path) != "G_ema.ckpt" or not _is_snapshot(folder):
            raise MsganError(f"{path} is not the G_ema.ckpt of a snapshot folder with meta.json "
                             f"— {_WHAT_TO_PASS}")
        return CheckpointSampler(folder)
    raise MsganError(f"{path} has an unknown model type {ext or '(no extension)'!r} — "
                     f"{_WHAT_TO_PASS}")


def _is_snapshot(folder: str) -> bool:
    return all(os.path.isfile(os.path.join(folder, f)) for f in ("meta.json", "G_ema.ckpt"))


def _sampler_for_folder(path: str) -> Sampler:
    if _is_snapshot(path):
        return CheckpointSampler(path)
    snapshot = newest_snapshot(os.path.join(path, "checkpoints")) or newest_snapshot(path)
    if snapshot:
        return CheckpointSampler(snapshot)
    export = newest_export(os.path.join(path, "model")) or newest_export(path)
    if export:
        return load_sampler(export)
    raise MsganError(f"{path} holds no snapshot (checkpoints/snapshot-*/G_ema.ckpt) and no export "
                     f"(model/*.mindir|onnx) — {_WHAT_TO_PASS}")


def newest_snapshot(folder: str) -> str | None:
    """The complete ``snapshot-<number>`` folder with the highest number (temp folders skipped)."""
    found = []
    for d in glob.glob(os.path.join(folder, "snapshot-*")):
        m = re.fullmatch(r"snapshot-(\d+)", os.path.basename(d))
        if m and _is_snapshot(d):
            found.append((int(m.group(1)), d))
    return max(found)[1] if found else None


def newest_export(folder: str) -> str | None:
    """The most recently written export with its sidecar; MindIR before ONNX for the same stem."""
    found = []
    for rank, ext in enumerate((".onnx", ".mindir")):
        for f in glob.glob(os.path.join(folder, "*" + ext)):
            if os.path.isfile(os.path.splitext(f)[0] + ".json"):
                found.append((os.path.getmtime(f), rank, f))
    return max(found)[2] if found else None


# ----------------------------------------------------------------------------------------------
# Writing images and the manifest

def generate(sampler: Sampler, out_dir: str, num_per_class: int, seed: int = 0,
             truncation: float = 1.0, class_name: str | None = None, fmt: str = "png",
             progress: bool = True, manifest_name: str = "output_0.manifest",
             counts: dict | None = None, overwrite: bool = True) -> list[str]:
    """Write images to ``out_dir/Data`` (one folder per class) and ``out_dir/<manifest_name>``.

    Class-conditional models get ``num_per_class`` images per class (or ``counts[class]``),
    with seeds ``seed .. seed+n-1`` in every class; ``class_name`` keeps one class, whose files
    equal those of the full run. Earlier msgan output in ``Data/`` is replaced when
    ``overwrite`` (a training run's own folder), otherwise refused (``msgan generate`` without
    ``--force``); files msgan did not write are never deleted. Returns the absolute image paths.
    """
    from msgan.progress import bar as progress_bar

    meta = sampler.meta
    if fmt not in ("png", "jpg"):
        raise MsganError(f"image format {fmt!r} is not supported — use png or jpg")
    if seed < 0:
        raise MsganError(f"seed {seed} is negative — use a seed >= 0")
    plan, classes = _plan(meta, num_per_class, seed, class_name, counts)
    if "psi" not in meta["inputs"] and truncation != 1.0:
        log.warning("truncation %s ignored: model %s has no truncation input", truncation,
                    meta.get("model", "?"))

    data_dir = generated.start(out_dir, overwrite, manifest_name)
    for k in sorted({k for k, _ in plan if k >= 0}):
        os.makedirs(os.path.join(data_dir, classes[k]), exist_ok=True)
    names = [f"{classes[k]}_{s}" if k >= 0 else f"seed{s}" for k, s in plan]
    files = [os.path.join(data_dir, classes[k], f"{name}.{fmt}") if k >= 0
             else os.path.join(data_dir, f"{name}.{fmt}") for (k, _), name in zip(plan, names)]
    generated.claim(data_dir, files)

    chunk = int(meta["batch"]) * max(1, 64 // int(meta["batch"]))
    paths, lines = [], []
    with progress_bar(len(plan), "generate", "img", enabled=progress) as bar:
        for start in range(0, len(plan), chunk):
            part = plan[start:start + chunk]
            z = z_from_seeds([s for _, s in part], int(meta["z_dim"]),
                             meta.get("z_dist", "gaussian"))
            c = np.array([max(k, 0) for k, _ in part], np.int32)
            for i, ((k, _), img) in enumerate(zip(part, sampler(z, c, truncation))):
                name, path = names[start + i], files[start + i]
                save_image(img, path)
                paths.append(path)
                annotation = ([{"name": classes[k], "type": "modelarts/image_classification"}]
                              if k >= 0 else [])
                lines.append(json.dumps({"id": name, "source": path, "usage": "train",
                                         "annotation": annotation}))
            bar.update(len(part))
    generated.write_manifest(out_dir, lines, manifest_name)
    return paths


def save_image(img: np.ndarray, path: str) -> None:
    """uint8 (C, R, R) → greyscale (L) or RGB image; the suffix picks PNG or JPEG."""
    from PIL import Image

    pixels = img[0] if img.shape[0] == 1 else img.transpose(1, 2, 0)
    extra = {"quality": 95} if path.endswith(".jpg") else {}
    Image.fromarray(np.ascontiguousarray(pixels)).save(path, **extra)


def _plan(meta, num_per_class, seed, class_name, counts):
    """[(class index or -1, seed)] for every image of the run, and the class names."""
    num_classes = int(meta.get("num_classes", 0)) if "c" in meta["inputs"] else 0
    classes = [str(x) for x in meta.get("classes") or []]
    if len(classes) != num_classes:
        classes = [str(i) for i in range(num_classes)]
    if num_classes == 0:
        if class_name is not None:
            raise MsganError(f"class {class_name!r} asked for but the model has no classes — "
                             "drop the class option")
        if num_per_class < 0:
            raise MsganError(f"number of images {num_per_class} is negative — use 0 or more")
        return [(-1, seed + j) for j in range(num_per_class)], classes
    if class_name is not None and class_name not in classes:
        raise MsganError(f"unknown class {class_name!r} — the model's classes are "
                         f"{', '.join(classes)}")
    if counts is not None:
        unknown = sorted(set(counts) - set(classes))
        if unknown:
            raise MsganError(f"counts name unknown class {unknown[0]!r} — the model's classes "
                             f"are {', '.join(classes)}")
    plan = []
    for k, name in enumerate(classes):
        n = int(counts.get(name, 0)) if counts is not None else int(num_per_class)
        if n < 0:
            raise MsganError(f"number of images for class {name!r} is {n} — use 0 or more")
        if class_name is None or name == class_name:
            plan += [(k, seed + i) for i in range(n)]
    return plan, classes


def _one_line(e: Exception) -> str:
    lines = [line.strip() for line in str(e).splitlines()
             if line.strip() and not line.startswith("--")]
    return (lines[0] if lines else type(e).__name__)[:200]
