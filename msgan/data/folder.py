"""Find the training images in a folder and, for class folders, their labels.

Two layouts are understood (the ModelArts operator's): ``folder/*.jpg`` (unconditional) and
``folder/<class>/*.jpg`` (one sub-folder per class). Everything else that is seen but not used is
recorded in ``ImageSet.skipped`` with a reason, so the validation report can explain it. Links
to images or class folders outside the folder are followed (reading is harmless) and listed in
``ImageSet.outside``, so the report can say that training reads from elsewhere. The folder is
only ever read: no caches, thumbnails or index files are written into it.
"""
from __future__ import annotations

import dataclasses
import os
from dataclasses import dataclass, field
from typing import Dict, Iterable, List, Optional, Tuple

import numpy as np

from msgan.errors import MsganError

IMAGE_EXTENSIONS = (".jpg", ".jpeg", ".png", ".bmp", ".webp", ".tif", ".tiff", ".gif")

_LAYOUT_HINT = "lay it out as folder/*.jpg or folder/<class>/*.jpg"


@dataclass(frozen=True, eq=False)
class ImageSet:
    """Image files of one dataset. ``labels[i]`` indexes ``classes``; all 0 when unconditional."""
    root: str
    files: Tuple[str, ...]
    labels: np.ndarray = field(repr=False)
    classes: Tuple[str, ...] = ()
    skipped: Tuple[Tuple[str, str], ...] = ()
    # Links whose target lies outside ``root`` (path, target): used, but reported, because the
    # user may not know that training reads files from elsewhere.
    outside: Tuple[Tuple[str, str], ...] = ()
    # Bytes of each file when validation decoded it (None without validation): a file smaller
    # at load time was truncated since, and is left out rather than trusted.
    sizes: Optional[np.ndarray] = field(default=None, repr=False)

    @property
    def conditional(self) -> bool:
        return len(self.classes) > 0

    @property
    def layout(self) -> str:
        return "class-folders" if self.conditional else "single-level"

    def __len__(self) -> int:
        return len(self.files)

    def subset(self, indices: Iterable[int]) -> "ImageSet":
        """The same set restricted to ``indices`` (classes keep their order and index)."""
        idx = np.asarray(list(indices), dtype=np.int64)
        return ImageSet(self.root, tuple(self.files[i] for i in idx),
                        self.labels[idx].astype(np.int32), self.classes, self.skipped,
                        self.outside, None if self.sizes is None else self.sizes[idx])

    def with_sizes(self, sizes) -> "ImageSet":
        """The same set with each file's size in bytes as validation saw it."""
        return dataclasses.replace(self, sizes=np.asarray(sizes, dtype=np.int64))

    def counts(self) -> Dict[str, int]:
        """Images per class name, every class listed even when it has none; {"": n} if single-level."""
        if not self.conditional:
            return {"": len(self.files)}
        per = np.bincount(self.labels, minlength=len(self.classes))
        return {name: int(n) for name, n in zip(self.classes, per)}


def is_image_name(name: str) -> bool:
    return os.path.splitext(name)[1].lower() in IMAGE_EXTENSIONS


def _list_dir(path: str) -> List[os.DirEntry]:
    """Entries sorted by name so file order (and thus labels and sampling) is reproducible."""
    with os.scandir(path) as it:
        return sorted(it, key=lambda e: e.name)


def _kind(entry: os.DirEntry) -> str:
    """'dir', 'file' or 'other' (broken link, socket, ...), following symlinks."""
    try:
        if entry.is_dir():
            return "dir"
        if entry.is_file():
            return "file"
    except OSError:
        pass
    return "other"


def _leaves(entry: os.DirEntry, full: str, root_real: str) -> str:
    """The target of ``entry`` when it is a link that leaves ``root_real``, else ""."""
    try:
        if not entry.is_symlink():      # from the directory listing: no system call
            return ""
    except OSError:
        return ""
    target = os.path.realpath(full)
    return "" if os.path.commonpath([target, root_real]) == root_real else target


