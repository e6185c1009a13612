"""Image-to-image layouts on tiny generated folders: scanning, validation, loading, sampling."""
import json
import os

import numpy as np
import pytest
from PIL import Image

from msgan.config import DataConfig
from msgan.data.pairs import (PairSampler, hold_out, load_split, open_pairs, pairs_summary,
                              scan_pairs, validate_pairs)
from msgan.errors import MsganError
from test_data_validate import tree_digest


def _save(a, path):
    """uint8 (H, W, 3) array as a PNG, folders created."""
    os.makedirs(os.path.dirname(path), exist_ok=True)
    Image.fromarray(a).save(path)


def _write(path, data):
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with open(path, "wb") as f:
        f.write(data)


def _pattern(i, h=32, w=32):
    """Every pixel says where it is: R = 7·y, G = 7·x, B = 20·image index."""
    y, x = np.mgrid[0:h, 0:w]
    return np.stack([(7 * y) % 256, (7 * x) % 256, np.full_like(y, 20 * i)], -1).astype(np.uint8)


def _ab(i, size=32):
    """An A|B image: A is the pattern, B its negative, side by side."""
    a = _pattern(i, size, size)
    return np.concatenate([a, 255 - a], axis=1)


def _make_paired(root, n_train=4, val=True):
    for i in range(n_train):
        _save(_ab(i), os.path.join(root, "train", f"{i}.png"))
    if val:
        for i in range(2):
            _save(_ab(10 + i), os.path.join(root, "val", f"v{i}.png"))
    return root


def test_paired_layout_report_and_load(tmp_path):
    root = _make_paired(str(tmp_path / "in"))
    _save(_pattern(0, 16, 16), os.path.join(root, "train", "square.png"))      # not A|B
    _write(os.path.join(root, "train", "broken.png"), b"not a png")
    _write(os.path.join(root, "train", "notes.txt"), b"hi")
    os.makedirs(os.path.join(root, "extra"))
    before = tree_digest(root)
    report = str(tmp_path / "out" / "validation.json")

    ps = validate_pairs(scan_pairs(root, "pix2pix", "paired"), channels=3, report_path=report)
    assert [os.path.basename(f) for f in ps.train["AB"]] == ["0.png", "1.png", "2.png", "3.png"]
    assert len(ps.test["AB"]) == 2 and ps.test_source == {"AB": "val"}
    r = json.load(open(report))
    assert r["layout"] == "paired"
    assert r["counts"] == {"train/AB": {"found": 6, "kept": 4}, "test/AB": {"found": 2, "kept": 2}}
    assert {os.path.basename(p["file"]): p["problem"] for p in r["problems"]} == \
        {"square.png": "wrong_aspect", "broken.png": "not_an_image"}
    assert {os.path.basename(s["path"]) for s in r["skipped"]} == {"notes.txt", "extra"}
    assert "paired" in pairs_summary(ps) and "4 train, 2 test (val)" in pairs_summary(ps)

    ab = load_split(ps, "train", 32, 3, direction="AtoB")
    assert ab.a.shape == ab.b.shape == (4, 3, 32, 32) and ab.files_a == ps.train["AB"]
    assert np.array_equal(ab.a[1], _pattern(1).transpose(2, 0, 1))
    assert np.array_equal(ab.b, 255 - ab.a)
    ba = load_split(ps, "test", 16, 1, direction="BtoA")
    assert ba.a.shape == (2, 1, 16, 16)
    assert ba.a.mean() > ba.b.mean()   # the negative of a darkish pattern is the brighter side
    assert tree_digest(root) == before
    with pytest.raises(MsganError, match="inside the input folder"):
        validate_pairs(scan_pairs(root, "pix2pix", "paired"), 3,
                       report_path=os.path.join(root, "v.json"))


