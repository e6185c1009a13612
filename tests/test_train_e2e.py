"""End to end through the CLI, as a user runs it: folder in → every output, resume, predict."""
import hashlib
import json
import os
import re

import numpy as np
import pytest
from PIL import Image, ImageDraw

from msgan_process import run_msgan

pytest.importorskip("mindspore")


def make_class_folder(root, classes=("circle", "square", "bar"), per_class=6, size=(40, 28)):
    """Small non-square RGB drawings, one shape per class."""
    rng = np.random.default_rng(0)
    for k, name in enumerate(classes):
        os.makedirs(root / name, exist_ok=True)
        for i in range(per_class):
            img = Image.new("RGB", size, tuple(int(v) for v in rng.integers(0, 60, 3)))
            d = ImageDraw.Draw(img)
            x, y = rng.integers(4, 12, 2)
            color = tuple(int(v) for v in rng.integers(150, 255, 3))
            [d.ellipse, d.rectangle, lambda b, fill: d.rectangle((b[0], 2, b[0] + 4, 26), fill)][k](
                (int(x), int(y), int(x) + 14, int(y) + 14), fill=color)
            img.save(root / name / f"{i:02d} img.{'png' if i % 2 else 'jpg'}")
    return root


def _umask():
    mask = os.umask(0)
    os.umask(mask)
    return mask


def tree_hash(root):
    h = {}
    for dirpath, _, files in os.walk(root):
        for f in files:
            p = os.path.join(dirpath, f)
            h[os.path.relpath(p, root)] = hashlib.sha256(open(p, "rb").read()).hexdigest()
    return h


def read_manifest(path):
    with open(path, encoding="utf-8") as f:
        return [json.loads(line) for line in f if line.strip()]


TINY = ["model.name=dcgan", "model.z_dim=8", "model.ngf=4", "model.ndf=4",
        "data.resolution=32", "data.channels=3", "train.batch_size=8",
        "train.tick_kimg=0.016", "train.progress=false", "generate.batch_size=8",
        "metrics.extractor=none", "metrics.benefit_check=false", "generate.min_class_images=0",
        # a few dozen images of training make noise the class filter would (rightly) reject;
        # these tests check layout and counts (test_class_filter checks the filter)
        "generate.filter=none"]


@pytest.fixture(scope="module")
def conditional_run(tmp_path_factory):
    base = tmp_path_factory.mktemp("e2e")
    data = make_class_folder(base / "input images")
    before = tree_hash(data)
    out = base / "run"
    r = run_msgan("train", "configs/dcgan_cpu.yaml", *TINY, f"data.path={data}",
                  f"output_dir={out}", "train.total_kimg=0.048", "train.snapshot_kimg=0.024",
                  "generate.generate_num=3")
    assert r.returncode == 0, r.stderr[-3000:]
    return data, before, out


