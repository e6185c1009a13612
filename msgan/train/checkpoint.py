"""Atomic snapshots of the full training state, and loading them back.

A snapshot is a folder ``checkpoints/snapshot-<nimg>/`` with
  state.ckpt   every parameter of every cell in ``state_cells()`` (G, D, G_ema, optimizers),
               named ``<key>/<parameter name>`` because both optimizers use the same names;
  G_ema.ckpt   G_ema alone with the names a freshly built generator has (for generate/export);
  host.json    host-side state: kimg, tick, data sampler position, RNG states, ADA p;
  meta.json    what is needed to rebuild the generator (model, its config, classes, ...);
  checksums.json  size and sha256 of each file above, written last (msgan.snapshots).
The folder is written under a temporary name, fsync'd, then renamed: a crash at any moment
leaves either the previous snapshots or the new complete one, never a half-written one. What
the rename cannot guard against (a disk that loses or flips bytes later) the checksums find:
``train.resume=auto`` sets a damaged snapshot aside and resumes from the newest intact one.
"""
from __future__ import annotations

import logging
import os
import shutil

import numpy as np
import mindspore as ms

from msgan import io, snapshots
from msgan.errors import MsganError

log = logging.getLogger("msgan")
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
    snapshots.write_checksums(tmp)           # last: it vouches for every file above
    for f in ["state.ckpt", "host.json", "meta.json", snapshots.CHECKSUMS] + \
            [f"{n}.ckpt" for n in weights]:
        _fsync_file(os.path.join(tmp, f))
    _fsync_dir(tmp)


def _prune(ckpt_root: str, keep: int, protect: set) -> None:
    """Delete all but the newest ``keep`` snapshots that look intact (files present, sizes as
    written: no hashing here), so damaged ones never push the last intact one out; damaged ones
    are left for train.resume=auto to set aside."""
    sound = [p for p in io.list_snapshots(ckpt_root) if snapshots.check(p, hashes=False) is None]
    for path in sound[:-keep] if keep > 0 else []:
        if path not in protect:
            shutil.rmtree(path, ignore_errors=True)
    for n in os.listdir(ckpt_root):      # leftovers of a run killed while writing
        if n.startswith(".tmp-snapshot-") and not n.endswith(f"-{os.getpid()}"):
            shutil.rmtree(os.path.join(ckpt_root, n), ignore_errors=True)


def resolve_resume(resume: str, output_dir: str, owner: bool = True) -> str | None:
    """The snapshot ``train.resume`` continues from, checked against its checksums.

    ``auto`` → the newest intact snapshot of this run's output folder (None if there is none);
    a run folder → its newest intact one; a snapshot folder → itself, or one MsganError line
    when it is damaged (a snapshot named explicitly is never swapped for another). Damaged
    snapshots of this run's own folder are renamed ``damaged-snapshot-*`` by the ``owner``
    (rank 0), those of another run's folder only skipped; one warning line names them and the
    snapshot used instead.
    """
    if not resume:
        return None
    path = os.path.join(output_dir, "checkpoints") if resume == "auto" else resume
    if os.path.isfile(path) and os.path.basename(path) in ("state.ckpt", "G_ema.ckpt"):
        path = os.path.dirname(path)
    required = ("state.ckpt", "host.json")
    if any(os.path.isfile(os.path.join(path, f)) for f in ("meta.json", snapshots.CHECKSUMS)):
        missing = [f for f in required if not os.path.isfile(os.path.join(path, f))]
        problem = f"{missing[0]} is missing" if missing else snapshots.check(path)
        if problem:
            raise MsganError(f"train.resume={resume}: the snapshot is damaged ({problem}) — "
                             "resume from another snapshot, or pass the run folder to resume "
                             "from its newest intact one")
        return snapshots.note_unverified(path)
    root = path if resume == "auto" or io.list_snapshots(path) else \
        os.path.join(path, "checkpoints")      # a run folder, or its checkpoints folder
    own = os.path.realpath(root) == os.path.realpath(os.path.join(output_dir, "checkpoints"))
    found, damaged = snapshots.newest_intact(root, ("state.ckpt",),
                                             set_aside_damaged=own and owner)
    if damaged and owner:
        kept = [os.path.relpath(moved, os.path.dirname(root)) for _, _, moved in damaged if moved]
        log.warning("%s %s damaged: %s; %s", snapshots.damaged_text(damaged),
                    "is" if len(damaged) == 1 else "are",
                    f"kept as {', '.join(kept)}" if kept else "skipped",
                    f"resuming from {os.path.basename(found)} ({snapshots.kimg_of(found):g} kimg)"
                    if found else "no intact snapshot is left")
    if found is None and damaged:
        raise MsganError(f"train.resume={resume}: every snapshot in {root} is damaged "
                         f"({snapshots.damaged_text(damaged)}) — train again without "
                         "train.resume (with --force in this folder); the damaged snapshots "
                         "were kept")
    if found is None and resume != "auto":
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
