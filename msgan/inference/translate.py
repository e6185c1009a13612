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

from msgan import io
from msgan.errors import MsganError
from msgan.inference import generated
from msgan.inference.samplers import (CheckpointSampler, Sampler, newest_export, open_export,
                                      read_meta, resolve_snapshot)

log = logging.getLogger("msgan")

_WHAT_TO_PASS = ("pass an image-to-image run folder, one of its checkpoints/snapshot-* folders, "
                 "or a model/<generator>.mindir|.onnx export with its .json next to it")


class Translator:
    """uint8 NCHW images in, uint8 NCHW images out, through any sampler of an image-to-image
    generator (Cell, checkpoint, MindIR, ONNX)."""

    def __init__(self, backend: Sampler):
        self.backend, self.meta = backend, backend.meta
        c, h, w = (int(v) for v in self.meta["input_shape"])
        self.input_shape = (c, h, w)

    def __call__(self, images: np.ndarray) -> np.ndarray:
        images = np.asarray(images)
        if images.ndim != 4 or tuple(images.shape[1:]) != self.input_shape:
            raise ValueError(f"inputs must have shape (n, {', '.join(map(str, self.input_shape))}),"
                             f" got {images.shape}")
        res, ch = int(self.meta["resolution"]), int(self.meta["channels"])
        out = np.empty((len(images), ch, res, res), np.uint8)
        step = int(self.meta["batch"]) * 8       # float copies of a few batches at a time
        for start in range(0, len(images), step):
            x = images[start:start + step].astype(np.float32) / 127.5 - 1.0
            out[start:start + len(x)] = self.backend.run({"x": x})
        return out


# ----------------------------------------------------------------------------------------------
# Loading

def is_translation_model(path: str) -> bool:
    """Whether ``path`` (file, snapshot or run folder) holds an image-to-image model."""
    meta_paths = [os.path.splitext(path)[0] + ".json"]
    if os.path.isdir(path):
        snap = io.newest_snapshot(path)
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
        backend = open_export(path)
        check_translate(backend.meta, path)
        return Translator(backend)
    snap = resolve_snapshot(path)      # checked against its checksums
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
    check_translate(read_meta(os.path.join(snap, "meta.json"), "meta.json of the checkpoint"),
                    snap)
    return Translator(CheckpointSampler(snap, generator or ""))   # default: the first


def check_translate(meta: dict, path: str) -> None:
    """Refuse a noise-to-image model (or an old export without input_shape) where an
    image-to-image one is needed."""
    if meta.get("task") != "translate":
        raise MsganError(f"{path} is a noise-to-image generator, not an image-to-image model — "
                         "drop --input and use msgan generate --num N")
    if "input_shape" not in meta:
        raise MsganError(f"the description of {path} lacks input_shape — re-export it with "
                         "this msgan version")


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
            skipped.append((p, f"{type(e).__name__}: {io.one_line(e, 120)}"))
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
        generated.save_image(img, path)
        lines.append(generated.manifest_line(f"{sub}/{name}" if sub else name, path, label))
    return lines


def translate_folder(translator: Translator, input_dir: str, out_dir: str, fmt: str = "png",
                     progress: bool = True, overwrite: bool = True) -> tuple[list[str], list]:
    """Translate every image of ``input_dir`` into ``out_dir/Data``; (written paths, skipped).

    Earlier msgan output in ``out_dir`` is replaced when ``overwrite``, otherwise refused."""
    from msgan.progress import bar as progress_bar

    generated.check_format(fmt)
    in_real, out_real = os.path.realpath(input_dir), os.path.realpath(out_dir)
    if out_real == in_real or out_real.startswith(in_real + os.sep):
        raise MsganError(f"--out {out_dir} is inside --input {input_dir} — msgan never writes "
                         "into the input; choose another output folder")
    paths = list_input_images(input_dir)
    generated.start(out_dir, overwrite)
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
    generated.write_manifest(out_dir, lines)
    for p, why in skipped:
        log.warning("skipped %s: %s", p, why)
    if not written:
        raise MsganError(f"no image in {input_dir} could be read ({len(skipped)} skipped, see "
                         "above) — pass a folder of readable images")
    return written, skipped