def test_outputs_of_a_conditional_run(conditional_run):
    data, before, out = conditional_run
    for rel in ("config.yaml", "validation.json", "stats.jsonl", "log.txt", "samples/reals.png",
                "samples/losses.png", "samples/progress.gif", "model/G_ema.mindir",
                "model/G_ema.onnx", "model/G_ema.json", "output_0.manifest"):
        assert (out / rel).is_file(), rel
    fakes = sorted(p.name for p in (out / "samples").glob("fakes*.png"))
    assert len(fakes) == 2
    snaps = sorted(p.name for p in (out / "checkpoints").iterdir())
    # and the record of the snapshot that wrote Data/ (unscored run: the last one)
    assert snaps == ["run_model.json", "snapshot-000000024", "snapshot-000000048"]
    assert json.loads((out / "checkpoints" / "run_model.json").read_text())["snapshot"] == \
        "snapshot-000000048"
    parity = json.loads((out / "model" / "G_ema.json").read_text())["parity"]
    assert parity["mindir"]["ok"] and parity["onnx"]["ok"]
    # generated images: 3 per class, right size, manifest lines point at them
    for cls in ("bar", "circle", "square"):
        files = sorted((out / "Data" / cls).glob("*.png"))
        assert len(files) == 3
        assert Image.open(files[0]).size == (32, 32)
    lines = read_manifest(out / "output_0.manifest")
    assert len(lines) == 9
    for line in lines:
        assert set(line) == {"id", "source", "usage", "annotation"}
        assert os.path.isabs(line["source"]) and os.path.isfile(line["source"])
        assert line["annotation"][0]["type"] == "modelarts/image_classification"
        assert line["annotation"][0]["name"] == os.path.basename(os.path.dirname(line["source"]))
    assert len({line["id"] for line in lines}) == 9
    stats = [json.loads(s) for s in (out / "stats.jsonl").read_text().splitlines()]
    assert {"kimg", "loss_G", "loss_D", "D_real", "D_fake", "sec_per_kimg"} <= set(stats[0])
    # one row per tick, kimg strictly increasing; a snapshot is named in the row of the tick
    # it closes (scoring is off here: no kid)
    assert [r["tick"] for r in stats] == list(range(1, len(stats) + 1))
    assert all(a["kimg"] < b["kimg"] for a, b in zip(stats, stats[1:]))
    assert all("loss_G" in r and "kid" not in r for r in stats)
    assert [(r["kimg"], r["snapshot"]) for r in stats if "snapshot" in r] == [
        (0.024, "snapshot-000000024"), (0.048, "snapshot-000000048")]
    report = json.loads((out / "validation.json").read_text())
    assert report["summary"]["kept"] == 18
    # msgan never modifies the input folder
    assert tree_hash(data) == before
    # config.yaml holds the value used for each auto key, marked as auto
    config = (out / "config.yaml").read_text()
    assert "  ema_kimg: 2.5  # auto: batch_size * 10 / 32\n" in config
    assert "  snapshot_kimg: 0.024\n" in config                      # set: not auto
    # every file gets the umask's mode (MindSpore writes -r--------, temp files -rw-------)
    mode = 0o666 & ~_umask()
    for rel in ("model/G_ema.onnx", "model/G_ema.mindir", "samples/reals.png",
                "checkpoints/snapshot-000000048/G_ema.ckpt", "output_0.manifest",
                "report.html"):
        assert (out / rel).stat().st_mode & 0o777 == mode, rel
    # report.html: one page with nothing loaded from elsewhere and a row per class; the last
    # log line points at it
    page = (out / "report.html").read_text(encoding="utf-8")
    assert page.startswith("<!DOCTYPE html>") and page.rstrip().endswith("</html>")
    refs = re.findall(r'(?:src|href)="([^"]*)"', page)
    assert refs and all(re.match(r"data:image/(png|gif);base64,", r) for r in refs)
    assert any(r.startswith("data:image/gif;base64,") for r in refs)     # progress.gif
    assert all(f"<td>{c}</td>" in page for c in ("bar", "circle", "square"))
    assert "report.html" in (out / "log.txt").read_text().strip().splitlines()[-1]


def test_rerun_into_existing_output_needs_force_or_resume(conditional_run):
    data, _, out = conditional_run
    r = run_msgan("train", "configs/dcgan_cpu.yaml", *TINY, f"data.path={data}",
                  f"output_dir={out}")
    assert r.returncode == 2
    assert r.stderr.strip().startswith("msgan: error: output_dir")
    assert "already holds a run (snapshots, exports, generated images)" in r.stderr
    assert "Traceback" not in r.stderr