def _scan_level(path: str, skipped: List[Tuple[str, str]], root_real: str = "",
                outside: List[Tuple[str, str]] = None) -> Tuple[List[str], List[str]]:
    """Image files and sub-folders directly in ``path``; other visible entries go to ``skipped``,
    used links that leave ``root_real`` to ``outside``."""
    images, dirs = [], []
    for entry in _list_dir(path):
        if entry.name.startswith("."):
            continue
        full = os.path.join(path, entry.name)
        kind = _kind(entry)
        if outside is not None and (kind == "dir" or (kind == "file" and is_image_name(
                entry.name))):
            target = _leaves(entry, full, root_real)
            if target:
                outside.append((full, target))
        if kind == "dir":
            dirs.append(full)
        elif kind == "file" and is_image_name(entry.name):
            images.append(full)
        elif kind == "file":
            ext = os.path.splitext(entry.name)[1] or "no extension"
            skipped.append((full, f"not an image file name ({ext}); accepted: "
                                  f"{' '.join(IMAGE_EXTENSIONS)}"))
        else:
            skipped.append((full, "broken link or special file"))
    return images, dirs


def scan_folder(path: str) -> ImageSet:
    """Scan ``path`` (read-only) and return its images, labels and class names."""
    if not os.path.exists(path):
        raise MsganError(f"data path {path} does not exist — pass a folder of images "
                         f"({_LAYOUT_HINT}) or builtin:digits")
    if not os.path.isdir(path):
        raise MsganError(f"data path {path} is a file — pass the folder that holds the images "
                         f"({_LAYOUT_HINT})")
    root = os.path.abspath(path)
    root_real = os.path.realpath(root)
    skipped: List[Tuple[str, str]] = []
    outside: List[Tuple[str, str]] = []
    try:
        top_images, sub_dirs = _scan_level(root, skipped, root_real, outside)
    except OSError as e:
        raise MsganError(f"cannot read data folder {root} ({e.strerror or e}) — check its "
                         "permissions") from None

    # Symlinked folders are followed once: a link back to the root or to a folder already
    # scanned would otherwise count the same images twice (or loop forever if we recursed).
    visited = {os.path.realpath(root)}
    class_files: List[Tuple[str, List[str]]] = []
    for d in sub_dirs:
        real = os.path.realpath(d)
        if real in visited:
            skipped.append((d, "link to a folder that is already scanned (loop or duplicate)"))
            continue
        visited.add(real)
        inner_skipped: List[Tuple[str, str]] = []
        try:
            images, nested = _scan_level(d, inner_skipped, root_real, outside)
        except OSError as e:
            skipped.append((d, f"unreadable folder ({e.strerror or e})"))
            continue
        skipped.extend(inner_skipped)
        for n in nested:
            skipped.append((n, "nested folder not used; only folder/<class>/*.jpg is read"))
        if images:
            class_files.append((os.path.basename(d), images))
        else:
            skipped.append((d, "empty folder (no images directly inside)"))

    if class_files:
        for f in top_images:
            skipped.append((f, "image at the top level ignored because class folders exist"))
        classes = tuple(name for name, _ in class_files)
        files = tuple(f for _, fs in class_files for f in fs)
        labels = np.concatenate([np.full(len(fs), i, np.int32)
                                 for i, (_, fs) in enumerate(class_files)])
    elif top_images:
        classes, files = (), tuple(top_images)
        labels = np.zeros(len(files), np.int32)
    else:
        raise MsganError(f"no images found in {root} (accepted extensions: "
                         f"{' '.join(IMAGE_EXTENSIONS)}) — {_LAYOUT_HINT}")
    # Only links to what is used are worth a line: a skipped folder's or file's target is not read.
    used = set(files) | {os.path.join(root, c) for c in classes}
    return ImageSet(root, files, labels, classes, tuple(skipped),
                    tuple((p, t) for p, t in outside if p in used))
