"""Images from a trained generator (checkpoint, MindIR or ONNX) and the manifest that lists them.

Every image has its own seed, in its file name: ``<class>_<seed>.png`` (``seed<seed>.png``
without classes). Each class gets seeds S, S+1, ..., S+n-1; the latent comes from
``RandomState(seed)`` and the class goes into the generator's class input, so
``--class C --seed S --num 1`` regenerates exactly the file ``C_S`` (like NVlabs ``--seeds``).
"""
from __future__ import annotations

import logging
import os

import numpy as np

from msgan import io
from msgan.errors import MsganError
from msgan.inference import generated
from msgan.inference.latents import z_from_seeds
from msgan.inference.samplers import (NOISE_SNAPSHOT, WHAT_TO_PASS, CheckpointSampler, Sampler,
                                      newest_export, open_export)

log = logging.getLogger("msgan")


def load_sampler(path: str) -> Sampler:
    """A sampler for a snapshot folder, a run output folder, a .ckpt, .mindir or .onnx file."""
    if not os.path.exists(path):
        raise MsganError(f"model path {path} does not exist — {WHAT_TO_PASS}")
    if os.path.isdir(path):
        return _sampler_for_folder(path)
    if os.path.splitext(path)[1].lower() == ".ckpt":
        folder = os.path.dirname(os.path.abspath(path))
        if os.path.basename(path) != "G_ema.ckpt" or not os.path.isfile(
                os.path.join(folder, "meta.json")):
            raise MsganError(f"{path} is not the G_ema.ckpt of a snapshot folder with meta.json "
                             f"— {WHAT_TO_PASS}")
        return CheckpointSampler(folder)
    return open_export(path)


def _sampler_for_folder(path: str) -> Sampler:
    snapshot = io.newest_snapshot(path, NOISE_SNAPSHOT)
    if snapshot:
        return CheckpointSampler(snapshot)
    export = newest_export(os.path.join(path, "model")) or newest_export(path)
    if export:
        return open_export(export)
    raise MsganError(f"{path} holds no snapshot (checkpoints/snapshot-*/G_ema.ckpt) and no export "
                     f"(model/*.mindir|onnx) — {WHAT_TO_PASS}")


# ----------------------------------------------------------------------------------------------
# Writing images and the manifest

def generate(sampler: Sampler, out_dir: str, num_per_class: int, seed: int = 0,
             truncation: float = 1.0, class_name: str | None = None, fmt: str = "png",
             progress: bool = True, manifest_name: str = generated.MANIFEST,
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
    generated.check_format(fmt)
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
                generated.save_image(img, path)
                paths.append(path)
                lines.append(generated.manifest_line(name, path, classes[k] if k >= 0 else None))
            bar.update(len(part))
    generated.write_manifest(out_dir, lines, manifest_name)
    return paths


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