def test_resume_auto_continues_the_run(conditional_run, tmp_path):
    data, _, out = conditional_run
    import shutil
    run2 = tmp_path / "run2"
    shutil.copytree(out, run2)
    before = (run2 / "stats.jsonl").read_text()
    # as if the run had been killed after ticks past its last snapshot (kimg 0.048)
    with open(run2 / "stats.jsonl", "a") as f:
        for tick, kimg in ((5, 0.056), (6, 0.064)):
            f.write(json.dumps({"tick": tick, "kimg": kimg, "loss_G": 9.0, "loss_D": 9.0}) + "\n")
    r = run_msgan("train", "configs/dcgan_cpu.yaml", *TINY, f"data.path={data}",
                  f"output_dir={run2}", "train.total_kimg=0.064", "train.snapshot_kimg=0.024",
                  "train.resume=auto", "generate.generate_num=1")
    assert r.returncode == 0, r.stderr[-3000:]
    assert "resumed from" in (run2 / "log.txt").read_text()
    text = (run2 / "stats.jsonl").read_text()
    assert text.startswith(before)          # the rows up to the snapshot are kept as they were
    rows = [json.loads(s) for s in text.splitlines()]
    kimgs = [r["kimg"] for r in rows]
    assert all(a < b for a, b in zip(kimgs, kimgs[1:])), kimgs      # no kimg twice
    assert kimgs[-1] == pytest.approx(0.064) and rows[-1]["loss_G"] != 9.0
    assert [r["tick"] for r in rows] == list(range(1, len(rows) + 1))
    assert [r["snapshot"] for r in rows if "snapshot" in r] == [
        "snapshot-000000024", "snapshot-000000048", "snapshot-000000064"]
    assert (run2 / "checkpoints" / "snapshot-000000064").is_dir()


@pytest.mark.parametrize("model", ["model/G_ema.mindir", "model/G_ema.onnx", "checkpoints"])
def test_predict_mode_from_each_export(conditional_run, tmp_path, model):
    data, _, out = conditional_run
    path = out / model
    if model == "checkpoints":
        path = sorted(path.iterdir())[-1]
    pred = tmp_path / "pred"
    r = run_msgan("train", "configs/dcgan_cpu.yaml", *TINY, f"data.path={data}",
                  f"output_dir={pred}", "generate.predict=true", f"generate.resume={path}",
                  "generate.generate_num=4")
    assert r.returncode == 0, r.stderr[-3000:]
    lines = read_manifest(pred / "output_0.manifest")
    assert len(lines) == 12
    for cls in ("bar", "circle", "square"):
        assert len(list((pred / "Data" / cls).glob("*.png"))) == 4
    assert all(os.path.isfile(line["source"]) for line in lines)
    assert not (pred / "checkpoints").exists()          # predict mode trains nothing


def test_generate_command_remakes_any_image_of_the_run(conditional_run, tmp_path):
    _, _, out = conditional_run
    a = tmp_path / "a"
    # the run wrote circle_0..circle_2 (seeds 0..2 in every class); remake circle_1 alone
    r = run_msgan("generate", "--model", str(out), "--num", "1", "--out", str(a),
                  "--seed", "1", "--class", "circle")
    assert r.returncode == 0, r.stderr[-2000:]
    assert r.stderr.count("generate: 100%") == 1                    # the finished bar, once
    assert sorted(p.name for p in (a / "Data" / "circle").iterdir()) == ["circle_1.png"]
    remade = np.asarray(Image.open(a / "Data" / "circle" / "circle_1.png"), np.int16)
    original = np.asarray(Image.open(out / "Data" / "circle" / "circle_1.png"), np.int16)
    assert np.abs(remade - original).max() <= 1
    # earlier output is not replaced without --force
    r = run_msgan("generate", "--model", str(out / "model" / "G_ema.onnx"), "--num", "1",
                  "--out", str(a))
    assert r.returncode == 2 and "--force" in r.stderr
    assert sorted(p.name for p in (a / "Data" / "circle").iterdir()) == ["circle_1.png"]


def test_unconditional_mlp_gan_on_single_level_folder(tmp_path):
    data = tmp_path / "flat"
    data.mkdir()
    rng = np.random.default_rng(3)
    for i in range(10):
        Image.fromarray(rng.integers(0, 255, (12, 20), dtype=np.uint8), "L").save(
            data / f"{i}.bmp")
    out = tmp_path / "run"
    r = run_msgan("train", "configs/gan_digits.yaml", f"data.path={data}", f"output_dir={out}",
                  "data.resolution=8", "model.g_hidden=[16]", "model.d_hidden=[16]",
                  "train.batch_size=4", "train.total_kimg=0.012", "train.progress=false",
                  "generate.generate_num=5", "generate.batch_size=4")
    assert r.returncode == 0, r.stderr[-3000:]
    images = sorted((out / "Data").glob("*.png"))
    assert len(images) == 5
    lines = read_manifest(out / "output_0.manifest")
    assert len(lines) == 5 and all(line["annotation"] == [] for line in lines)
    assert Image.open(images[0]).mode == "L"


