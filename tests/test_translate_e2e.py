"""Image-to-image models end to end through the CLI: folder in → the full output tree, exports
that reproduce the checkpoint, `msgan generate --input`, and one-line errors for wrong layouts."""
import json
import os

import numpy as np
import pytest
from PIL import Image

from msgan_process import run_msgan
from test_train_e2e import read_manifest, tree_hash

pytest.importorskip("mindspore")

FAST = ["train.progress=false", "train.tick_kimg=0.008", "generate.batch_size=4"]


def _blob(rng, size):
    """A bright blob at a random place on a dark background (uint8 HxW)."""
    yy, xx = np.mgrid[:size, :size]
    cy, cx = rng.uniform(size * 0.3, size * 0.7, 2)
    r = rng.uniform(size * 0.15, size * 0.3)
    return np.where((yy - cy) ** 2 + (xx - cx) ** 2 < r * r, 220, 20).astype(np.uint8)


def make_paired(root, n_train=8, n_val=3, size=16):
    """A|B images: A the blob, B its negative (a translation with a right answer)."""
    rng = np.random.default_rng(0)
    for split, n in (("train", n_train), ("val", n_val)):
        os.makedirs(root / split)
        for i in range(n):
            a = _blob(rng, size)
            Image.fromarray(np.concatenate([a, 255 - a], axis=1), "L").save(
                root / split / f"{i:02d}.png")
    return root


