"""Files that change under a run: an image that vanishes, shrinks or stops being readable between
validation and loading is left out and counted in validation.json; links that leave the data
folder are used and reported; the input is never modified."""
import json
import logging
import os

import numpy as np
import pytest
from PIL import Image

from msgan.config import load_config
from msgan.data import validate
from msgan.data.folder import scan_folder
from msgan.errors import MsganError
from msgan.train.tasks import noise


def make_folder(root, classes=("a", "b"), per_class=4, size=12):
    rng = np.random.default_rng(0)
    for name in classes:
        os.makedirs(root / name, exist_ok=True)
        for i in range(per_class):
            Image.fromarray(rng.integers(0, 255, (size, size, 3), dtype=np.uint8)).save(
                root / name / f"{i}.png")
    return root


def tree(root):
    return {os.path.relpath(os.path.join(d, f), root): os.path.getsize(os.path.join(d, f))
            for d, _, files in os.walk(root) for f in files}


def config(data, out, *more):
    return load_config(None, ["model.name=gan", f"data.path={data}", f"output_dir={out}",
                              "data.resolution=8", "train.progress=false", *more])


def change_after_validation(monkeypatch, change):
    """Run ``change()`` once validation has returned, before the images are loaded."""
    real = validate.do_validation

    def validate_then_change(*args, **kwargs):
        usable = real(*args, **kwargs)
        change()
        return usable
    monkeypatch.setattr(validate, "do_validation", validate_then_change)


def test_vanished_truncated_and_unreadable_files_are_left_out_and_counted(tmp_path, monkeypatch,
                                                                         caplog):
    data = make_folder(tmp_path / "data")
    out = tmp_path / "run"
    out.mkdir()

    def change():
        os.remove(data / "a" / "0.png")
        whole = (data / "a" / "1.png").read_bytes()
        (data / "a" / "1.png").write_bytes(whole[:len(whole) // 2])
        os.remove(data / "b" / "2.png")
        os.mkfifo(data / "b" / "2.png")      # open() would wait on it forever
        before.update(tree(data))
    before = {}
    change_after_validation(monkeypatch, change)
    with caplog.at_level(logging.WARNING, logger="msgan"):
        image_set, images, labels = noise.load_data(config(data, out), str(out))

    assert images.shape == (5, 3, 8, 8)
    assert labels.tolist() == [0, 0, 1, 1, 1]
    assert [os.path.relpath(f, data) for f in image_set.files] == \
        ["a/2.png", "a/3.png", "b/0.png", "b/1.png", "b/3.png"]
    report = json.loads((out / "validation.json").read_text())
    changed = {os.path.relpath(c["path"], data): c["reason"]
               for c in report["changed_since_scan"]}
    assert changed == {"a/0.png": "vanished", "a/1.png": "shrank", "b/2.png": "unreadable"}
    assert report["summary"]["kept"] == 5 and report["summary"]["changed_since_scan"] == 3
    assert report["counts"] == {"a": {"found": 4, "kept": 2}, "b": {"found": 4, "kept": 3}}
    assert "3 files changed after validation and were left out" in caplog.text
    assert "changed after validation" in validate.validation_summary(report)
    assert tree(data) == before             # nothing in the input was touched


def test_a_file_rewritten_with_garbage_of_the_same_size_is_left_out(tmp_path, monkeypatch):
    data = make_folder(tmp_path / "data", classes=("a",), per_class=3)
    out = tmp_path / "run"
    out.mkdir()
    size = os.path.getsize(data / "a" / "1.png")
    change_after_validation(monkeypatch, lambda: (data / "a" / "1.png").write_bytes(
        b"\0" * (size + 10)))
    image_set, images, _ = noise.load_data(config(data, out), str(out))
    assert len(images) == 2
    report = json.loads((out / "validation.json").read_text())
    assert [c["reason"] for c in report["changed_since_scan"]] == ["corrupt"]


def test_too_few_images_left_after_changes_is_the_usual_error(tmp_path, monkeypatch):
    data = make_folder(tmp_path / "data", per_class=2)
    out = tmp_path / "run"
    out.mkdir()
    change_after_validation(monkeypatch, lambda: os.remove(data / "b" / "0.png"))
    with pytest.raises(MsganError, match=r"class 'b' has 1 usable image; at least 2 are needed"):
        noise.load_data(config(data, out), str(out))
    report = json.loads((out / "validation.json").read_text())
    assert report["summary"]["changed_since_scan"] == 1


def test_changed_files_are_left_out_when_streaming_from_the_cache(tmp_path, monkeypatch):
    data = make_folder(tmp_path / "data")
    out = tmp_path / "run"
    out.mkdir()
    change_after_validation(monkeypatch, lambda: os.remove(data / "b" / "3.png"))
    _, images, labels = noise.load_data(config(data, out, "data.preload_limit_gib=0"), str(out))
    assert len(images) == 7 and labels.tolist() == [0] * 4 + [1] * 3
    assert os.listdir(out / "cache")            # streamed from the decoded cache
    report = json.loads((out / "validation.json").read_text())
    assert [c["reason"] for c in report["changed_since_scan"]] == ["vanished"]


def test_links_that_leave_the_folder_are_used_and_reported(tmp_path):
    data = make_folder(tmp_path / "data")
    elsewhere = make_folder(tmp_path / "elsewhere", classes=("c", "x"), per_class=3)
    os.symlink(elsewhere / "x" / "0.png", data / "a" / "linked.png")
    os.symlink(elsewhere / "c", data / "c")                     # a whole class folder
    os.symlink(data / "b" / "0.png", data / "a" / "inside.png")   # stays inside: not reported
    image_set = scan_folder(str(data))
    assert image_set.classes == ("a", "b", "c")
    assert sorted(os.path.relpath(p, data) for p, _ in image_set.outside) == ["a/linked.png", "c"]
    assert dict(image_set.outside)[str(data / "c")] == str(elsewhere / "c")

    report_path = tmp_path / "validation.json"
    usable = validate.do_validation(image_set, 8, 3, report_path=str(report_path))
    assert str(data / "a" / "linked.png") in usable.files      # used: reading is harmless
    report = json.loads(report_path.read_text())
    assert len(report["outside_folder"]) == 2 and report["summary"]["outside_folder"] == 2
    summary = validate.validation_summary(report)
    assert "2 links in the data folder lead outside it and are used" in summary


def test_a_folder_without_links_out_reports_none(tmp_path):
    data = make_folder(tmp_path / "data")
    report_path = tmp_path / "v.json"
    validate.do_validation(scan_folder(str(data)), 8, 3, report_path=str(report_path))
    report = json.loads(report_path.read_text())
    assert report["outside_folder"] == [] and "outside_folder" not in report["summary"]
    assert "outside" not in validate.validation_summary(report)


def test_no_image_left_after_changes_names_every_reason(tmp_path, monkeypatch):
    data = make_folder(tmp_path / "data", classes=("a",), per_class=2)
    (data / "a" / "empty.png").write_bytes(b"")
    out = tmp_path / "run"
    out.mkdir()
    change_after_validation(monkeypatch, lambda: [os.remove(data / "a" / f"{i}.png")
                                                  for i in range(2)])
    with pytest.raises(MsganError, match=r"no usable images .* all 3 files have problems "
                                         r"\(vanished: 2, zero_bytes: 1\)"):
        noise.load_data(config(data, out), str(out))