def test_holdout_when_no_eval_folder(tmp_path):
    root = _make_paired(str(tmp_path / "p"), n_train=5, val=False)
    cfg = DataConfig(path=root, resolution=32, holdout=0.2)
    report = str(tmp_path / "out" / "validation.json")
    ps = open_pairs(cfg, "pix2pix", "paired", report_path=report)
    assert len(ps.train["AB"]) == 4 and len(ps.test["AB"]) == 1
    assert ps.test_source["AB"] == "held out of train (1 of 5)"
    r = json.load(open(report))
    assert r["held_out"] == {"AB": list(ps.test["AB"])}
    assert r["splits"] == {"AB": {"train": 4, "test": 1,
                                  "test_source": "held out of train (1 of 5)"}}
    assert open_pairs(cfg, "pix2pix", "paired").test == ps.test    # deterministic
    assert not set(ps.test["AB"]) & set(ps.train["AB"])

    one = _make_paired(str(tmp_path / "one"), n_train=1, val=False)
    with pytest.raises(MsganError, match="has 1 usable image and no evaluation folder"):
        hold_out(scan_pairs(one, "pix2pix", "paired"), 0.1)
    _write(os.path.join(one, "train", "zero.png"), b"")
    os.remove(os.path.join(one, "train", "0.png"))
    with pytest.raises(MsganError, match=r"no usable AB training images .*zero_bytes: 1.*details"):
        open_pairs(DataConfig(path=one), "pix2pix", "paired", report_path=report)
    assert json.load(open(report))["problems"][0]["problem"] == "zero_bytes"


def test_paired_eval_folder_choice(tmp_path):
    root = _make_paired(str(tmp_path / "p"), n_train=3, val=False)
    _save(_ab(7), os.path.join(root, "test", "t.png"))
    ps = open_pairs(DataConfig(path=root, do_validation=False), "pix2pix", "paired")
    assert ps.test_source == {"AB": "test"} and len(ps.test["AB"]) == 1
    _save(_ab(8), os.path.join(root, "val", "v.png"))
    ps = scan_pairs(root, "pix2pix", "paired")
    assert ps.test_source == {"AB": "val"}
    assert [r for p, r in ps.skipped if p.endswith("test")] == \
        ["not used: val/ is the evaluation split"]


def test_paired_odd_files_decode_like_the_rest(tmp_path):
    """EXIF-rotated, CMYK and 16-bit A|B images are used; the rotation decides the aspect."""
    root = str(tmp_path / "odd")
    stored = np.ascontiguousarray(np.rot90(_ab(0, 16), k=1))   # 32 high, 16 wide as stored
    exif = Image.Exif()
    exif[0x0112] = 6   # display rotated 90° clockwise: 32 wide, 16 high again
    os.makedirs(os.path.join(root, "train"))
    Image.fromarray(stored).save(os.path.join(root, "train", "exif.jpg"), exif=exif.tobytes(),
                                 quality=95)
    Image.new("CMYK", (32, 16), (0, 255, 255, 0)).save(os.path.join(root, "train", "cmyk.jpg"))
    Image.fromarray(np.full((16, 32), 40000, np.uint16)).save(
        os.path.join(root, "train", "sixteen.png"))
    ps = validate_pairs(scan_pairs(root, "pix2pix", "paired"), channels=3)
    assert len(ps.train["AB"]) == 3
    tr = load_split(ps, "train", 16, 3)
    by_name = dict(zip((os.path.basename(f) for f in tr.files_a), range(3)))
    e = by_name["exif.jpg"]
    want = _pattern(0, 16, 16).transpose(2, 0, 1).astype(int)
    assert np.abs(tr.a[e] - want).mean() < 8 and np.abs(tr.b[e] - (255 - want)).mean() < 8
    assert tr.a[by_name["cmyk.jpg"]][0].mean() > 200                 # red after CMYK → RGB
    assert np.all(tr.a[by_name["sixteen.png"]] == round(40000 * 255 / 65535))


