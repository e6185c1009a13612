"""Image-to-image inference: a trained pix2pix/CycleGAN/DiscoGAN/SRGAN generator over a folder.

The generator comes from a snapshot folder, a run folder, or a MindIR/ONNX export with its
``.json`` sidecar (``meta["task"] == "translate"``). Inputs are read like training data (any
image format msgan reads, centre-cropped and resized to the generator's input size); outputs go
to ``Data/`` with an ``output_0.manifest`` line each, named after their input file.
"""
from __future__ import annotations

import json
import logging
import os

import numpy as np

from msgan.inference import generated
from msgan.errors import MsganError
from msgan.inference.generate import (CellSampler, MindIRSampler, OnnxSampler, _read_json,
                            load_generator_weights, newest_export, save_image, to_uint8)

log = logging.getLogger("msgan")

_WHAT_TO_PASS = ("pass an image-to-image run folder, one of its checkpoints/snapshot-* folders, "
                 "or a model/<generator>.mindir|.onnx export with its .json next to it")


class Translator:
    """uint8 NCHW images in, uint8 NCHW images out, through fixed-size batches of a backend.

    ``backend`` is any sampler of msgan.inference.generate (Cell, MindIR, ONNX): only its ``run_batch``
    and ``meta`` are used.
    """

    def __init__(self, backend):
        self.backend, self.meta = backend, backend.meta
        c, h, w = (int(v) for v in self.meta["input_shape"])
        self.input_shape = (c, h, w)

    def __call__(self, images: np.ndarray) -> np.ndarray:
        images = np.asarray(images)
        if images.ndim != 4 or tuple(images.shape[1:]) != self.input_shape:
            raise ValueError(f"inputs must have shape (n, {', '.join(map(str, self.input_shape))}),"
                             f" got {images.shape}")
        batch = int(self.meta["batch"])
        res, ch = int(self.meta["resolution"]), int(self.meta["channels"])
        out = np.empty((len(images), ch, res, res), np.uint8)
        for start in range(0, len(images), batch):
            part = images[start:start + batch]
            x = np.zeros((batch,) + self.input_shape, np.float32)
            x[:len(part)] = part.astype(np.float32) / 127.5 - 1.0
            out[start:start + len(part)] = to_uint8(np.asarray(self.backend.run_batch([x]))
                                                    [:len(part)])
        return out


# ----------------------------------------------------------------------------------------------
# Loading

def is_translation_model(path: str) -> bool:
    """Whether ``path`` (file, snapshot or run folder) holds an image-to-image model."""
    meta_paths = [os.path.splitext(path)[0] + ".json"]
    if os.path.isdir(path):
        snap = _find_snapshot(path)
        export = newest_export(os.path.join(path, "model"))
        meta_paths = ([os.path.join(snap, "meta.json")] if snap else []) + (
            [os.path.splitext(export)[0] + ".json"] if export else [])
    for p in meta_paths:
        try:
            with open(p, encoding="utf-8") as f:
                return json.load(f).get("task") == "translate"
        except (OSError, ValueError, AttributeError):
            continue
    return False


def load_translator(path: str, generator: str | None = None) -> Translator:
    """A Translator for a .mindir/.onnx export, a snapshot folder or a run folder.

    ``generator`` picks G_AB or G_BA of a CycleGAN/DiscoGAN folder (default: the first).
    """
    if not os.path.exists(path):
        raise MsganError(f"model path {path} does not exist — {_WHAT_TO_PASS}")
    if os.path.isfile(path):
        ext = os.path.splitext(path)[1].lower()
        if ext not in (".mindir", ".onnx"):
            raise MsganError(f"{path} has an unknown model type {ext or '(no extension)'!r} — "
                             f"{_WHAT_TO_PASS}")
        backend = MindIRSampler(path) if ext == ".mindir" else OnnxSampler(path)
        _check_translate(backend.meta, path)
        return Translator(backend)
    snap = _find_snapshot(path)
    if snap is None:
        for folder in (os.path.join(path, "model"), path):
            for ext in (".mindir", ".onnx"):
                named = os.path.join(folder, f"{generator}{ext}") if generator else None
                if named and os.path.isfile(named):
                    return load_translator(named)
            export = None if generator else newest_export(folder)
            if export:
                return load_translator(export)
        raise MsganError(f"{path} holds no snapshot and no export — {_WHAT_TO_PASS}")
    name, net, gmeta = load_generators(snap, generator or "")[0]   # default: the first
    from msgan.models import MODELS
    return Translator(CellSampler(MODELS[gmeta["model"]].export_net(net), gmeta))


