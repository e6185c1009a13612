"""Atomic snapshots of the full training state, and loading them back.

A snapshot is a folder ``checkpoints/snapshot-<nimg>/`` with
  state.ckpt   every parameter of every cell in ``state_cells()`` (G, D, G_ema, optimizers),
               named ``<key>/<parameter name>`` because both optimizers use the same names;
  G_ema.ckpt   G_ema alone with the names a freshly built generator has (for generate/export);
  host.json    host-side state: kimg, tick, data sampler position, RNG states, ADA p;
  meta.json    what is needed to rebuild the generator (model, its config, classes, ...).
The folder is written under a temporary name, fsync'd, then renamed: a crash at any moment
leaves either the previous snapshots or the new complete one, never a half-written one.
"""
from __future__ import annotations

import os
import shutil

import numpy as np
import mindspore as ms

from msgan import io
from msgan.errors import MsganError

_DAMAGED = "the snapshot is damaged; resume from an earlier one"


def _fsync_file(path: str) -> None:
    with open(path, "rb") as f:
        os.fsync(f.fileno())


def _fsync_dir(path: str) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _entries(cells: dict) -> list:
    seen, out = set(), []
    for key, cell in cells.items():
        for p in cell.get_parameters():
            if id(p) in seen:      # optimizers also list the network weights they update
                continue
            seen.add(id(p))
            out.append({"name": f"{key}/{p.name}", "data": p})
    return out


def strip_prefix(name: str, prefix: str) -> str:
    return name[len(prefix):] if name.startswith(prefix) else name


def save_snapshot(ckpt_root: str, nimg: int, cells: dict, host: dict, meta: dict,
                  keep: int = 3, protect: tuple = (), weights: dict | None = None) -> str:
    """Write a snapshot atomically and delete all but the newest ``keep`` (and ``protect``).

    Besides the full state, each cell of ``weights`` (default: G_ema) is written alone as
    ``<name>.ckpt``: what generation, export and evaluation load without the optimizers.
    """
    os.makedirs(ckpt_root, exist_ok=True)
    name = io.snapshot_name(nimg)
    final = os.path.join(ckpt_root, name)
    tmp = os.path.join(ckpt_root, f".tmp-{name}-{os.getpid()}")
    try:
        _write_snapshot_files(tmp, cells, host, meta,
                              {"G_ema": cells["G_ema"]} if weights is None else weights)
    except (OSError, RuntimeError) as e:   # disk full, folder gone, ...: keep the old snapshots
        shutil.rmtree(tmp, ignore_errors=True)
        reason = getattr(e, "strerror", None) or io.one_line(e, 160)
        raise MsganError(f"could not write snapshot {final} ({reason}) — free disk space or fix "
                         "the output folder, then continue with train.resume=auto; the last "
                         "complete snapshot was kept") from None
    if os.path.exists(final):            # the same nimg again (e.g. the final snapshot)
        shutil.rmtree(final)
    os.rename(tmp, final)
    _fsync_dir(ckpt_root)
    _prune(ckpt_root, keep, {final, *protect})
    return final


def _write_snapshot_files(tmp: str, cells: dict, host: dict, meta: dict, weights: dict) -> None:
    shutil.rmtree(tmp, ignore_errors=True)
    os.makedirs(tmp)
    ms.save_checkpoint(_entries(cells), os.path.join(tmp, "state.ckpt"))
    for name, cell in weights.items():
        alone = [{"name": strip_prefix(p.name, name + "."), "data": p}
                 for p in cell.get_parameters()]
        ms.save_checkpoint(alone, os.path.join(tmp, f"{name}.ckpt"))
    io.write_json(os.path.join(tmp, "host.json"), host, indent=1)
    io.write_json(os.path.join(tmp, "meta.json"), meta, indent=1)
    for f in ["state.ckpt"] + [f"{n}.ckpt" for n in weights]:
        io.fix_mode(os.path.join(tmp, f))    # MindSpore writes checkpoints -r--------
    for f in ["state.ckpt", "host.json", "meta.json"] + [f"{n}.ckpt" for n in weights]:
        _fsync_file(os.path.join(tmp, f))
    _fsync_dir(tmp)


def _prune(ckpt_root: str, keep: int, protect: set) -> None:
    snaps = io.list_snapshots(ckpt_root)
    for path in snaps[:-keep] if keep > 0 else []:
        if path not in protect:
            shutil.rmtree(path, ignore_errors=True)
    for n in os.listdir(ckpt_root):      # leftovers of a run killed while writing
        if n.startswith(".tmp-snapshot-") and not n.endswith(f"-{os.getpid()}"):
            shutil.rmtree(os.path.join(ckpt_root, n), ignore_errors=True)


def resolve_resume(resume: str, output_dir: str) -> str | None:
    """``auto`` → newest snapshot in this run's output folder (None if there is none)."""
    if not resume:
        return None
    if resume == "auto":
        snaps = io.list_snapshots(os.path.join(output_dir, "checkpoints"))
        return snaps[-1] if snaps else None
    path = resume
    if os.path.isfile(path) and os.path.basename(path) in ("state.ckpt", "G_ema.ckpt"):
        path = os.path.dirname(path)
    found = io.newest_snapshot(path, ("state.ckpt",))
    if found is None:
        raise MsganError(f"train.resume={resume} is not a snapshot folder (no state.ckpt) — "
                         "pass a checkpoints/snapshot-* folder, a run folder, or auto")
    return found


def load_snapshot(path: str, cells: dict, optional=()) -> dict:
    """Copy a snapshot's values into ``cells`` in place and return its host state.

    Values are copied with ``Parameter.copy_`` so graphs compiled before the load see them
    (``set_data`` and ``load_param_into_net`` are invisible to an already compiled graph).
    Cells whose keys are in ``optional`` keep their values when the snapshot has none for them
    (the loss scales when a run resumes with mixed precision switched on); the host state then
    lists those keys under ``"fresh_cells"``.
    """
    try:
        saved = ms.load_checkpoint(os.path.join(path, "state.ckpt"))
    except Exception as e:
        raise MsganError(f"cannot load {path}/state.ckpt ({io.one_line(e, 120)}) — "
                         f"{_DAMAGED}") from None
    fresh = set()
    for entry in _entries(cells):
        name, p = entry["name"], entry["data"]
        key = name.split("/", 1)[0]
        if name not in saved and key in optional:
            fresh.add(key)
            continue
        if name not in saved:
            raise MsganError(f"snapshot {path} has no value for {name} — it was written by a "
                             "different model or config; resume with the config it was made with")
        value = saved[name]
        if tuple(value.shape) != tuple(p.shape):
            raise MsganError(f"snapshot {path}: {name} has shape {tuple(value.shape)}, the model "
                             f"needs {tuple(p.shape)} — resume with the config it was made with")
        p.copy_(ms.Tensor(np.array(value.asnumpy()), p.dtype))   # own copy: no aliasing
    host = io.read_json(os.path.join(path, "host.json"), "host.json of the snapshot", _DAMAGED)
    if fresh:
        host["fresh_cells"] = sorted(fresh)
    return host
