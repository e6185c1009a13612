"""scan_folder: both layouts, what gets skipped and why, links, odd names, error messages."""
import os

import numpy as np
import pytest
from PIL import Image

from msgan.data.folder import scan_folder
from msgan.errors import MsganError


def _png(path, size=(12, 10), value=128):
    os.makedirs(os.path.dirname(path), exist_ok=True)
    Image.new("RGB", size, (value, value, value)).save(path)


def _touch(path, data=b"x"):
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with open(path, "wb") as f:
        f.write(data)


def _reasons(image_set):
    return {os.path.relpath(p, image_set.root): r for p, r in image_set.skipped}


def test_single_level(tmp_path):
    for name in ("b.png", "a.JPG", "c d é.jpeg", "x.webp"):
        _png(str(tmp_path / name))
    _touch(str(tmp_path / "notes.txt"))
    _touch(str(tmp_path / ".hidden.png"))
    os.makedirs(tmp_path / ".git")
    s = scan_folder(str(tmp_path))
    assert not s.conditional and s.classes == () and s.layout == "single-level"
    assert [os.path.basename(f) for f in s.files] == ["a.JPG", "b.png", "c d é.jpeg", "x.webp"]
    assert all(os.path.isabs(f) and os.path.isfile(f) for f in s.files)
    assert s.labels.dtype == np.int32 and s.labels.tolist() == [0, 0, 0, 0]
    assert s.counts() == {"": 4}
    reasons = _reasons(s)
    assert list(reasons) == ["notes.txt"]            # hidden entries are not even listed
    assert "not an image" in reasons["notes.txt"]


def test_class_folders_sorted_with_labels(tmp_path):
    for cls, n in (("zebra", 2), ("ant", 3), ("Émile dog", 1)):
        for i in range(n):
            _png(str(tmp_path / cls / f"{i}.png"))
    os.makedirs(tmp_path / "empty")
    _png(str(tmp_path / "stray.png"))                  # top level next to class folders
    _png(str(tmp_path / "ant" / "deeper" / "x.png"))   # third level
    s = scan_folder(str(tmp_path))
    assert s.conditional and s.layout == "class-folders"
    assert s.classes == tuple(sorted(["zebra", "ant", "Émile dog"]))
    assert s.counts() == {"ant": 3, "zebra": 2, "Émile dog": 1}
    for f, lab in zip(s.files, s.labels):
        assert os.path.basename(os.path.dirname(f)) == s.classes[lab]
    assert list(s.labels) == sorted(s.labels)          # grouped by class, classes in order
    reasons = _reasons(s)
    assert "empty" in reasons["empty"]
    assert "top level" in reasons["stray.png"]
    assert "nested" in reasons[os.path.join("ant", "deeper")]
    assert len(reasons) == 3


def test_subset_keeps_classes(tmp_path):
    for cls in ("a", "b"):
        for i in range(2):
            _png(str(tmp_path / cls / f"{i}.png"))
    s = scan_folder(str(tmp_path))
    sub = s.subset([0, 1])
    assert sub.classes == ("a", "b") and sub.counts() == {"a": 2, "b": 0}
    assert sub.files == s.files[:2] and sub.labels.dtype == np.int32


def test_symlink_loops_are_not_followed_twice(tmp_path):
    root = tmp_path / "data"
    _png(str(root / "cat" / "1.png"))
    _png(str(root / "cat" / "2.png"))
    os.symlink(str(root), str(root / "loop"))                 # class folder linking to the root
    os.symlink(str(root / "cat"), str(root / "cat_again"))    # duplicate of a class
    os.symlink(str(root), str(root / "cat" / "up"))           # link inside a class
    os.symlink(str(tmp_path / "missing"), str(root / "cat" / "dangling.png"))
    s = scan_folder(str(root))
    assert s.classes == ("cat",) and len(s.files) == 2
    reasons = _reasons(s)
    assert "already scanned" in reasons["loop"]
    assert "already scanned" in reasons["cat_again"]
    assert "nested" in reasons[os.path.join("cat", "up")]
    assert "broken link" in reasons[os.path.join("cat", "dangling.png")]


def test_symlinked_class_folder_outside_root_is_used(tmp_path):
    _png(str(tmp_path / "elsewhere" / "1.png"))
    _png(str(tmp_path / "data" / "a" / "1.png"))
    os.symlink(str(tmp_path / "elsewhere"), str(tmp_path / "data" / "b"))
    s = scan_folder(str(tmp_path / "data"))
    assert s.classes == ("a", "b") and s.counts() == {"a": 1, "b": 1}


def test_unreadable_class_folder_is_skipped(tmp_path, monkeypatch):
    _png(str(tmp_path / "good" / "1.png"))
    _png(str(tmp_path / "locked" / "1.png"))
    # Tests may run as root, where chmod 000 does not stop reading; fail os.scandir instead.
    real_scandir = os.scandir
    locked = str(tmp_path / "locked")

    def scandir(path):
        if os.fspath(path) == locked:
            raise PermissionError(13, "Permission denied", locked)
        return real_scandir(path)

    monkeypatch.setattr(os, "scandir", scandir)
    s = scan_folder(str(tmp_path))
    assert s.classes == ("good",)
    assert "unreadable" in _reasons(s)["locked"] and "Permission denied" in _reasons(s)["locked"]


@pytest.mark.parametrize("case", ["missing", "file", "empty", "no_images", "too_deep"])
def test_errors_are_one_line(tmp_path, case):
    path = tmp_path / "d"
    if case == "file":
        _touch(str(path))
    elif case == "empty":
        os.makedirs(path)
    elif case == "no_images":
        _touch(str(path / "readme.txt"))
    elif case == "too_deep":
        _png(str(path / "a" / "b" / "1.png"))
    with pytest.raises(MsganError) as e:
        scan_folder(str(path))
    msg = str(e.value)
    assert "\n" not in msg and str(path) in msg and " — " in msg
    expected = {"missing": "does not exist", "file": "is a file"}.get(case, "no images found")
    assert expected in msg
    if expected == "no images found":
        assert ".jpg" in msg and ".png" in msg and "folder/<class>/*.jpg" in msg
