"""One msgan writer per output folder: an OS file lock on ``<folder>/.msgan.lock``.

A training run (rank 0), a predict-mode run and ``msgan generate --out`` hold it while they
write; a second one on the same folder stops at once with one line naming the holder (pid,
host, since when, command), which the holder writes into the file. The lock is ``flock``: the
kernel drops it when the process ends, however it ends, so a run killed with kill -9 or a power
loss leaves nothing to clean up (the file stays, holding nobody). The file is never deleted:
removing it while another process waits on it would let two processes hold two locks.
"""
from __future__ import annotations

import datetime
import json
import logging
import os
import socket
import sys

from msgan.errors import MsganError

log = logging.getLogger("msgan")

LOCK_FILE = ".msgan.lock"
_held: dict = {}        # folder (absolute) -> [open file, count]: this process's locks


def _describe(holder: dict) -> str:
    if not holder.get("pid"):
        return "another process (it has not written its name yet)"
    where = f" on {holder['host']}" if holder.get("host") and holder["host"] != \
        socket.gethostname() else ""
    text = f"pid {holder['pid']}{where}, since {holder.get('since', '?')}"
    cmd = holder.get("command")
    return f"{cmd} ({text})" if cmd else text


def holder(folder: str) -> dict:
    """What the process holding ``folder``'s lock wrote about itself ({} when unreadable)."""
    try:
        with open(os.path.join(folder, LOCK_FILE), encoding="utf-8") as f:
            data = json.load(f)
        return data if isinstance(data, dict) else {}
    except (OSError, ValueError):
        return {}


def acquire(folder: str, what_to_do: str, doing: str | None = None) -> None:
    """Lock ``folder`` (created if missing) for this process, or raise one MsganError line:
    ``<folder> is in use by <holder> — <what_to_do>``. ``doing`` (default: this process's
    command line) goes into the file for the next one. Re-entrant within a process."""
    import fcntl     # POSIX; msgan runs on Linux (MindSpore's CPU/GPU/Ascend builds)

    folder = os.path.abspath(folder)
    if folder in _held:
        _held[folder][1] += 1
        return
    path = os.path.join(folder, LOCK_FILE)
    try:
        os.makedirs(folder, exist_ok=True)
        f = open(path, "a+", encoding="utf-8")
    except OSError as e:
        raise MsganError(f"cannot write to {folder} ({e.strerror or e}) — choose a folder you "
                         "can write to") from None
    try:
        fcntl.flock(f.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        f.close()
        raise MsganError(f"{folder} is in use by {_describe(holder(folder))} — {what_to_do}") \
            from None
    except OSError as e:       # a file system without locks (some network mounts)
        f.close()
        log.warning("could not lock %s (%s): a second msgan writing into this folder would not "
                    "be stopped", folder, e.strerror or e)
        return
    f.seek(0)
    f.truncate()
    json.dump({"pid": os.getpid(), "host": socket.gethostname(),
               "since": datetime.datetime.now().astimezone().strftime("%Y-%m-%d %H:%M:%S %Z"),
               "command": doing or command_line()}, f)
    f.write("\n")
    f.flush()
    _held[folder] = [f, 1]


def release(folder: str) -> None:
    """Undo one ``acquire`` of ``folder`` by this process (the last one unlocks it)."""
    folder = os.path.abspath(folder)
    entry = _held.get(folder)
    if entry is None:
        return
    entry[1] -= 1
    if entry[1] <= 0:
        del _held[folder]
        f = entry[0]
        try:
            f.seek(0)
            f.truncate()       # the holder's name goes with its lock
        except OSError:
            pass
        f.close()              # closing the file drops the lock


def command_line() -> str:
    """This process's command as a user typed it, shortened for one line."""
    args = sys.argv[1:]
    text = "msgan " + " ".join(args) if args else "msgan"
    return text if len(text) <= 120 else text[:117] + "..."


def held() -> dict:
    """{folder: times acquired} of this process's locks, for ``release_to``."""
    return {folder: entry[1] for folder, entry in _held.items()}


def release_to(state: dict) -> None:
    """Undo every ``acquire`` made since ``held()`` returned ``state`` (a command's end: what
    the command locked is released, what its caller held stays held)."""
    for folder in list(_held):
        while folder in _held and _held[folder][1] > state.get(folder, 0):
            release(folder)