def _find_snapshot(path: str) -> str | None:
    """``path`` itself if it is a snapshot folder, else the newest snapshot of a run folder."""
    if os.path.isfile(os.path.join(path, "meta.json")):
        return path
    for folder in (os.path.join(path, "checkpoints"), path):
        snaps = [s for s in _list_snapshots(folder)
                 if os.path.isfile(os.path.join(s, "meta.json"))]
        if snaps:
            return snaps[-1]
    return None


def _list_snapshots(folder: str) -> list:
    from msgan.train.checkpoint import list_snapshots
    return list_snapshots(folder)


def load_generators(path: str, only: str = "") -> list:
    """[(name, generator Cell with its trained weights, meta)] of a snapshot or run folder;
    ``only`` keeps one generator (e.g. G_BA)."""
    snap = _find_snapshot(path)
    if snap is None:
        raise MsganError(f"{path} holds no snapshot — pass a checkpoints/snapshot-* folder or a "
                         "run output folder")
    meta = _read_json(os.path.join(snap, "meta.json"), "meta.json of the checkpoint")
    _check_translate(meta, snap)
    names = list(meta.get("generators", []))
    if only and only not in names:
        raise MsganError(f"generator {only!r} is not in this model — it has {', '.join(names)}")
    out = []
    for name in [only] if only else names:
        net, gmeta = build_translation_generator(meta, name)
        load_generator_weights(net, os.path.join(snap, f"{name}.ckpt"))
        out.append((name, net, gmeta))
    return out


def _check_translate(meta: dict, path: str) -> None:
    if meta.get("task") != "translate":
        raise MsganError(f"{path} is a noise-to-image generator, not an image-to-image model — "
                         "drop --input and use msgan generate --num N")
    if "input_shape" not in meta:
        raise MsganError(f"the description of {path} lacks input_shape — re-export it with "
                         "this msgan version")


def generator_meta(meta: dict, name: str) -> dict:
    """The export/sidecar meta of one generator of a run's meta."""
    g = dict(meta)
    g["generator"] = name
    g["domains"] = meta.get("domains", {}).get(name, ["A", "B"])
    return g


def build_translation_generator(meta: dict, name: str):
    """(a freshly built generator ``name``, its meta) from a run's meta.json."""
    from msgan.config import MODEL_CONFIGS
    from msgan.models import MODELS

    model = meta.get("model")
    if model not in MODELS or model not in MODEL_CONFIGS:
        raise MsganError(f"checkpoint model {model!r} is unknown — use the msgan version that "
                         "trained it")
    try:
        model_cfg = MODEL_CONFIGS[model](**meta.get("model_cfg", {}))
    except TypeError as e:
        raise MsganError(f"checkpoint model_cfg does not fit {model} ({e}) — use the msgan "
                         "version that trained it") from None
    nets = MODELS[model].build(model_cfg, int(meta["resolution"]), int(meta["channels"]))
    return nets[name], generator_meta(meta, name)


# ----------------------------------------------------------------------------------------------
# A folder in, Data/ and the manifest out

def read_inputs(paths: list[str], shape: tuple, resize: str = "crop"):
    """(uint8 (n, C, H, W) of the readable images, [(path, reason)] of the others)."""
    from msgan.data.pipeline import load_image

    c, h, w = shape
    images, kept, skipped = [], [], []
    for p in paths:
        try:
            img = load_image(p, h, c, resize)      # generators take square inputs
        except Exception as e:     # a broken file is skipped, never a traceback
            skipped.append((p, f"{type(e).__name__}: {str(e).splitlines()[0][:120]}"))
            continue
        images.append(img)
        kept.append(p)
    arr = np.stack(images) if images else np.zeros((0, c, h, w), np.uint8)
    return arr, kept, skipped


