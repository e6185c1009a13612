"""Which snapshot to use: checksums that prove a snapshot intact, and a run folder's model.

Every snapshot folder (``checkpoints/snapshot-<nimg>``) ends with ``checksums.json``: the size
and sha256 of each of its files, written last, before the folder gets its final name. A file
cut short by a power loss, a flipped byte on a bad disk, a file deleted by hand: each makes the
snapshot *damaged*, found before anything loads it. Snapshots written before msgan wrote
checksums have none; they are used *unverified* (said at debug level), so old runs still load.

A run folder used as a model means the snapshot that wrote its ``Data/`` (the run records it in
``checkpoints/run_model.json`` at the end of training: the best by KID, or the newest); a run
without the record (still training, stopped early, an older msgan) means its newest intact
snapshot. ``model_snapshot`` is the one place that decides it, for every command.

A leaf like msgan.io: training writes snapshots with it, inference reads them with it.
"""
from __future__ import annotations

import hashlib
import json
import logging
import os

from msgan import io
from msgan.errors import MsganError

log = logging.getLogger("msgan")

CHECKSUMS = "checksums.json"
RUN_MODEL = "run_model.json"            # in checkpoints/: the snapshot that wrote Data/
# What generate/export/evaluate read of a snapshot: the optimizer state and the training host
# state are not checked for them (hashing state.ckpt would cost more than loading G_ema).
TRAINING_ONLY = ("state.ckpt", "host.json")
_CHUNK = 1 << 20


# ----------------------------------------------------------------------------------------------
# Checksums

def sha256_file(path: str) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(_CHUNK), b""):
            h.update(block)
    return h.hexdigest()


def write_checksums(folder: str) -> str:
    """Write ``folder/checksums.json`` for every other file in ``folder``; returns its path.
    Called last, on a snapshot's temporary folder, before it is fsync'd and renamed."""
    files = {}
    for name in sorted(os.listdir(folder)):
        path = os.path.join(folder, name)
        if name != CHECKSUMS and os.path.isfile(path) and not name.startswith(".tmp-"):
            files[name] = {"bytes": os.path.getsize(path), "sha256": sha256_file(path)}
    path = os.path.join(folder, CHECKSUMS)
    io.write_json(path, {"algorithm": "sha256", "files": files}, indent=1)
    return path


def _expected(folder: str):
    """{file: {"bytes", "sha256"}} from checksums.json; None when the snapshot has none (written
    before checksums); raises ValueError when the file is there but unreadable."""
    path = os.path.join(folder, CHECKSUMS)
    if not os.path.exists(path):
        return None
    with open(path, encoding="utf-8") as f:
        files = json.load(f)["files"]
    if not isinstance(files, dict) or not all(isinstance(v, dict) for v in files.values()):
        raise ValueError("no file list")
    return files


def check(folder: str, skip: tuple = (), hashes: bool = True) -> str | None:
    """Why the snapshot in ``folder`` is damaged (one short phrase), or None when it is intact
    or unverified (no checksums.json). ``skip`` names files not checked; ``hashes=False`` checks
    presence and sizes only (cheap: no file is read)."""
    try:
        files = _expected(folder)
    except (OSError, ValueError, KeyError, TypeError) as e:
        return f"{CHECKSUMS} is unreadable ({io.one_line(e, 80)})"
    if files is None:
        return None
    for name, want in files.items():
        if name in skip:
            continue
        path = os.path.join(folder, name)
        try:
            size = os.path.getsize(path)
        except OSError:
            return f"{name} is missing"
        if size != want.get("bytes"):
            return f"{name} has {size} bytes, {want.get('bytes')} were written"
        if hashes:
            try:
                digest = sha256_file(path)
            except OSError as e:
                return f"{name} cannot be read ({e.strerror or e})"
            if digest != want.get("sha256"):
                return f"{name} does not match its sha256"
    return None


def note_unverified(folder: str) -> str:
    """``folder`` (a snapshot about to be used), saying at debug level when it has no
    checksums to check."""
    if not os.path.exists(os.path.join(folder, CHECKSUMS)):
        log.debug("%s has no %s (written before msgan checked snapshots): used unverified",
                  folder, CHECKSUMS)
    return folder


def kimg_of(snapshot: str) -> float:
    """The kimg a ``snapshot-<nimg>`` folder was written at, from its name."""
    return int(os.path.basename(snapshot).rsplit("-", 1)[1]) / 1000


def _kimg_text(snapshot: str) -> str:
    return f"kimg {kimg_of(snapshot):g}"


# ----------------------------------------------------------------------------------------------
# Damaged snapshots

