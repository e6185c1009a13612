"""The decoded cache: a folder's images decoded once into one uint8 (N, C, R, R) file that
training maps from disk instead of holding in memory.

Used for folders above ``data.preload_limit_gib`` (see ``msgan/data/store.py``). The file lives
in the run's ``cache/`` folder, never in the input folder, under a key made of the image paths,
their sizes and modification times, the resolution, the channels and the resize mode: a resumed
run over an unchanged folder maps the same file instead of decoding again, and any change to the
folder or to those settings builds a new one (the old one is removed: one cache per run folder).

Written atomically: rows go to a temporary file that is renamed when complete, and the JSON
beside it, written last, is what makes a cache valid. An exclusive lock (``flock``, released by
the kernel when its process dies) lets one process of a data-parallel run build it while the
others wait and then map the same file.
"""
from __future__ import annotations

import contextlib
import errno
import fcntl
import hashlib
import json
import mmap
import os
from typing import Dict, Iterable, Iterator, List, Optional, Tuple

import numpy as np

from msgan.errors import MsganError
from msgan.io import atomic_path, write_json

FORMAT = 1
PREFIX = "images-"


def cache_key(files: Iterable[str], resolution: int, channels: int, resize: str) -> str:
    """A name for the decoded form of ``files``: paths, sizes, modification times, settings."""
    h = hashlib.blake2b(digest_size=12)
    h.update(json.dumps([FORMAT, int(resolution), int(channels), resize]).encode())
    for path in files:
        try:
            st = os.stat(path)
            stamp = f"{st.st_size}:{st.st_mtime_ns}"
        except OSError:
            stamp = "missing"
        h.update(os.fsencode(path) + b"\0" + stamp.encode() + b"\n")
    return h.hexdigest()


def paths(cache_dir: str, key: str) -> Tuple[str, str]:
    """(data file, JSON that makes it valid) of ``key`` in ``cache_dir``."""
    stem = os.path.join(cache_dir, PREFIX + key)
    return stem + ".u8", stem + ".json"


@contextlib.contextmanager
def building_lock(cache_dir: str) -> Iterator[None]:
    """Hold ``cache_dir``'s lock: one builder at a time; the kernel drops it if we die."""
    os.makedirs(cache_dir, exist_ok=True)
    fd = os.open(os.path.join(cache_dir, ".lock"), os.O_RDWR | os.O_CREAT, 0o644)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        yield
    finally:
        os.close(fd)       # closing releases the lock


def read_meta(cache_dir: str, key: str, row_bytes: int) -> Optional[Dict]:
    """The cache's JSON when the cache is complete and matches its data file, else None."""
    data, meta_path = paths(cache_dir, key)
    try:
        with open(meta_path, encoding="utf-8") as f:
            meta = json.load(f)
        size = os.path.getsize(data)
    except (OSError, ValueError):
        return None
    if meta.get("format") != FORMAT or meta.get("key") != key:
        return None
    if size != len(meta.get("kept", ())) * row_bytes:
        return None
    return meta


def write(cache_dir: str, key: str, shape: Tuple[int, int, int], rows: Iterable[np.ndarray],
          extra: Dict, expected: int) -> Dict:
    """Write ``rows`` (uint8 (C, R, R) each, streamed: one row in memory at a time; at most
    ``expected``) as the cache of ``key``; ``extra`` (kept indices, changed files) is read once
    ``rows`` is exhausted and stored in its JSON. Call it holding ``building_lock``: what a
    killed builder left and the caches of other keys are removed."""
    data, meta_path = paths(cache_dir, key)
    for name in os.listdir(cache_dir):
        if name.startswith(".tmp-") and name.endswith(".u8"):   # a killed build's rows
            with contextlib.suppress(OSError):
                os.remove(os.path.join(cache_dir, name))
    remove_others(cache_dir, key)
    need = expected * int(np.prod(shape))
    free = _free_bytes(cache_dir)
    if free is not None and need > free:
        raise MsganError(f"the decoded images need {need / 1024 ** 3:.1f} GiB in {cache_dir} but "
                         f"only {free / 1024 ** 3:.1f} GiB are free — free disk space there, use "
                         "another output_dir, or a lower data.resolution")
    count = 0
    try:
        with atomic_path(data, suffix=".u8") as tmp:
            with open(tmp, "wb") as f:
                for row in rows:
                    if row.shape != shape or row.dtype != np.uint8:
                        raise ValueError(f"cache row {row.dtype} {row.shape}, expected {shape}")
                    f.write(row.tobytes())
                    count += 1
                f.flush()
                os.fsync(f.fileno())
    except OSError as e:
        if e.errno in (errno.ENOSPC, errno.EDQUOT):
            raise MsganError(f"no space left in {cache_dir} for the decoded images ({e.strerror})"
                             " — free disk space there, or raise data.preload_limit_gib to keep "
                             "them in memory if the machine has the RAM") from None
        raise MsganError(f"cannot write the decoded images to {cache_dir} ({e.strerror or e}) "
                         "— check that the output folder is writable") from None
    meta = {"format": FORMAT, "key": key, "shape": [count, *shape], **extra}
    if len(meta.get("kept", ())) != count:
        raise ValueError("extra['kept'] must list one index per row written")
    write_json(meta_path, meta)
    return meta


def _free_bytes(folder: str) -> Optional[int]:
    try:
        st = os.statvfs(folder)
    except OSError:
        return None
    return st.f_bavail * st.f_frsize


def remove_others(cache_dir: str, key: str) -> None:
    """Delete the caches of other keys (older data or settings) from ``cache_dir``."""
    keep = {os.path.basename(p) for p in paths(cache_dir, key)}
    for name in os.listdir(cache_dir):
        if name.startswith(PREFIX) and name not in keep:
            with contextlib.suppress(OSError):
                os.remove(os.path.join(cache_dir, name))


def open_images(cache_dir: str, key: str, meta: Dict) -> np.ndarray:
    """The cache as a read-only uint8 (N, C, R, R) array mapped from its file."""
    data, _ = paths(cache_dir, key)
    shape = tuple(int(x) for x in meta["shape"])
    if shape[0] == 0:
        return np.zeros(shape, np.uint8)
    with open(data, "rb") as f:
        mapped = mmap.mmap(f.fileno(), 0, access=mmap.ACCESS_READ)
    if hasattr(mmap, "MADV_RANDOM"):
        mapped.madvise(mmap.MADV_RANDOM)     # batches read scattered rows: no read-ahead
    return np.frombuffer(mapped, np.uint8).reshape(shape)


def mapping_of(images: np.ndarray) -> Optional[mmap.mmap]:
    """The file mapping behind ``images`` (a cache array or a view of one), or None."""
    obj = images
    for _ in range(16):
        if isinstance(obj, mmap.mmap):
            return obj
        if isinstance(obj, memoryview):
            obj = obj.obj
        elif isinstance(obj, np.ndarray):
            obj = obj.base
        else:
            return None
    return None


def release(mapped: Optional[mmap.mmap]) -> None:
    """Drop the pages of ``mapped`` that this process has touched from its resident memory.

    Pages read through a mapping count in the process's RSS until the kernel needs them back;
    over an epoch that would be the whole file. The data stay in the page cache, so reading
    them again costs a page fault, not a disk read."""
    if mapped is not None and hasattr(mmap, "MADV_DONTNEED"):
        mapped.madvise(mmap.MADV_DONTNEED)


def kept_rows(meta: Dict) -> np.ndarray:
    return np.asarray(meta["kept"], dtype=np.int64)


def changes(meta: Dict) -> List[Dict]:
    return list(meta.get("changed", []))
