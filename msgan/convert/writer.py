"""The converted model folder: what every msgan command takes as a model, written atomically.

  meta.json    the meta a msgan training snapshot writes (model, model_cfg, classes, resolution,
               channels, batch, inputs, kimg, ...) plus "source": where the weights came from;
  G_ema.ckpt   MindSpore checkpoints whose parameter names are those of a freshly built msgan
  G.ckpt       Generator / Discriminator (what a snapshot's G_ema.ckpt holds): msgan generate,
  D.ckpt       export and predict mode read G_ema.ckpt; train.init_from reads all three.
The folder is written under a temporary name next to --out and renamed into place.
"""
from __future__ import annotations

import dataclasses
import os
import shutil

import mindspore as ms
import numpy as np

from msgan import io
from msgan.convert.source import Converted
from msgan.errors import MsganError
from msgan.models import MODELS

FILES = ("meta.json", "G_ema.ckpt", "G.ckpt", "D.ckpt")


def export_batch(resolution: int) -> int:
    """Rows per generator call (fixed in exports): smaller at high resolutions, as a training
    run's exports are (a 1024² batch of 8 needs tens of GB on a CPU)."""
    return max(1, min(8, 8 * 128 * 128 // (resolution * resolution)))


def build_meta(c: Converted, classes: list, source: dict) -> dict:
    spec = MODELS["stylegan2"]
    cfg = spec.config(**c.model_cfg)
    inputs = ["z"] + (["c"] if classes else []) + (["psi"] if spec.truncation else [])
    return {"model": "stylegan2", "model_cfg": dataclasses.asdict(cfg), "z_dim": cfg.z_dim,
            "z_dist": "gaussian", "num_classes": len(classes), "classes": list(classes),
            "resolution": c.resolution, "channels": c.channels,
            "batch": export_batch(c.resolution), "inputs": inputs,
            "kimg": float(c.kimg) if c.kimg is not None else 0.0, "source": source}


def _checkpoint(net, values: dict, what: str) -> list:
    """[{"name", "data"}] for every parameter of ``net``, valued from ``values`` (all used)."""
    left = dict(values)
    entries = []
    for p in net.get_parameters():
        if p.name not in left:
            raise MsganError(f"internal: the conversion gave no value for {what} {p.name} — "
                             "report this with the pickle's origin")
        v = left.pop(p.name)
        if tuple(v.shape) != tuple(p.shape):
            raise MsganError(f"{what} {p.name} of the source has shape {list(v.shape)}, msgan's "
                             f"needs {list(p.shape)} — the pickle is damaged or from a fork")
        if not np.all(np.isfinite(v)):
            raise MsganError(f"{what} {p.name} of the source holds NaN or inf — the network "
                             "diverged; convert an earlier snapshot")
        entries.append({"name": p.name, "data": ms.Tensor(v, ms.float32)})
    if left:
        raise MsganError(f"internal: {what} {sorted(left)[0]} has no place in msgan's network — "
                         "report this with the pickle's origin")
    return entries


def check_out(out: str, force: bool) -> None:
    """--out must be new, empty, or (with --force) a folder msgan convert wrote before."""
    if os.path.exists(out) and not os.path.isdir(out):
        raise MsganError(f"--out {out} is a file — pass a folder")
    if not os.path.isdir(out) or not os.listdir(out):
        return
    if not force:
        raise MsganError(f"--out {out} is not empty — pass a new folder, or --force to replace "
                         "a model msgan convert wrote there")
    other = sorted(set(os.listdir(out)) - set(FILES))
    if other:
        raise MsganError(f"--out {out} holds {other[0]}, which msgan convert did not write; "
                         "--force replaces only a converted model folder — pass another --out")


def write(out: str, c: Converted, classes: list, source: dict, force: bool) -> dict:
    check_out(out, force)
    meta = build_meta(c, classes, source)
    spec = MODELS["stylegan2"]
    cfg = spec.config(**c.model_cfg)
    G, D = spec.build(cfg, c.resolution, c.channels, c.num_classes)
    entries = {"G": _checkpoint(G, c.nets["G"], "G"),
               "G_ema": _checkpoint(G, c.nets["G_ema"], "G_ema"),
               "D": _checkpoint(D, c.nets["D"], "D")}
    parent = os.path.dirname(os.path.abspath(out))
    os.makedirs(parent, exist_ok=True)
    tmp = os.path.join(parent, f".{os.path.basename(os.path.abspath(out))}.tmp-{os.getpid()}")
    shutil.rmtree(tmp, ignore_errors=True)
    try:
        os.makedirs(tmp)
        for name, ent in entries.items():
            path = os.path.join(tmp, f"{name}.ckpt")
            ms.save_checkpoint(ent, path)
            io.fix_mode(path)       # MindSpore writes checkpoints -r--------
        io.write_json(os.path.join(tmp, "meta.json"), meta, indent=1)
        for f in FILES:
            _fsync(os.path.join(tmp, f))
        _replace(tmp, out)
    except OSError as e:
        shutil.rmtree(tmp, ignore_errors=True)
        raise MsganError(f"could not write {out} ({e.strerror or e}) — free disk space or pick "
                         "a writable --out") from None
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return meta


def _fsync(path: str) -> None:
    with open(path, "rb") as f:
        os.fsync(f.fileno())


def _replace(tmp: str, out: str) -> None:
    """Rename ``tmp`` to ``out``; an existing ``out`` (empty, or checked by check_out) goes."""
    old = None
    if os.path.isdir(out):
        old = f"{tmp}-old"
        os.rename(out, old)
    os.rename(tmp, out)
    if old:
        shutil.rmtree(old, ignore_errors=True)
