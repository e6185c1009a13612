"""Folders of images → uint8 arrays (+ labels) → feature arrays, for either extractor."""
from __future__ import annotations

import os
from dataclasses import dataclass
from typing import Tuple

import numpy as np

from msgan.data.folder import scan_folder
from msgan.data.pipeline import load_images
from msgan.errors import MsganError


@dataclass(frozen=True, eq=False)
class FolderImages:
    """All images of one folder at one resolution. ``classes == ()`` for a single-level folder."""
    root: str
    images: np.ndarray      # uint8 (N, C, R, R)
    labels: np.ndarray      # int32 (N,), indexes ``classes``
    classes: Tuple[str, ...]

    @property
    def conditional(self) -> bool:
        return len(self.classes) > 0

    def of_class(self, name: str) -> np.ndarray:
        return self.images[self.labels == self.classes.index(name)]


def load_folder(path: str, resolution: int, channels: int = 3, what: str = "image",
                progress: bool = False, resize: str = "crop") -> FolderImages:
    """Read ``path`` (folder/*.png or folder/<class>/*.png), every image resized to R×R
    (``resize``: as ``data.resize``)."""
    if not path or not os.path.isdir(path):
        state = "is not a folder" if path and os.path.exists(path) else "does not exist"
        raise MsganError(f"{what} folder {path!r} {state} — pass a folder of images "
                         "(folder/*.png or folder/<class>/*.png)")
    if resolution < 8:
        raise MsganError(f"resolution {resolution} is too small to compare images — use 8 or more")
    image_set = scan_folder(path)
    images, labels = load_images(image_set, resolution, channels, resize, progress=progress)
    return FolderImages(image_set.root, images, labels, tuple(image_set.classes))


def generated_root(path: str) -> str:
    """A generated-images folder; an msgan output folder is read from its ``Data/`` part."""
    data = os.path.join(path, "Data") if path else ""
    return data if data and os.path.isdir(data) else path


def match_classes(real: FolderImages, fake: FolderImages) -> dict:
    """Class names shared by both folders (real's order) and those found on one side only."""
    if not (real.conditional and fake.conditional):
        return {"common": [], "real_only": list(real.classes), "generated_only": list(fake.classes)}
    return {"common": [c for c in real.classes if c in fake.classes],
            "real_only": [c for c in real.classes if c not in fake.classes],
            "generated_only": [c for c in fake.classes if c not in real.classes]}
