"""The training images of a validated folder as one uint8 (N, C, R, R) array: decoded into
memory when they fit under ``data.preload_limit_gib``, else decoded once into the run's cache
file (data/cache.py) and mapped from disk, so memory does not grow with the folder.

Both go through the same decode loop and give the sampler the same array, bit for bit: only
where the rows live differs. A file that validation accepted but that has since vanished,
shrunk or stopped decoding is left out and returned in ``changed`` (one entry per file), so a
folder that changes under a run costs lines in validation.json, not the run.
"""
from __future__ import annotations

import logging
import os
from dataclasses import dataclass
from typing import Dict, Iterator, List, Optional

import numpy as np

from msgan.data import cache
from msgan.data.folder import ImageSet
from msgan.data.pipeline import load_image, read_validated

log = logging.getLogger("msgan")

GIB = 1024 ** 3


@dataclass
class TrainingImages:
    images: np.ndarray              # uint8 (N, C, R, R), in memory or mapped from the cache
    labels: np.ndarray              # int32 (N,)
    image_set: ImageSet             # the files the rows come from, in row order
    changed: List[Dict]             # files left out: {path, reason, detail}
    cache_file: Optional[str] = None   # the mapped file, when streamed from disk


def decoded_bytes(n: int, resolution: int, channels: int) -> int:
    return int(n) * int(channels) * int(resolution) ** 2


def load_training_images(image_set: ImageSet, resolution: int, channels: int, resize: str,
                         preload_limit: float, cache_dir: str, progress: bool = False,
                         skip_changed: bool = True) -> TrainingImages:
    """Decode ``image_set`` for training (see the module docstring); ``preload_limit`` in bytes.

    ``skip_changed`` leaves out files that changed since validation (their sizes are in
    ``image_set.sizes``); without it (no validation) an unreadable file is an error."""
    n = len(image_set.files)
    need = decoded_bytes(n, resolution, channels)
    if need <= preload_limit:
        out = np.empty((n, channels, resolution, resolution), np.uint8)
        kept, changed = [], []
        for j, row in enumerate(_rows(image_set, resolution, channels, resize, kept, changed,
                                      skip_changed, progress, "loading images")):
            out[j] = row
        images = out if len(kept) == n else out[:len(kept)]   # a view: no second copy
        return _result(image_set, images, kept, changed, None)

    key = cache.cache_key(image_set.files, resolution, channels, resize)
    data_file, _ = cache.paths(cache_dir, key)
    row_bytes = decoded_bytes(1, resolution, channels)
    # One process builds, the others of a data-parallel run wait here, then map its file.
    with cache.building_lock(cache_dir):
        meta = cache.read_meta(cache_dir, key, row_bytes)
        if meta is None:
            log.info("%d images need %.1f GiB decoded, over data.preload_limit_gib=%g: "
                     "decoding them once into %s and streaming batches from it",
                     n, need / GIB, preload_limit / GIB, data_file)
            kept, changed = [], []
            rows = _rows(image_set, resolution, channels, resize, kept, changed, skip_changed,
                         progress, "decoding to cache")
            meta = cache.write(cache_dir, key, (channels, resolution, resolution), rows,
                               {"kept": kept, "changed": changed}, expected=n)
        else:
            log.info("streaming %d decoded images from %s (built earlier for this folder and "
                     "these data settings)", len(meta["kept"]), data_file)
    images = cache.open_images(cache_dir, key, meta)
    return _result(image_set, images, list(meta["kept"]), cache.changes(meta), data_file)


def _result(image_set, images, kept, changed, cache_file) -> TrainingImages:
    used = image_set.subset(kept) if len(kept) != len(image_set.files) else image_set
    return TrainingImages(images, np.asarray(used.labels, np.int32).copy(), used, changed,
                          cache_file)


def _rows(image_set: ImageSet, resolution: int, channels: int, resize: str, kept: List[int],
          changed: List[Dict], skip_changed: bool, progress: bool,
          desc: str) -> Iterator[np.ndarray]:
    """Every usable file as uint8 (C, R, R), in order; appends its index to ``kept``, or what
    happened to it to ``changed``."""
    files = image_set.files
    if progress:
        from msgan.progress import Bar
        files = Bar(files, desc=desc, unit="img")
    sizes = image_set.sizes
    for i, path in enumerate(files):
        if not skip_changed:
            row = load_image(path, resolution, channels, resize)
        else:
            size = None if sizes is None else int(sizes[i])
            row, change = read_validated(path, resolution, channels, resize, size)
            if row is None:
                changed.append(change)
                continue
        kept.append(i)
        yield row