def list_input_images(input_dir: str) -> list[str]:
    from msgan.data.folder import is_image_name

    if not os.path.isdir(input_dir):
        raise MsganError(f"--input {input_dir} is not a folder — pass a folder of images")
    names = sorted(n for n in os.listdir(input_dir)
                   if not n.startswith(".") and is_image_name(n)
                   and os.path.isfile(os.path.join(input_dir, n)))
    if not names:
        raise MsganError(f"--input {input_dir} holds no images (.png, .jpg, ...) — pass a folder "
                         "of images")
    return [os.path.join(input_dir, n) for n in names]


def write_translations(images: np.ndarray, sources: list[str], out_dir: str, sub: str = "",
                       fmt: str = "png", label: str | None = None) -> list[str]:
    """Save ``images`` under ``out_dir/Data[/sub]``, named after ``sources``; manifest lines.

    Returns the manifest lines (JSON strings); the caller writes the manifest once.
    """
    folder = os.path.join(out_dir, "Data", sub) if sub else os.path.join(out_dir, "Data")
    os.makedirs(folder, exist_ok=True)
    names, used = [], set()
    for src in sources:
        stem = os.path.splitext(os.path.basename(src))[0]
        name, k = stem, 1
        while name in used:          # same stem, other extension: keep both
            name, k = f"{stem}_{k}", k + 1
        used.add(name)
        names.append(name)
    paths = [os.path.abspath(os.path.join(folder, f"{name}.{fmt}")) for name in names]
    generated.claim(os.path.abspath(os.path.join(out_dir, "Data")), paths)
    lines = []
    for img, name, path in zip(images, names, paths):
        save_image(img, path)
        annotation = ([{"name": label, "type": "modelarts/image_classification"}]
                      if label else [])
        lines.append(json.dumps({"id": f"{sub}/{name}" if sub else name, "source": path,
                                 "usage": "train", "annotation": annotation}))
    return lines


def start_data_dir(out_dir: str, manifest_name: str = "output_0.manifest",
                   overwrite: bool = True) -> None:
    generated.start(out_dir, overwrite, manifest_name)


def write_manifest(out_dir: str, lines: list[str], manifest_name: str = "output_0.manifest"):
    generated.write_manifest(out_dir, lines, manifest_name)


def translate_folder(translator: Translator, input_dir: str, out_dir: str, fmt: str = "png",
                     progress: bool = True, overwrite: bool = True) -> tuple[list[str], list]:
    """Translate every image of ``input_dir`` into ``out_dir/Data``; (written paths, skipped).

    Earlier msgan output in ``out_dir`` is replaced when ``overwrite``, otherwise refused."""
    from msgan.progress import bar as progress_bar

    if fmt not in ("png", "jpg"):
        raise MsganError(f"image format {fmt!r} is not supported — use png or jpg")
    in_real, out_real = os.path.realpath(input_dir), os.path.realpath(out_dir)
    if out_real == in_real or out_real.startswith(in_real + os.sep):
        raise MsganError(f"--out {out_dir} is inside --input {input_dir} — msgan never writes "
                         "into the input; choose another output folder")
    paths = list_input_images(input_dir)
    start_data_dir(out_dir, overwrite=overwrite)
    lines, written, skipped = [], [], []
    chunk = 64
    with progress_bar(len(paths), "translate", "img", enabled=progress) as bar:
        for start in range(0, len(paths), chunk):
            images, kept, bad = read_inputs(paths[start:start + chunk], translator.input_shape)
            skipped += bad
            if len(kept):
                part = write_translations(translator(images), kept, out_dir, fmt=fmt)
                lines += part
                written += [json.loads(x)["source"] for x in part]
            bar.update(min(chunk, len(paths) - start))
    write_manifest(out_dir, lines)
    for p, why in skipped:
        log.warning("skipped %s: %s", p, why)
    if not written:
        raise MsganError(f"no image in {input_dir} could be read ({len(skipped)} skipped, see "
                         "above) — pass a folder of readable images")
    return written, skipped
