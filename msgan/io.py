"""Atomic file writes, snapshot lookup, JSON reading and one-line error text.

Atomic writes (temp file + rename) leave files with the user's usual permissions. A temp file
made by ``tempfile.mkstemp`` is ``-rw-------`` and MindSpore writes checkpoints and exports
``-r--------``; ``os.replace`` keeps that mode, so such outputs could not be read by a teammate
or a serving process while everything else in the folder was ``-rw-r--r--``. Every finished
file here gets ``0o666 & ~umask``, what a plain ``open(path, "w")`` would have given.

Snapshots are ``snapshot-<nimg>`` folders (in ``checkpoints/`` of a run folder): training
writes them, inference reads them, both find them here. This module imports nothing from msgan
but msgan.errors.
"""
from __future__ import annotations

import contextlib
import json
import os
import re
import tempfile
import threading

from msgan.errors import MsganError

_umask_lock = threading.Lock()
_SNAPSHOT = re.compile(r"snapshot-(\d+)")


def umask() -> int:
    """The process umask, read without changing it where Linux allows (/proc/self/status)."""
    try:
        with open("/proc/self/status", encoding="ascii") as f:
            for line in f:
                if line.startswith("Umask:"):
                    return int(line.split()[1], 8)
    except (OSError, ValueError):
        pass
    with _umask_lock:          # elsewhere the only way to read it is to set it and set it back
        mask = os.umask(0o022)
        os.umask(mask)
    return mask


def file_mode() -> int:
    """The mode a newly created regular file gets: 0o666 minus the umask (0o644 for 022)."""
    return 0o666 & ~umask()


def fix_mode(path: str) -> None:
    """Give ``path`` the usual new-file mode (after mkstemp or a library that writes 0o400)."""
    os.chmod(path, file_mode())


@contextlib.contextmanager
def atomic_path(path: str, suffix: str = ""):
    """Yield a temp path next to ``path``; on success it gets the usual mode and replaces
    ``path`` in one rename, on any error it is removed and ``path`` is left as it was."""
    folder = os.path.dirname(os.path.abspath(path))
    os.makedirs(folder, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=".tmp-", suffix=suffix, dir=folder)
    os.close(fd)
    try:
        yield tmp
        fix_mode(tmp)
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.remove(tmp)
        raise


def write_bytes(path: str, data: bytes) -> None:
    with atomic_path(path) as tmp, open(tmp, "wb") as f:
        f.write(data)


def write_text(path: str, text: str, errors: str = "strict") -> None:
    """``errors="backslashreplace"`` keeps undecodable file names readable instead of failing."""
    with atomic_path(path) as tmp, open(tmp, "w", encoding="utf-8", errors=errors) as f:
        f.write(text)


def write_json(path: str, data, indent: int = 2, ensure_ascii: bool = True,
               errors: str = "strict") -> None:
    write_text(path, json.dumps(data, indent=indent, ensure_ascii=ensure_ascii) + "\n",
               errors=errors)


def append_text(path: str, text: str) -> None:
    """Append to ``path`` (created when missing): for journals written line by line ahead of
    what they record, where replacing the whole file each time would be the wrong tool."""
    with open(path, "a", encoding="utf-8") as f:
        f.write(text)


# ----------------------------------------------------------------------------------------------
# Snapshots

def snapshot_name(nimg: int) -> str:
    return f"snapshot-{nimg:09d}"


def list_snapshots(folder: str, required: tuple = ()) -> list:
    """The ``snapshot-<nimg>`` folders directly in ``folder`` holding every file named in
    ``required``, oldest first (a snapshot being written is ``.tmp-snapshot-*``: never listed)."""
    if not os.path.isdir(folder):
        return []
    found = []
    for name in os.listdir(folder):
        m = _SNAPSHOT.fullmatch(name)
        path = os.path.join(folder, name)
        if m and os.path.isdir(path) and all(os.path.isfile(os.path.join(path, f))
                                             for f in required):
            found.append((int(m.group(1)), path))
    return [path for _, path in sorted(found)]


def newest_snapshot(path: str, required: tuple = ("meta.json",)) -> str | None:
    """``path`` itself when it holds every file of ``required`` (a snapshot folder), else the
    newest snapshot holding them in ``path/checkpoints`` (a run folder), else in ``path`` (a
    checkpoints folder); None when there is none. ``required`` names at least one file."""
    if required and all(os.path.isfile(os.path.join(path, f)) for f in required):
        return path
    for folder in (os.path.join(path, "checkpoints"), path):
        snaps = list_snapshots(folder, required)
        if snaps:
            return snaps[-1]
    return None


# ----------------------------------------------------------------------------------------------
# Reading

def read_json(path: str, what: str, hint: str):
    """The JSON value in ``path``. A missing or unreadable file raises one MsganError line:
    ``what`` names the file for the user, ``hint`` says what to do about it."""
    try:
        with open(path, encoding="utf-8") as f:
            return json.load(f)
    except FileNotFoundError:
        raise MsganError(f"{what} not found at {path} — {hint}") from None
    except ValueError as e:
        raise MsganError(f"{path} is not valid JSON ({one_line(e)}) — {hint}") from None
    except OSError as e:
        raise MsganError(f"{path} cannot be read ({one_line(e)}) — {hint}") from None


def one_line(e: BaseException, limit: int = 200) -> str:
    """The first meaningful line of an exception's text (MindSpore adds pages of C++ context
    after ``----`` rulers), or its type name when it has none; at most ``limit`` characters."""
    lines = [line.strip() for line in str(e).splitlines()
             if line.strip() and not line.startswith("--")]
    return (lines[0] if lines else type(e).__name__)[:limit]


def read_stats(path: str) -> list:
    """The rows of a run's stats.jsonl (none when it is missing); a line cut short by a crash
    is skipped rather than failing every reader of the file."""
    rows = []
    if os.path.isfile(path):
        with open(path, encoding="utf-8") as f:
            for line in f:
                try:
                    row = json.loads(line)
                except ValueError:
                    continue
                if isinstance(row, dict):
                    rows.append(row)
    return rows


def update_json(path: str, key: str, value) -> None:
    """Set ``key`` in the JSON object at ``path`` (created when missing), atomically."""
    data = {}
    if os.path.exists(path):
        with open(path, encoding="utf-8") as f:
            data = json.load(f)
    data[key] = value
    write_json(path, data)