def test_evaluate_and_augmentation_report(conditional_run):
    data, _, out = conditional_run
    r = run_msgan("evaluate", str(data), str(out / "Data"), "--resolution", "32", "--epochs", "2")
    assert r.returncode == 0, r.stderr[-3000:]
    assert "training the feature classifier" in r.stderr           # progress, not silence
    metrics = json.loads((out / "report" / "metrics.json").read_text())
    # this run scored no snapshots (metrics.extractor=none): evaluate says there is no KID
    # of the run to compare with, rather than leaving two unexplained numbers
    assert "no snapshot KID to compare with" in metrics["comparison"]
    assert metrics["overall"]["kid"] is not None and set(metrics["per_class"]) == {
        "bar", "circle", "square"}
    r = run_msgan("evaluate", str(data), str(out / "Data"), "--resolution", "32", "--epochs", "2",
                  "--seeds", "2", "--augmentation-benefit")
    assert r.returncode == 0, r.stderr[-3000:]
    report = json.loads((out / "report" / "augmentation.json").read_text())
    assert "verdict" in report
    assert (out / "report" / "augmentation.png").is_file()
    # the run's report.html now shows evaluate's figures and verdict as well
    page = (out / "report.html").read_text(encoding="utf-8")
    assert "msgan evaluate: KID" in page and report["verdict"] in page
    # a model instead of a folder: images are generated to a temporary folder and scored
    r = run_msgan("evaluate", str(data), str(out / "model" / "G_ema.onnx"), "--num", "4",
                  "--resolution", "32", "--epochs", "2")
    assert r.returncode == 0, r.stderr[-3000:]
    from_model = json.loads((out / "model" / "report" / "metrics.json").read_text())
    assert from_model["overall"]["n_fake"] == 12


def test_best_snapshot_scoring_and_class_balance(tmp_path):
    """Imbalanced classes + balance: each class is filled up to the largest; snapshots scored."""
    data = make_class_folder(tmp_path / "imbalanced", per_class=4)
    for i in range(4, 9):   # 'circle' gets 9 images, the others 4
        Image.new("RGB", (30, 30), (200, 10 * i, 0)).save(data / "circle" / f"extra{i}.png")
    out = tmp_path / "run"
    r = run_msgan("train", "configs/dcgan_cpu.yaml", *TINY, f"data.path={data}",
                  f"output_dir={out}", "train.total_kimg=0.032", "train.snapshot_kimg=0.016",
                  "metrics.extractor=classifier", "metrics.kid_images=24",
                  "metrics.classifier_epochs=2", "generate.balance=true",
                  "generate.generate_num=10")     # the most a class gets: not reached here
    assert r.returncode == 0, r.stderr[-3000:]
    rows = [json.loads(s) for s in (out / "stats.jsonl").read_text().splitlines()]
    scored = [row for row in rows if "snapshot" in row]
    assert [row["snapshot"] for row in scored] == ["snapshot-000000016", "snapshot-000000032"]
    assert all(row["kid"] is not None for row in scored)
    # the scores are in the row of the tick the snapshot closed: one row per tick, no kimg twice
    assert [row["kimg"] for row in rows] == pytest.approx([0.016, 0.032])
    assert all({"tick", "loss_G", "loss_D", "kid", "fid", "kid_per_class", "score_sec"}
               <= set(row) for row in scored)
    best = min(scored, key=lambda row: row["kid"])
    exported = json.loads((out / "model" / "best.json").read_text())
    assert exported["kimg"] == pytest.approx(best["kimg"])          # model/best.* is that one
    assert exported["parity"]["onnx"]["ok"]
    final = json.loads((out / "model" / "G_ema.json").read_text())  # use_snapshot=best (default)
    assert final["kimg"] == pytest.approx(best["kimg"])
    counts = {c: len(list((out / "Data" / c).glob("*.png"))) for c in ("bar", "circle", "square")}
    assert counts == {"bar": 5, "circle": 0, "square": 5}
    assert len(read_manifest(out / "output_0.manifest")) == 10