def test_wrong_layouts_name_the_expected_tree(tmp_path):
    classes = str(tmp_path / "classes")
    for c in ("cats", "dogs"):
        _save(_pattern(0), os.path.join(classes, c, "x.png"))
    flat = str(tmp_path / "flat")
    _save(_pattern(0), os.path.join(flat, "x.png"))

    with pytest.raises(MsganError, match=r"has no trainA/ or trainB/ folder — cyclegan needs two "
                                         r"unpaired domains: .*/classes/trainA/\*\.jpg"):
        scan_pairs(classes, "cyclegan", "unpaired")
    with pytest.raises(MsganError, match=r"flat has no train/ folder — pix2pix needs paired "
                                         r"images: .*/flat/train/\*\.jpg \(and .*/flat/val/\), "
                                         "each A|B side by side"):
        scan_pairs(flat, "pix2pix", "paired")
    with pytest.raises(MsganError, match=r"only sub-folders .* srgan needs high-resolution"):
        scan_pairs(classes, "srgan", "sr")
    with pytest.raises(MsganError, match="does not exist — discogan needs"):
        scan_pairs(str(tmp_path / "nope"), "discogan", "unpaired")
    os.makedirs(os.path.join(flat, "train"))
    with pytest.raises(MsganError, match="no images in train/"):
        scan_pairs(flat, "pix2pix", "paired")


def test_unpaired_layout_holds_out_per_domain(tmp_path):
    root = str(tmp_path / "u")
    for i in range(3):
        _save(_pattern(i), os.path.join(root, "trainA", f"a{i}.png"))
    for i in range(2):
        _save(_pattern(5 + i, 24, 24), os.path.join(root, "trainB", f"b{i}.png"))
    _save(_pattern(9), os.path.join(root, "testA", "t.png"))
    _write(os.path.join(root, "trainB", "empty.png"), b"")

    ps = open_pairs(DataConfig(path=root, resolution=16), "cyclegan", "unpaired")
    assert [len(ps.train[s]) for s in "AB"] == [3, 1] and [len(ps.test[s]) for s in "AB"] == [1, 1]
    assert ps.test_source == {"A": "testA", "B": "held out of train (1 of 2)"}
    tr = load_split(ps, "train", 16, 3)
    assert tr.a.shape == (3, 3, 16, 16) and tr.b.shape == (1, 3, 16, 16)
    assert tr.files_a == ps.train["A"] and tr.files_b == ps.train["B"]


def test_sr_flat_folder_bicubic_lr_and_small_hr_skipped(tmp_path):
    root = str(tmp_path / "hr")
    rng = np.random.default_rng(0)
    for i in range(4):
        _save(rng.integers(0, 256, (32, 40, 3), dtype=np.uint8), os.path.join(root, f"{i}.png"))
    _save(_pattern(0, 16, 16), os.path.join(root, "small.png"))

    ps = open_pairs(DataConfig(path=root, resolution=32, holdout=0.25), "srgan", "sr", scale=4)
    assert len(ps.train["HR"]) == 3 and len(ps.test["HR"]) == 1
    assert "small.png" not in " ".join(ps.train["HR"] + ps.test["HR"])
    tr = load_split(ps, "train", 32, 3, scale=4)
    assert tr.a.shape == (3, 3, 8, 8) and tr.b.shape == (3, 3, 32, 32)
    hr = Image.fromarray(tr.b[0].transpose(1, 2, 0))
    lr = np.asarray(hr.resize((8, 8), Image.Resampling.BICUBIC)).transpose(2, 0, 1)
    assert np.array_equal(tr.a[0], lr)
    src = np.asarray(Image.open(ps.train["HR"][0]))
    assert np.array_equal(tr.b[0].transpose(1, 2, 0), src[:, 4:36])   # exact centred crop


def test_sr_hr_lr_folders_matched_by_stem(tmp_path):
    root = str(tmp_path / "sr")
    rng = np.random.default_rng(1)
    lrs = {}
    for i in range(3):
        hr = rng.integers(0, 256, (32, 32, 3), dtype=np.uint8)
        _save(hr, os.path.join(root, "HR", f"{i:03d}.png"))
        lrs[i] = rng.integers(0, 256, (8, 8, 3), dtype=np.uint8)   # any degradation will do
        _save(lrs[i], os.path.join(root, "LR", f"{i:03d}x4.png"))
    _save(rng.integers(0, 256, (32, 32, 3), dtype=np.uint8), os.path.join(root, "HR", "lone.png"))
    _save(rng.integers(0, 256, (32, 32, 3), dtype=np.uint8), os.path.join(root, "HR", "bad.png"))
    _save(rng.integers(0, 256, (10, 10, 3), dtype=np.uint8), os.path.join(root, "LR", "bad.png"))
    report = str(tmp_path / "out" / "validation.json")

    ps = validate_pairs(scan_pairs(root, "srgan", "sr"), 3, scale=4, min_hr=32, report_path=report)
    assert [os.path.basename(f) for f in ps.train["HR"]] == ["000.png", "001.png", "002.png"]
    r = json.load(open(report))
    assert [(os.path.basename(p["file"]), p["problem"]) for p in r["problems"]] == \
        [("bad.png", "wrong_size")]
    assert any(s["path"].endswith("lone.png") and "without an LR" in s["reason"]
               for s in r["skipped"])
    ps = hold_out(ps, 0.34)
    assert len(ps.test["HR"]) == len(ps.test["LR"]) == 1
    assert [_stem4(f) for f in ps.test["LR"]] == [_stem4(f) for f in ps.test["HR"]]
    tr = load_split(ps, "train", 32, 3, scale=4)
    i = int(os.path.basename(tr.files_b[0])[:3])
    assert np.array_equal(tr.a[0].transpose(1, 2, 0), lrs[i])   # given LR used as it is


