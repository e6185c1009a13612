"""load_image modes and resize options, load_images, BatchSampler resume, grids, builtin digits."""
import json
import os

import numpy as np
import pytest
from PIL import Image

from msgan.data import builtin, pipeline
from msgan.data.builtin import resolve_data_path
from msgan.data.digits import load_digits
from msgan.data.folder import scan_folder
from msgan.data.pipeline import BatchSampler, convert_mode, load_image, load_images, save_grid
from msgan.errors import MsganError
from msgan.inference.samplers import to_uint8
from msgan.io import file_mode

RED, BLUE, GREEN = (255, 0, 0), (0, 0, 255), (0, 255, 0)


def _halves(w, h, left=RED, right=BLUE):
    a = np.zeros((h, w, 3), np.uint8)
    a[:, : w // 2] = left
    a[:, w // 2:] = right
    return Image.fromarray(a)


def _mode_images():
    """One in-memory image per Pillow mode the loader must handle."""
    rgb = _halves(20, 14)
    pal = Image.new("P", (10, 12), 0)   # left half index 0 = transparent, right half red
    pal.paste(1, (5, 0, 10, 12))
    pal.putpalette([0, 0, 0, 255, 0, 0] + [0] * 762)
    pal.info["transparency"] = 0
    return {
        "RGB": rgb, "L": rgb.convert("L"), "1": rgb.convert("1"), "LA": rgb.convert("LA"),
        "RGBA": rgb.convert("RGBA"), "P": rgb.convert("P"), "P+transparency": pal,
        "CMYK": rgb.convert("CMYK"), "YCbCr": rgb.convert("YCbCr"),
        "I;16": Image.fromarray(np.full((9, 15), 40000, np.uint16)),
        "I": Image.fromarray(np.full((9, 15), 40000, np.int32)),
        "F": Image.fromarray(np.full((9, 15), 0.5, np.float32)),
    }


@pytest.mark.parametrize("mode", list(_mode_images()))
@pytest.mark.parametrize("channels", [1, 3])
def test_every_mode_loads(tmp_path, mode, channels):
    img = _mode_images()[mode]
    # PNG where it can hold the mode (it keeps palette transparency), TIFF for the rest
    ext = "tiff" if mode in ("CMYK", "YCbCr", "I", "F") else "png"
    path = str(tmp_path / f"x.{ext}")
    img.save(path, **({"transparency": 0} if mode == "P+transparency" else {}))
    assert Image.open(path).mode == mode.split("+")[0]
    for resize in ("crop", "pad", "stretch"):
        a = load_image(path, 16, channels, resize)
        assert a.shape == (channels, 16, 16) and a.dtype == np.uint8 and a.flags.c_contiguous
        assert a.max() > 0   # nothing came out blank


def test_transparency_goes_on_white():
    rgba = Image.new("RGBA", (4, 4), (255, 0, 0, 0))
    la = Image.new("LA", (4, 4), (0, 0))
    for img in (rgba, la):
        assert np.asarray(convert_mode(img, 3)).min() == 255
        assert np.asarray(convert_mode(img, 1)).min() == 255
    pal = np.asarray(convert_mode(_mode_images()["P+transparency"], 3))
    assert (pal[:, :5] == 255).all() and (pal[:, 5:] == RED).all()
    half = Image.new("RGBA", (2, 2), (0, 0, 0, 128))
    assert np.asarray(convert_mode(half, 1))[0, 0] == 127   # 255 * (1 - 128/255)


def test_high_bit_depth_is_scaled_not_clipped():
    assert np.asarray(convert_mode(_mode_images()["I;16"], 1))[0, 0] == round(40000 / 257)
    assert np.asarray(convert_mode(_mode_images()["I"], 1))[0, 0] == round(40000 / 257)
    assert np.asarray(convert_mode(_mode_images()["F"], 1))[0, 0] == 128   # 0.5 of 0..1
    ramp = Image.fromarray(np.array([[0, 1000, 65535]], np.uint16))
    assert np.asarray(convert_mode(ramp, 3))[0, :, 0].tolist() == [0, 4, 255]
    wide = Image.fromarray(np.array([[-10.0, 0.0, 990.0]], np.float32))   # outside 0..255
    assert np.asarray(convert_mode(wide, 1))[0].tolist() == [0, 3, 255]
    assert set(np.unique(np.asarray(convert_mode(_mode_images()["1"], 1)))) <= {0, 255}


def test_cmyk_and_8bit_greyscale(tmp_path):
    Image.new("CMYK", (20, 20), (0, 0, 0, 0)).save(str(tmp_path / "c.jpg"))
    assert load_image(str(tmp_path / "c.jpg"), 8, 3, "crop").min() >= 250   # no ink = white
    Image.new("L", (20, 20), 77).save(str(tmp_path / "g.png"))
    a = load_image(str(tmp_path / "g.png"), 8, 3, "crop")
    assert (a == 77).all()


def test_exif_orientation_is_applied(tmp_path):
    exif = Image.Exif()
    exif[0x0112] = 6   # stored landscape, shown rotated 90° clockwise: left half → top
    _halves(40, 20).save(str(tmp_path / "e.jpg"), quality=95, exif=exif.tobytes())
    a = load_image(str(tmp_path / "e.jpg"), 16, 3, "stretch").astype(int)
    top, bottom = a[:, 2:6].mean(axis=(1, 2)), a[:, 10:14].mean(axis=(1, 2))
    assert top[0] > 200 and top[2] < 50 and bottom[2] > 200 and bottom[0] < 50


def test_resize_modes_on_a_wide_image(tmp_path):
    path = str(tmp_path / "wide.png")
    a = np.zeros((20, 40, 3), np.uint8)
    a[:, :10], a[:, 10:30], a[:, 30:] = RED, GREEN, BLUE
    Image.fromarray(a).save(path)
    crop = load_image(path, 16, 3, "crop")
    # centre square is green; Lanczos reaches one pixel past the box at its edges
    assert crop[1].min() > 240 and (crop[0, :, 2:-2] == 0).all() and crop[0].max() < 16
    pad = load_image(path, 16, 3, "pad")
    assert (pad[:, :4] == 0).all() and (pad[:, 12:] == 0).all()    # black bars, 16×8 content
    assert pad[0, 4:12, 0].min() > 200 and pad[1, 4:12, 8].min() > 200
    stretch = load_image(path, 16, 3, "stretch")
    assert stretch[0, :, 0].min() > 200 and stretch[2, :, 15].min() > 200
    assert stretch[1, :, 7:9].min() > 200
    tall = str(tmp_path / "tall.png")
    Image.fromarray(np.ascontiguousarray(a.transpose(1, 0, 2))).save(tall)
    pad_t = load_image(tall, 16, 3, "pad")
    assert (pad_t[:, :, :4] == 0).all() and (pad_t[:, :, 12:] == 0).all()
    with pytest.raises(MsganError, match="crop, pad, stretch"):
        load_image(path, 16, 3, "squash")


def test_filters_lanczos_down_bicubic_up(tmp_path):
    rng = np.random.default_rng(0)
    big = Image.fromarray(rng.integers(0, 256, (64, 64, 3), dtype=np.uint8))
    small = Image.fromarray(rng.integers(0, 256, (8, 8), dtype=np.uint8), "L")
    big.save(str(tmp_path / "big.png"))
    small.save(str(tmp_path / "small.png"))
    down = load_image(str(tmp_path / "big.png"), 16, 3, "crop")
    ref = np.asarray(big.resize((16, 16), Image.Resampling.LANCZOS)).transpose(2, 0, 1)
    np.testing.assert_array_equal(down, ref)
    up = load_image(str(tmp_path / "small.png"), 32, 1, "crop")[0]
    np.testing.assert_array_equal(up, np.asarray(small.resize((32, 32),
                                                              Image.Resampling.BICUBIC)))
    assert len(np.unique(up)) > 64   # smooth, not 8×8 blocks of 64 values


def test_one_pixel_image(tmp_path):
    Image.new("RGB", (1, 1), (10, 200, 30)).save(str(tmp_path / "p.png"))
    for resize in ("crop", "pad", "stretch"):
        a = load_image(str(tmp_path / "p.png"), 8, 3, resize)
        assert a.shape == (3, 8, 8)
        assert (a[:, 4, 4] == [10, 200, 30]).all()


def test_broken_file_is_a_clear_error(tmp_path):
    (tmp_path / "bad.png").write_bytes(b"nope")
    with pytest.raises(MsganError, match="bad.png.*do_validation"):
        load_image(str(tmp_path / "bad.png"), 8, 3, "crop")


def test_load_images_and_memory_limit(tmp_path, monkeypatch):
    for cls, value in (("a", 10), ("b", 200)):
        os.makedirs(tmp_path / cls)
        for i in range(2):
            Image.new("L", (12, 9), value).save(str(tmp_path / cls / f"{i} é.png"))
    s = scan_folder(str(tmp_path))
    x, y = load_images(s, 8, 3, "crop")
    assert x.shape == (4, 3, 8, 8) and x.dtype == np.uint8
    assert y.dtype == np.int32 and y.tolist() == [0, 0, 1, 1]
    assert (x[:2] == 10).all() and (x[2:] == 200).all()
    monkeypatch.setattr(pipeline, "MAX_PRELOAD_BYTES", 4 * 3 * 8 * 8 - 1)
    with pytest.raises(MsganError, match="lower data.resolution"):
        load_images(s, 8, 3, "crop")


# ----------------------------------------------------------------------------------------------
# BatchSampler

def _dataset(n, res=4):
    """Image i is constant i except its left column, which is 255 (so flips are visible)."""
    x = np.repeat(np.arange(n, dtype=np.uint8)[:, None, None, None], res * res * 3, 1)
    x = x.reshape(n, 3, res, res).copy()
    x[..., 0] = 255
    return x, np.arange(n, dtype=np.int32) % 3


def _ids(batch):
    """Which image each sample came from, and whether it was flipped."""
    x = to_uint8(batch)
    return x[:, 0, 0, 1].astype(int), x[:, 0, 0, -1] == 255


def test_sampler_batches_epochs_and_range():
    x, y = _dataset(12)
    s = BatchSampler(x, y, batch_size=4, seed=1, mirror=False)
    seen = []
    for _ in range(3):
        xb, yb = next(s)
        assert xb.shape == (4, 3, 4, 4) and xb.dtype == np.float32 and yb.dtype == np.int32
        assert xb.min() >= -1.0 and xb.max() == 1.0
        ids, flipped = _ids(xb)
        assert not flipped.any()
        np.testing.assert_array_equal(yb, y[ids])
        seen += ids.tolist()
    assert sorted(seen) == list(range(12))   # one epoch = every image once
    xb, _ = next(s)
    np.testing.assert_allclose(xb, x[_ids(xb)[0]] / 127.5 - 1, atol=1e-6)   # the values too


def test_sampler_smaller_than_batch_is_full_and_balanced():
    x, y = _dataset(5)
    s = BatchSampler(x, y, batch_size=8, seed=0, mirror=False)
    ids = np.concatenate([_ids(next(s)[0])[0] for _ in range(5)])   # 40 samples = 8 epochs
    assert len(ids) == 40
    for e in range(8):
        assert sorted(ids[e * 5:(e + 1) * 5]) == list(range(5))


def test_sampler_is_deterministic_per_seed():
    x, y = _dataset(10)
    a, b, c = (BatchSampler(x, y, 3, seed, True) for seed in (7, 7, 8))
    for _ in range(6):
        xa, ya = next(a)
        xb, yb = next(b)
        np.testing.assert_array_equal(xa, xb)
        np.testing.assert_array_equal(ya, yb)
    assert not all(np.array_equal(next(a)[0], next(c)[0]) for _ in range(3))


def test_mirror_flips_about_half():
    x, y = _dataset(10)
    s = BatchSampler(x, y, 10, seed=3, mirror=True)
    flips = []
    for _ in range(20):
        xb, _ = next(s)
        ids, flipped = _ids(xb)
        ref = x[ids].astype(np.float32) / 127.5 - 1
        ref[flipped] = ref[flipped][..., ::-1]
        np.testing.assert_allclose(xb, ref, atol=1e-6)
        flips += flipped.tolist()
    assert 0.35 < np.mean(flips) < 0.65
    assert not _ids(next(BatchSampler(x, y, 10, 3, mirror=False))[0])[1].any()


@pytest.mark.parametrize("n,batch,before", [(10, 3, 4), (10, 5, 2), (5, 8, 3), (10, 3, 0)])
def test_resume_gives_the_same_batches(n, batch, before):
    x, y = _dataset(n)
    run = BatchSampler(x, y, batch, seed=11, mirror=True)
    for _ in range(before):
        next(run)
    state = json.loads(json.dumps(run.state_dict()))   # as stored in a checkpoint
    resumed = BatchSampler(x, y, batch, seed=999, mirror=True)   # seed comes from the state
    next(resumed)
    resumed.load_state_dict(state)
    for _ in range(3 * n):
        xa, ya = next(run)
        xb, yb = next(resumed)
        np.testing.assert_array_equal(xa, xb)
        np.testing.assert_array_equal(ya, yb)
    assert run.state_dict() == resumed.state_dict()


def test_resume_with_other_data_is_refused():
    x, y = _dataset(10)
    state = BatchSampler(x, y, 4, 0, True).state_dict()
    with pytest.raises(MsganError, match="same data"):
        BatchSampler(x[:9], y[:9], 4, 0, True).load_state_dict(state)


# ----------------------------------------------------------------------------------------------
# Output images

def test_to_uint8():
    a = np.array([-2.0, -1.0, 0.0, 0.5, 1.0, 3.0, np.nan], np.float32)
    assert to_uint8(a).tolist() == [0, 0, 128, 191, 255, 255, 0]


@pytest.mark.parametrize("channels", [1, 3])
def test_save_grid(tmp_path, channels):
    rng = np.random.default_rng(0)
    imgs = rng.integers(0, 256, (5, channels, 6, 6), dtype=np.uint8)
    path = str(tmp_path / "sub" / "grid.png")
    save_grid(imgs, path, nrow=3)
    g = np.asarray(Image.open(path))
    # 2 px of grey around every tile: 2 rows of 6 px, 3 columns of 6 px
    assert g.shape[:2] == (2 + 2 * 8, 2 + 3 * 8) and (g.ndim == 2) == (channels == 1)
    g = g.reshape(18, 26, channels)
    for i in range(5):
        r, c = divmod(i, 3)
        y, x = 2 + 8 * r, 2 + 8 * c
        np.testing.assert_array_equal(g[y:y + 6, x:x + 6], imgs[i].transpose(1, 2, 0))
    assert (g[:2] == 128).all() and (g[:, 8:10] == 128).all()      # the gaps between tiles
    assert (g[10:, 18:] == 128).all()                               # the empty cell
    assert os.listdir(tmp_path / "sub") == ["grid.png"]   # no temp files left behind
    assert os.stat(path).st_mode & 0o777 == file_mode()   # not the temp file's 0600


def test_save_grid_labels_rows(tmp_path):
    imgs = np.zeros((4, 3, 8, 8), np.uint8)        # black tiles: only the labels are dark text
    save_grid(imgs, str(tmp_path / "a.png"), nrow=2, row_labels=["cat", "dog"])
    save_grid(imgs, str(tmp_path / "b.png"), nrow=2)
    a, b = np.asarray(Image.open(tmp_path / "a.png")), np.asarray(Image.open(tmp_path / "b.png"))
    # tiny tiles are enlarged so a line of text fits each row; a white column holds the names
    assert a.shape[0] == 2 + 2 * (16 + 2) and b.shape[0] == 2 + 2 * (8 + 2)
    margin = a.shape[1] - (2 + 2 * (16 + 2))
    assert margin > 10
    text = a[:, :margin].min(axis=2) < 128
    rows_with_text = [bool(text[2 + r * 18:2 + r * 18 + 16].any()) for r in range(2)]
    assert rows_with_text == [True, True]


# ----------------------------------------------------------------------------------------------
# builtin:digits

def test_builtin_digits(tmp_path):
    images, labels = load_digits()
    assert images.shape == (1797, 8, 8) and images.dtype == np.uint8 and images.max() == 255
    folder = resolve_data_path("builtin:digits", str(tmp_path))
    s = scan_folder(folder)
    assert s.classes == tuple(str(d) for d in range(10)) and len(s.files) == 1797
    assert s.skipped == ()
    assert list(s.counts().values()) == np.bincount(labels).tolist()
    i = 1234
    path = os.path.join(folder, str(labels[i]), f"{i:04d}.png")
    np.testing.assert_array_equal(np.asarray(Image.open(path)), images[i])   # lossless
    a = load_image(path, 32, 1, "crop")
    assert a.shape == (1, 32, 32) and a.max() > 150 and a.std() > 40   # a digit, not blank

    stamp = os.stat(path).st_mtime_ns
    assert resolve_data_path("builtin:digits", str(tmp_path)) == folder   # reused, not rewritten
    assert os.stat(path).st_mtime_ns == stamp
    os.remove(path)   # an incomplete tree is rebuilt
    assert resolve_data_path("builtin:digits", str(tmp_path)) == folder
    assert os.path.isfile(path)
    assert len(scan_folder(folder).files) == 1797
    assert [n for n in os.listdir(tmp_path) if n != "builtin_digits"] == []   # no temp folders


def test_builtin_names(tmp_path):
    assert resolve_data_path("/some/folder", str(tmp_path)) == "/some/folder"
    with pytest.raises(MsganError, match="builtin:digits"):
        resolve_data_path("builtin:mnist", str(tmp_path))
    assert os.listdir(tmp_path) == []
    assert builtin.BUILTIN == ("digits", "digits-paired", "digits-unpaired", "digits-sr")


def test_builtin_translation_sets_fit_their_layouts(tmp_path):
    from msgan.data.pairs import scan_pairs

    paired = scan_pairs(resolve_data_path("builtin:digits-paired", str(tmp_path)), "pix2pix",
                        "paired")
    assert (len(paired.train["AB"]), len(paired.test["AB"])) == (1700, 97)
    with Image.open(paired.train["AB"][0]) as im:
        assert im.size == (64, 32)               # edges | digit
    unpaired = scan_pairs(resolve_data_path("builtin:digits-unpaired", str(tmp_path)), "cyclegan",
                          "unpaired")
    names = {s: {os.path.basename(f) for f in unpaired.train[s]} for s in ("A", "B")}
    assert len(names["A"]) == len(names["B"]) == 850 and not names["A"] & names["B"]
    with Image.open(unpaired.train["B"][0]) as im:
        assert im.mode == "RGB"
    again = resolve_data_path("builtin:digits-paired", str(tmp_path))   # written once
    assert again == paired.root