def test_stylegan2_run_exports_and_generates_per_class(tmp_path):
    """StyleGAN2-ADA through the same CLI: ADA p logged, exports with psi pass parity."""
    data = make_class_folder(tmp_path / "two", classes=("circle", "square"), per_class=4)
    out = tmp_path / "run"
    r = run_msgan("train", "configs/stylegan2_cpu.yaml", f"data.path={data}", f"output_dir={out}",
                  "data.resolution=8", "data.channels=3", "model.z_dim=16", "model.w_dim=16",
                  "model.channel_base=64", "model.channel_max=16", "train.batch_size=4",
                  "train.total_kimg=0.008", "train.snapshot_kimg=0.004", "train.progress=false",
                  "metrics.extractor=none", "generate.generate_num=3", "generate.batch_size=4",
                  "generate.truncation=0.7", "generate.min_class_images=0",
                  # 8 images of training make noise that a class filter rightly rejects; the
                  # filter has its own tests (test_class_filter.py)
                  "generate.filter=none", "metrics.benefit_check=false")
    assert r.returncode == 0, r.stderr[-3000:]
    rows = [json.loads(s) for s in (out / "stats.jsonl").read_text().splitlines()]
    assert all("ada_p" in row for row in rows) and "loss_r1" in rows[0]
    parity = json.loads((out / "model" / "G_ema.json").read_text())
    assert parity["inputs"] == ["z", "c", "psi"]
    assert parity["parity"]["mindir"]["ok"] and parity["parity"]["onnx"]["ok"]
    for cls in ("circle", "square"):
        assert len(list((out / "Data" / cls).glob("*.png"))) == 3
    pred = tmp_path / "pred"
    r = run_msgan("generate", "--model", str(out / "model" / "G_ema.onnx"), "--num", "2",
                  "--out", str(pred), "--truncation", "0.5")
    assert r.returncode == 0, r.stderr[-3000:]
    assert len(read_manifest(pred / "output_0.manifest")) == 4


def test_training_skips_broken_inputs_and_leaves_them_alone(tmp_path):
    """A messy folder trains: broken files are skipped and reported, nothing is modified."""
    data = make_class_folder(tmp_path / "messy data", classes=("ä b", "c"), per_class=4)
    (data / "ä b" / "zero.jpg").write_bytes(b"")
    (data / "ä b" / "text.png").write_text("not an image")
    good = (data / "c" / "00 img.jpg").read_bytes()
    (data / "c" / "truncated.jpg").write_bytes(good[: len(good) // 2])
    Image.fromarray(np.full((20, 30), 40000, np.uint16)).save(data / "c" / "sixteen.png")
    Image.new("CMYK", (24, 24), (10, 200, 30, 0)).save(data / "c" / "cmyk.jpg")
    Image.new("RGBA", (16, 40), (255, 0, 0, 128)).save(data / "c" / "alpha.png")
    (data / "c" / "deeper").mkdir()
    Image.new("RGB", (16, 16)).save(data / "c" / "deeper" / "ignored.png")
    (data / ".hidden.png").write_bytes(b"x")
    before = tree_hash(data)
    out = tmp_path / "run"
    r = run_msgan("train", "configs/dcgan_cpu.yaml", *TINY, f"data.path={data}",
                  f"output_dir={out}", "train.total_kimg=0.016", "train.export=[]",
                  "generate.generate_num=1")
    assert r.returncode == 0, r.stderr[-3000:]
    assert "Traceback" not in r.stderr
    report = json.loads((out / "validation.json").read_text())
    problems = {os.path.basename(p["file"]): p["problem"] for p in report["problems"]}
    assert problems["zero.jpg"] == "zero_bytes"
    assert problems["text.png"] == "not_an_image"
    assert "truncated.jpg" in problems
    assert report["summary"]["kept"] == 11          # 8 drawings + 16-bit, CMYK, RGBA
    assert tree_hash(data) == before
    assert len(read_manifest(out / "output_0.manifest")) == 2