def _stem4(path):
    return os.path.basename(path)[:3]


def test_paired_sampler_crops_match_and_resume(tmp_path):
    a = np.stack([_pattern(i).transpose(2, 0, 1) for i in range(3)])
    sampler = PairSampler(a, 255 - a, batch_size=4, seed=3, resolution=16, paired=True,
                          mirror=True)
    corners = set()
    for _ in range(4):
        x, y = next(sampler)
        assert x.shape == y.shape == (4, 3, 16, 16) and x.dtype == np.float32
        assert np.allclose(y, -x, atol=1e-6)   # B = 255 - A ⇔ same crop and flip on both
        corners.update(zip(np.round((x[:, 0, 0, 0] + 1) * 127.5),
                           np.round((x[:, 1, 0, 0] + 1) * 127.5)))
    assert len(corners) > 3   # crops really move around

    state = json.loads(json.dumps(sampler.state_dict()))
    expect = next(sampler)
    resumed = PairSampler(a, 255 - a, batch_size=4, seed=0, resolution=16, paired=True,
                          mirror=True)
    resumed.load_state_dict(state)
    got = next(resumed)
    assert np.array_equal(got[0], expect[0]) and np.array_equal(got[1], expect[1])
    with pytest.raises(MsganError, match="resume with the same data"):
        PairSampler(a[:2], 255 - a[:2], 4, 0, 16, True, True).load_state_dict(state)


def test_sr_sampler_aligned_to_scale():
    rng = np.random.default_rng(0)
    lr = rng.integers(0, 256, (2, 3, 8, 8), dtype=np.uint8)
    hr = np.repeat(np.repeat(lr, 4, axis=2), 4, axis=3)   # every LR pixel is a 4x4 HR block
    sampler = PairSampler(lr, hr, batch_size=3, seed=1, resolution=16, paired=True,
                          mirror=True, scale=4)
    for _ in range(5):
        x, y = next(sampler)
        assert x.shape == (3, 3, 4, 4) and y.shape == (3, 3, 16, 16)
        assert np.array_equal(y[:, :, ::4, ::4], x)   # holds only for crops on the 4-px grid
        assert np.array_equal(y[:, :, 3::4, 3::4], x)


def test_unpaired_sampler_independent_epochs_and_resume():
    a = np.stack([np.full((1, 16, 16), i, np.uint8) for i in range(3)])
    b = np.stack([np.full((1, 16, 16), 100 + i, np.uint8) for i in range(5)])
    sampler = PairSampler(a, b, batch_size=3, seed=0, resolution=16, paired=False, mirror=False)
    x, y = next(sampler)
    ids_a = np.round((x[:, 0, 0, 0] + 1) * 127.5)
    assert sorted(ids_a) == [0, 1, 2]                  # one full epoch of A
    assert len(set(np.round((y[:, 0, 0, 0] + 1) * 127.5))) == 3   # 3 distinct of B's 5
    next(sampler)
    state = sampler.state_dict()
    expect = next(sampler)
    again = PairSampler(a, b, 3, 0, 16, False, False)
    again.load_state_dict(state)
    got = next(again)
    assert np.array_equal(got[0], expect[0]) and np.array_equal(got[1], expect[1])