def make_unpaired(root, n=8, size=16):
    rng = np.random.default_rng(1)
    for side in ("trainA", "trainB", "testA", "testB"):
        os.makedirs(root / side)
        for i in range(n if side.startswith("train") else 2):
            a = _blob(rng, size)
            img = np.stack([a, a // 2, 255 - a], -1) if side.endswith("B") else np.stack([a] * 3, -1)
            Image.fromarray(img.astype(np.uint8), "RGB").save(root / side / f"{side}_{i}.png")
    return root


def make_hr(root, n=8, size=16):
    rng = np.random.default_rng(2)
    os.makedirs(root / "train")
    os.makedirs(root / "val")
    for i in range(n + 2):
        split = "train" if i < n else "val"
        Image.fromarray(_blob(rng, size), "L").save(root / split / f"hr{i}.png")
    return root


def train(config, data, out, *extra):
    r = run_msgan("train", config, f"data.path={data}", f"output_dir={out}", *FAST, *extra)
    assert r.returncode == 0, r.stderr[-3000:]
    return r


def check_tree(out, generators, n_translated):
    for sub in ("config.yaml", "validation.json", "stats.jsonl", "log.txt",
                "samples/losses.png", "output_0.manifest", "report.html"):
        assert os.path.isfile(out / sub), sub
    assert sorted(os.listdir(out / "checkpoints"))
    snap = out / "checkpoints" / sorted(os.listdir(out / "checkpoints"))[-1]
    assert {f"{g}.ckpt" for g in generators} <= set(os.listdir(snap))
    assert any(f.startswith("fakes") for f in os.listdir(out / "samples"))
    for g in generators:
        meta = json.load(open(out / "model" / f"{g}.json"))
        assert meta["task"] == "translate" and meta["generator"] == g
        assert meta["parity"]["mindir"]["ok"] and meta["parity"]["onnx"]["ok"], meta["parity"]
        assert os.path.isfile(out / "model" / f"{g}.mindir")
        assert os.path.isfile(out / "model" / f"{g}.onnx")
    lines = read_manifest(out / "output_0.manifest")
    assert len(lines) == n_translated
    for line in lines:
        with Image.open(line["source"]) as im:
            im.load()
    rows = [json.loads(x) for x in open(out / "stats.jsonl")]
    assert all(np.isfinite(r["loss_G"]) and np.isfinite(r["loss_D"]) for r in rows if "tick" in r)
    # one row per tick, kimg increasing; snapshots named in their tick's row (no KID here)
    assert [r["tick"] for r in rows] == list(range(1, len(rows) + 1))
    assert all(a["kimg"] < b["kimg"] for a, b in zip(rows, rows[1:]))
    named = [r["snapshot"] for r in rows if "snapshot" in r]
    assert named[-1] == snap.name and rows[-1]["snapshot"] == snap.name
    assert not any("kid" in r for r in rows)
    return lines


def test_pix2pix_full_tree_generate_input_and_predict(tmp_path):
    data = make_paired(tmp_path / "edges 2 blobs")
    before = tree_hash(data)
    out = tmp_path / "run"
    train("configs/pix2pix_cpu.yaml", data, out, "data.resolution=16", "model.ngf=4",
          "model.d_layers=2", "model.ndf=4", "train.batch_size=4", "train.total_kimg=0.024",
          "train.snapshot_kimg=0.012")
    lines = check_tree(out, ["G"], n_translated=3)
    assert tree_hash(data) == before                       # the input is never touched
    assert [x["annotation"] for x in lines] == [[]] * 3
    with Image.open(lines[0]["source"]) as im:
        assert im.size == (16, 16) and im.mode == "L"
    quality = json.load(open(out / "quality.json"))["G"]
    assert quality["images"] == 3 and np.isfinite(quality["psnr"]) and 0 < quality["ssim"] <= 1

    # A folder of input images (A halves) through the run folder and through the ONNX export:
    # the same generator, so the same pixels (up to one level of rounding).
    inputs = tmp_path / "inputs"
    os.makedirs(inputs)
    for f in sorted(os.listdir(data / "val")):
        with Image.open(data / "val" / f) as im:
            im.crop((0, 0, 16, 16)).save(inputs / f)
    (inputs / "broken.png").write_bytes(b"not an image")
    r = run_msgan("export", "--checkpoint", str(out), "--format", "onnx", "--out",
                  str(tmp_path / "exports"))
    assert r.returncode == 0, r.stderr[-2000:]
    outs = {}
    for name, model in (("ckpt", out), ("onnx", tmp_path / "exports" / "G.onnx")):
        r = run_msgan("generate", "--model", str(model), "--input", str(inputs),
                      "--out", str(tmp_path / name))
        assert r.returncode == 0, r.stderr[-2000:]
        assert "1 unreadable input skipped" in r.stdout
        got = read_manifest(tmp_path / name / "output_0.manifest")
        assert [os.path.basename(x["source"]) for x in got] == ["00.png", "01.png", "02.png"]
        outs[name] = np.stack([np.asarray(Image.open(x["source"])) for x in got]).astype(int)
    assert np.abs(outs["ckpt"] - outs["onnx"]).max() <= 1
    # the same images as the end of training wrote for the held-out split
    trained = np.stack([np.asarray(Image.open(x["source"])) for x in lines]).astype(int)
    assert np.abs(trained - outs["ckpt"]).max() <= 1

    r = run_msgan("generate", "--model", str(out), "--num", "3", "--out", str(tmp_path / "x"))
    assert r.returncode == 2 and "pass --input DIR" in r.stderr
    assert "Traceback" not in r.stderr

    # ModelArts predict mode: data.path is the folder to translate
    r = run_msgan("train", "configs/pix2pix_cpu.yaml", "generate.predict=true",
                  f"generate.resume={out / 'model' / 'G.mindir'}", f"data.path={inputs}",
                  f"output_dir={tmp_path / 'predict'}", "train.progress=false")
    assert r.returncode == 0, r.stderr[-2000:]
    assert len(read_manifest(tmp_path / "predict" / "output_0.manifest")) == 3


def test_cyclegan_writes_both_directions(tmp_path):
    data = make_unpaired(tmp_path / "domains")
    out = tmp_path / "run"
    train("configs/cyclegan_cpu.yaml", data, out, "data.resolution=16", "model.ngf=4",
          "model.ndf=4", "model.n_blocks=1", "model.pool_size=4", "model.d_layers=2",
          "train.batch_size=2", "train.total_kimg=0.008", "train.snapshot_kimg=0.008")
    lines = check_tree(out, ["G_AB", "G_BA"], n_translated=4)
    assert sorted(os.listdir(out / "Data")) == [".msgan-generated", "AtoB", "BtoA"]
    labels = {x["source"].split(os.sep)[-2]: x["annotation"][0]["name"] for x in lines}
    assert labels == {"AtoB": "B", "BtoA": "A"}
    assert not os.path.exists(out / "quality.json")     # no targets for unpaired data
    r = run_msgan("generate", "--model", str(out), "--generator", "G_BA", "--input",
                  str(data / "testB"), "--out", str(tmp_path / "ba"))
    assert r.returncode == 0, r.stderr[-2000:]
    assert len(read_manifest(tmp_path / "ba" / "output_0.manifest")) == 2


def test_discogan_runs_to_the_end(tmp_path):
    data = make_unpaired(tmp_path / "domains")
    out = tmp_path / "run"
    train("configs/discogan_cpu.yaml", data, out, "data.resolution=16", "model.ngf=4",
          "model.ndf=4", "train.batch_size=4", "train.total_kimg=0.016",
          "train.snapshot_kimg=0.016")
    check_tree(out, ["G_AB", "G_BA"], n_translated=4)


def test_srgan_super_resolves_and_reports_the_bicubic_baseline(tmp_path):
    data = make_hr(tmp_path / "hr")
    out = tmp_path / "run"
    train("configs/srgan_cpu.yaml", data, out, "data.resolution=16", "model.ngf=4",
          "model.ndf=4", "model.n_blocks=1", "model.pretrain_kimg=0",
          "train.batch_size=4", "train.total_kimg=0.016", "train.snapshot_kimg=0.016")
    lines = check_tree(out, ["G"], n_translated=2)
    with Image.open(lines[0]["source"]) as im:
        assert im.size == (16, 16)                 # 4x4 inputs, x4
    meta = json.load(open(out / "model" / "G.json"))
    assert meta["input_shape"] == [1, 4, 4] and meta["scale"] == 4
    q = json.load(open(out / "quality.json"))["G"]
    assert set(q["bicubic"]) == {"psnr", "ssim"} and np.isfinite(q["psnr"])


@pytest.mark.parametrize("config,layout_hint", [
    ("configs/pix2pix_cpu.yaml", "train/*.jpg"),
    ("configs/cyclegan_cpu.yaml", "trainA"),
])
def test_wrong_layout_is_one_clear_line(tmp_path, config, layout_hint):
    flat = tmp_path / "flat"
    os.makedirs(flat)
    for i in range(3):
        Image.fromarray(np.full((16, 16), 9 * i, np.uint8)).save(flat / f"{i}.png")
    r = run_msgan("train", config, f"data.path={flat}", f"output_dir={tmp_path / 'o'}",
                  "train.progress=false")
    assert r.returncode == 2
    lines = r.stderr.strip().splitlines()
    assert lines[-1].startswith("msgan: error:") and layout_hint in lines[-1]
    assert "Traceback" not in r.stderr
