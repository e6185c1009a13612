"""do_validation on a folder of deliberately broken and unusual files: report, counts, errors."""
import hashlib
import io
import json
import os

import numpy as np
import pytest
from PIL import Image

from msgan.data import validate
from msgan.data.folder import scan_folder
from msgan.data.pipeline import load_images
from msgan.data.validate import check_image, do_validation, validation_summary
from msgan.errors import MsganError


def _save(img, path, **kw):
    os.makedirs(os.path.dirname(path), exist_ok=True)
    img.save(path, **kw)


def _write(path, data):
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with open(path, "wb") as f:
        f.write(data)


def _noise(size, mode="RGB", seed=0):
    rng = np.random.default_rng(seed)
    shape = (size[1], size[0], 3) if mode == "RGB" else (size[1], size[0])
    return Image.fromarray(rng.integers(0, 256, shape, dtype=np.uint8), mode)


def _truncated_jpeg():
    buf = io.BytesIO()
    _noise((64, 64)).save(buf, format="JPEG", quality=95)
    return buf.getvalue()[: len(buf.getvalue()) // 2]


def _exif_jpeg(path):
    exif = Image.Exif()
    exif[0x0112] = 6   # orientation: rotate 90° clockwise to display
    _save(_noise((40, 20)), path, format="JPEG", exif=exif.tobytes())


def make_messy(root):
    """A class-folder tree with every kind of file the validator must cope with."""
    c = os.path.join(root, "cats")
    _save(_noise((32, 24)), os.path.join(c, "good.png"))
    _save(_noise((24, 32), seed=1), os.path.join(c, "chat é 1.jpg"), quality=90)
    _save(Image.new("RGBA", (20, 20), (255, 0, 0, 0)), os.path.join(c, "rgba.png"))
    pal = Image.new("P", (20, 20), 0)
    pal.putpalette([0, 0, 0, 255, 0, 0] + [0] * 762)
    _save(pal, os.path.join(c, "palette.png"), transparency=0)
    _save(Image.new("CMYK", (30, 20), (0, 255, 255, 0)), os.path.join(c, "cmyk.jpg"))
    _exif_jpeg(os.path.join(c, "exif.jpg"))
    _save(Image.fromarray(np.full((20, 20), 40000, np.uint16)),   # mode I;16
          os.path.join(c, "sixteen.png"))
    _write(os.path.join(c, "zero.jpg"), b"")
    _write(os.path.join(c, "text.png"), b"this is not a png\n")
    _write(os.path.join(c, "trunc.jpg"), _truncated_jpeg())
    _save(Image.new("RGB", (1, 1), (9, 9, 9)), os.path.join(c, "tiny.png"))
    for name in ("a.png", "b.png"):
        _save(_noise((16, 16), seed=3), os.path.join(root, "dogs", name))
    os.makedirs(os.path.join(root, "empty"))
    _write(os.path.join(root, "notes.txt"), b"hello")
    _write(os.path.join(root, ".hidden.png"), b"")
    return root


def tree_digest(root):
    """Every name, link target and file content under root (without following links)."""
    out = {}
    for dirpath, dirnames, filenames in os.walk(root):
        for name in sorted(dirnames + filenames):
            p = os.path.join(dirpath, name)
            rel = os.path.relpath(p, root)
            if os.path.islink(p):
                out[rel] = "link:" + os.readlink(p)
            elif os.path.isfile(p):
                with open(p, "rb") as f:
                    out[rel] = hashlib.sha256(f.read()).hexdigest()
            else:
                out[rel] = "dir"
    return out


def test_messy_folder_report(tmp_path):
    root = make_messy(str(tmp_path / "in"))
    report_path = str(tmp_path / "out" / "validation.json")
    s = scan_folder(root)
    usable = do_validation(s, resolution=16, channels=3, report_path=report_path)

    kept = sorted(os.path.basename(f) for f in usable.files)
    assert kept == sorted(["good.png", "chat é 1.jpg", "rgba.png", "palette.png", "cmyk.jpg",
                           "exif.jpg", "sixteen.png", "a.png", "b.png"])
    assert usable.classes == ("cats", "dogs")
    assert usable.counts() == {"cats": 7, "dogs": 2}

    with open(report_path, encoding="utf-8") as f:
        r = json.load(f)
    assert r["root"] == root and r["layout"] == "class-folders"
    assert r["resolution"] == 16 and r["channels"] == 3
    assert r["counts"] == {"cats": {"found": 11, "kept": 7}, "dogs": {"found": 2, "kept": 2}}
    problems = {os.path.basename(p["file"]): p["problem"] for p in r["problems"]}
    assert problems == {"zero.jpg": "zero_bytes", "text.png": "not_an_image",
                        "trunc.jpg": "corrupt", "tiny.png": "too_small"}
    assert all(p["detail"] for p in r["problems"])
    skipped = {os.path.basename(x["path"]) for x in r["skipped"]}
    assert skipped == {"empty", "notes.txt"}
    assert r["summary"] == {"found": 13, "kept": 9, "problems": 4, "skipped": 2}
    assert "class 'cats' has 7 usable images; at least 70 per class are recommended" \
        in r["warnings"]
    assert not any("upscaled" in w for w in r["warnings"])   # median side 20 >= 16 / 2

    text = validation_summary(r)
    assert 1 <= len(text.splitlines()) <= 3
    assert "9 of 13" in text and "2 classes" in text and "zero_bytes: 1" in text


def test_input_folder_is_untouched(tmp_path):
    root = make_messy(str(tmp_path / "in"))
    os.symlink(root, os.path.join(root, "cats", "loop"))
    before = tree_digest(root)
    s = scan_folder(root)
    usable = do_validation(s, 16, 1, report_path=str(tmp_path / "validation.json"))
    load_images(usable, 16, 1, "pad")
    assert tree_digest(root) == before


def test_upscale_and_small_dataset_warnings(tmp_path):
    for i in range(3):
        _save(_noise((12, 20), seed=i), str(tmp_path / "d" / f"{i}.png"))
    s = scan_folder(str(tmp_path / "d"))
    usable = do_validation(s, resolution=64, channels=1, report_path=str(tmp_path / "v.json"),
                           model="dcgan", ranges={"dcgan": (32, 256)})
    assert len(usable) == 3 and not usable.conditional
    r = json.loads((tmp_path / "v.json").read_text())
    assert r["layout"] == "single-level" and r["counts"] == {"": {"found": 3, "kept": 3}}
    assert any("upscaled" in w and "12 px" in w and "data.resolution=32 (dcgan builds 32 to 256)"
               in w for w in r["warnings"])
    assert any("3 usable images; at least 70" in w for w in r["warnings"])


def test_min_size_is_configurable(tmp_path):
    _save(_noise((10, 30)), str(tmp_path / "d" / "a.png"))
    _save(_noise((30, 30)), str(tmp_path / "d" / "b.png"))
    s = scan_folder(str(tmp_path / "d"))
    assert len(do_validation(s, 16, 3, min_size=8)) == 2
    usable = do_validation(s, 16, 3, min_size=11, report_path=str(tmp_path / "v.json"))
    assert [os.path.basename(f) for f in usable.files] == ["b.png"]
    (p,) = json.loads((tmp_path / "v.json").read_text())["problems"]
    assert p["problem"] == "too_small" and "10x30" in p["detail"]


def test_too_large(tmp_path, monkeypatch):
    monkeypatch.setattr(validate, "MAX_PIXELS", 500)   # a real 100 MP file is too slow to make
    _save(_noise((30, 20)), str(tmp_path / "big.png"))
    problem, _ = check_image(str(tmp_path / "big.png"), 3, 8)
    assert problem["problem"] == "too_large" and "30x20" in problem["detail"]


def test_unreadable_file(tmp_path):
    problem, _ = check_image(str(tmp_path / "gone.png"), 3, 8)
    assert problem["problem"] == "unreadable"


def test_class_with_one_usable_image_is_an_error(tmp_path):
    root = tmp_path / "in"
    for i in range(2):
        _save(_noise((16, 16), seed=i), str(root / "big" / f"{i}.png"))
    _save(_noise((16, 16)), str(root / "lonely" / "1.png"))
    _write(str(root / "lonely" / "2.jpg"), b"")
    report = str(tmp_path / "validation.json")
    with pytest.raises(MsganError) as e:
        do_validation(scan_folder(str(root)), 16, 3, report_path=report)
    msg = str(e.value)
    assert "'lonely'" in msg and report in msg and "\n" not in msg
    r = json.loads(open(report, encoding="utf-8").read())   # written before raising
    assert r["counts"]["lonely"] == {"found": 2, "kept": 1}


def test_nothing_usable_is_an_error(tmp_path):
    root = tmp_path / "in"
    _write(str(root / "a.jpg"), b"")
    _write(str(root / "b.png"), b"GIF89a not really")
    report = str(tmp_path / "validation.json")
    with pytest.raises(MsganError) as e:
        do_validation(scan_folder(str(root)), 16, 3, report_path=report)
    assert "no usable images" in str(e.value) and "zero_bytes: 1" in str(e.value)
    assert json.loads(open(report).read())["summary"]["kept"] == 0


@pytest.mark.skipif(os.name != "posix", reason="needs byte file names")
def test_undecodable_file_names(tmp_path):
    root = os.path.join(os.fsencode(str(tmp_path)), b"in")
    os.makedirs(root)
    Image.new("RGB", (10, 10)).save(os.path.join(root, b"caf\xe9 1.png"), format="PNG")
    Image.new("RGB", (10, 10)).save(os.path.join(root, b"ok.png"), format="PNG")
    open(os.path.join(root, b"zero\xff.png"), "wb").close()
    report = str(tmp_path / "v.json")
    usable = do_validation(scan_folder(os.fsdecode(root)), 8, 3, report_path=report)
    assert len(usable) == 2
    r = json.loads(open(report, encoding="utf-8").read())   # still valid UTF-8 JSON
    assert r["problems"][0]["problem"] == "zero_bytes"
    assert load_images(usable, 8, 3)[0].shape == (2, 3, 8, 8)
    text = validation_summary(r)
    assert "2 of 3" in text and "1 file left out" in text


def test_report_inside_input_is_refused(tmp_path):
    _save(_noise((16, 16)), str(tmp_path / "a.png"))
    _save(_noise((16, 16)), str(tmp_path / "b.png"))
    with pytest.raises(MsganError, match="never writes"):
        do_validation(scan_folder(str(tmp_path)), 16, 3,
                      report_path=str(tmp_path / "validation.json"))
    assert not (tmp_path / "validation.json").exists()


def test_upscale_advice_names_only_resolutions_the_model_builds():
    import re

    from msgan.data.validate import upscale_advice
    from msgan.models import MODELS

    ranges = {name: spec.resolution for name, spec in MODELS.items()}
    noise = {name: spec.resolution for name, spec in MODELS.items() if spec.task == "noise"}
    # the demo: 8 px digits with dcgan, whose smallest resolution is 32 — nothing to change
    warning, note = upscale_advice(8, 32, "dcgan", ranges)
    assert warning == "" and "smallest resolution dcgan builds" in note and "4x" in note
    assert upscale_advice(8, 32, "gan", ranges)[0].endswith(
        "consider data.resolution=8 (gan builds 4 to 256)")
    assert "data.resolution=32" in upscale_advice(12, 128, "dcgan", ranges)[0]
    assert upscale_advice(20, 32, "dcgan", ranges) == ("", "")       # at most 2x: fine
    assert upscale_advice(8, 64, None, noise)[0].endswith(            # msgan validate
        "if the model allows it (smallest: gan 4, stylegan2 8, dcgan 32)")
    for model, (lo, hi) in ranges.items():
        for median in (1, 3, 8, 20, 50):
            for r in (lo, min(4 * lo, hi), hi):
                warning, _ = upscale_advice(median, r, model, ranges)
                for value in re.findall(r"data\.resolution=(\d+)", warning):
                    assert lo <= int(value) < r, (model, median, r, warning)