def set_aside(snapshot: str) -> str:
    """Rename a damaged snapshot ``.../snapshot-N`` to ``.../damaged-snapshot-N`` (``-2``, ...
    when taken): nothing is deleted, and no msgan command lists it as a snapshot again."""
    root, name = os.path.split(snapshot)
    target, k = os.path.join(root, f"damaged-{name}"), 1
    while os.path.exists(target):
        k += 1
        target = os.path.join(root, f"damaged-{name}-{k}")
    os.rename(snapshot, target)
    return target


def newest_intact(folder: str, required: tuple, skip: tuple = (), set_aside_damaged=False):
    """(the newest snapshot in ``folder`` that holds ``required`` and checks out, or None,
    [(damaged snapshot, why, where it was set aside or None)]), newest first. The damaged ones
    are renamed (``set_aside``) only with ``set_aside_damaged`` (the run that owns them)."""
    damaged = []
    for snap in reversed(io.list_snapshots(folder, required)):
        problem = check(snap, skip)
        if problem is None:
            return note_unverified(snap), damaged
        moved = None
        if set_aside_damaged:
            try:
                moved = set_aside(snap)
            except OSError:        # a read-only folder: skipped all the same
                moved = None
        damaged.append((snap, problem, moved))
    return None, damaged


def damaged_text(damaged: list) -> str:
    """``snapshot-A (why), snapshot-B (why)`` for one line."""
    return ", ".join(f"{os.path.basename(s)} ({why})" for s, why, _ in damaged)


# ----------------------------------------------------------------------------------------------
# A run folder's model

def record_run_model(ckpt_root: str, snapshot: str, why: str) -> None:
    """Record that ``snapshot`` made the run's Data/ and model/G_ema.* (``why``: its reason)."""
    io.write_json(os.path.join(ckpt_root, RUN_MODEL),
                  {"snapshot": os.path.basename(snapshot), "kimg": kimg_of(snapshot),
                   "why": why}, indent=1)


def recorded_run_model(ckpt_root: str):
    """(snapshot path, why) recorded by the run, or None when there is no readable record."""
    try:
        with open(os.path.join(ckpt_root, RUN_MODEL), encoding="utf-8") as f:
            rec = json.load(f)
        name, why = rec["snapshot"], str(rec.get("why", "recorded by the run"))
    except (OSError, ValueError, KeyError, TypeError):
        return None
    if not isinstance(name, str) or os.sep in name or not name.startswith("snapshot-"):
        return None
    return os.path.join(ckpt_root, name), why


def model_snapshot(path: str, required: tuple = ("meta.json",),
                   skip: tuple = TRAINING_ONLY) -> tuple:
    """(snapshot folder, why) of the model ``path`` names, checked against its checksums.

    ``path`` is a snapshot folder (used as named: a damaged one is an error, never swapped for
    another), a run folder or its ``checkpoints/``: the snapshot that wrote the run's Data/,
    else the newest intact one; damaged ones are skipped (not renamed: a reader does not change
    someone's run) and ``why`` names them. Returns (None, "") when ``path`` holds no snapshot.
    """
    if any(os.path.isfile(os.path.join(path, f)) for f in ("meta.json", CHECKSUMS)):
        missing = [f for f in required if not os.path.isfile(os.path.join(path, f))]
        problem = f"{missing[0]} is missing" if missing else check(path, skip)
        if problem:
            raise MsganError(f"snapshot {path} is damaged ({problem}) — pass another snapshot, "
                             "or the run folder to use its newest intact one")
        return note_unverified(path), "named"
    for root in (os.path.join(path, "checkpoints"), path):
        snaps = io.list_snapshots(root, required)
        if not snaps:
            continue
        notes = []
        rec = recorded_run_model(root)
        if rec and rec[0] in snaps:
            problem = check(rec[0], skip)
            if problem is None:
                return note_unverified(rec[0]), rec[1]
            notes.append(f"{os.path.basename(rec[0])}, which wrote Data/, is damaged "
                         f"({problem})")
        elif rec:
            notes.append(f"{os.path.basename(rec[0])}, which wrote Data/, is no longer there")
        found, damaged = newest_intact(root, required, skip)
        damaged = [d for d in damaged if not (rec and d[0] == rec[0])]
        if damaged:
            notes.append(f"skipped damaged {damaged_text(damaged)}")
        if found is None:
            raise MsganError(f"no intact snapshot in {root}: {'; '.join(notes)} — pass an "
                             "export (model/*.mindir|onnx) or train again")
        why = "the newest intact snapshot" if notes or rec else (
            "the newest snapshot: the run has recorded no final model (still training, "
            "stopped early, or an older msgan)")
        return found, "; ".join([why] + notes)
    return None, ""


def using_line(given: str, snapshot: str, why: str) -> str:
    """The one line a command prints about the snapshot it resolved ``given`` to."""
    return f"{given}: using {os.path.basename(snapshot)} ({_kimg_text(snapshot)}, {why})"
