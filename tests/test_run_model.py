"""A run folder given as a model is the snapshot that wrote its Data/ (the best one, here older
than the newest): generate remakes the run's own images, export and predict mode use the same
snapshot; a damaged snapshot is skipped (train.resume=auto: set aside); a running run's folder
is no place for another msgan writer."""
import json
import os
import shutil

import numpy as np
import pytest
from PIL import Image

pytest.importorskip("mindspore")
ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
BEST = "snapshot-000000016"           # the test's "best by KID": older than the newest (48)
TINY = ["model.ngf=4", "model.ndf=4", "model.z_dim=8", "train.batch_size=8",
        "train.tick_kimg=0.008", "train.progress=false", "metrics.extractor=none",
        "metrics.benefit_check=false", "train.export=[]", "generate.filter=none",
        "generate.min_class_images=0", "generate.generate_num=1", "data.path=builtin:digits"]
CONFIG = os.path.join(ROOT, "configs", "dcgan_cpu.yaml")


@pytest.fixture(scope="module")
def run(tmp_path_factory):
    """A real tiny run (snapshots at 16, 32, 48 images) whose scorer picked snapshot 16: the
    choice is forced because KID on a few dozen images of training is a coin toss."""
    from msgan.config import load_config
    from msgan.train.run import train
    from msgan.train.tasks.noise import NoiseTask
    out = tmp_path_factory.mktemp("model") / "run"
    cfg = load_config(CONFIG, [*TINY, "train.total_kimg=0.048", "train.snapshot_kimg=0.016",
                               f"output_dir={out}"])
    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(NoiseTask, "best_snapshot", lambda self, rows: BEST)
        train(cfg)
    assert sorted(p.name for p in (out / "checkpoints").glob("snapshot-*")) == [
        BEST, "snapshot-000000032", "snapshot-000000048"]
    return out


def pixels(path):
    return np.asarray(Image.open(path))


def msgan(*args, capsys=None):
    from msgan.cli import main
    rc = main(list(map(str, args)))
    return rc, (capsys.readouterr().err if capsys else "")


def test_the_run_records_the_snapshot_that_wrote_its_data(run):
    rec = json.loads((run / "checkpoints" / "run_model.json").read_text())
    assert rec == {"snapshot": BEST, "kimg": 0.016, "why": "the best by KID, which wrote Data/"}


def test_generate_from_the_run_folder_remakes_the_runs_own_image(run, tmp_path, capsys):
    rc, err = msgan("generate", "--model", run, "--class", "3", "--seed", "0", "--num", "1",
                    "--out", tmp_path / "again", capsys=capsys)
    assert rc == 0, err
    assert f"{run}: using {BEST} (kimg 0.016, the best by KID, which wrote Data/)" in \
        err.splitlines()
    own = pixels(run / "Data" / "3" / "3_0.png")
    assert np.array_equal(pixels(tmp_path / "again" / "Data" / "3" / "3_0.png"), own)
    # what the newest snapshot makes differs: without the record this test fails
    rc, _ = msgan("generate", "--model", run / "checkpoints" / "snapshot-000000048", "--class",
                  "3", "--seed", "0", "--num", "1", "--out", tmp_path / "newest")
    assert rc == 0
    assert not np.array_equal(pixels(tmp_path / "newest" / "Data" / "3" / "3_0.png"), own)


def test_export_of_the_run_folder_is_the_runs_model_and_says_which(run, tmp_path, capsys):
    rc, err = msgan("export", "--checkpoint", run, "--format", "mindir", "--out",
                    tmp_path / "exp", capsys=capsys)
    assert rc == 0, err
    sidecar = json.loads((tmp_path / "exp" / "G_ema.json").read_text())
    assert (sidecar["snapshot"], sidecar["kimg"]) == (BEST, 0.016)
    assert f"{run}: using {BEST} (kimg 0.016" in err


def test_predict_mode_with_the_run_folder_remakes_its_images(run, tmp_path):
    out = tmp_path / "pred"
    rc, _ = msgan("train", CONFIG, *TINY, "generate.predict=true", f"generate.resume={run}",
                  f"output_dir={out}")
    assert rc == 0
    for c in ("0", "3", "9"):
        name = f"{c}_0.png"
        assert np.array_equal(pixels(out / "Data" / c / name), pixels(run / "Data" / c / name))


def test_evaluate_with_the_run_folder_scores_the_model_that_wrote_data(run, tmp_path, capsys):
    """The run's own Data/ as the reals: the run folder's images are those very images, so
    their features are too and FID is 0 (the newest snapshot's images would differ)."""
    rc, err = msgan("evaluate", run / "Data", run, "--num", "1", "--epochs", "1", "--out",
                    tmp_path, capsys=capsys)
    assert rc == 0, err
    assert f"{run}: using {BEST} (kimg 0.016" in err
    metrics = json.loads((tmp_path / "report" / "metrics.json").read_text())
    assert metrics["overall"]["n_fake"] == 10
    assert abs(metrics["overall"]["fid"]) < 1e-6


def test_an_old_run_without_checksums_or_record_still_loads(run, tmp_path, capsys):
    old = tmp_path / "old"
    shutil.copytree(run, old, ignore=shutil.ignore_patterns("Data"))
    for f in old.glob("checkpoints/**/checksums.json"):
        f.unlink()
    (old / "checkpoints" / "run_model.json").unlink()
    rc, err = msgan("generate", "--model", old, "--num", "1", "--out", tmp_path / "gen",
                    capsys=capsys)
    assert rc == 0, err
    assert f"{old}: using snapshot-000000048 (kimg 0.048, the newest snapshot: the run has " \
        "recorded no final model" in err
    assert len(list((tmp_path / "gen" / "Data").glob("*/*.png"))) == 10


def test_a_damaged_snapshot_is_skipped_by_generate_and_an_explicit_one_is_refused(run, tmp_path,
                                                                                   capsys):
    copy = tmp_path / "copy"
    shutil.copytree(run, copy, ignore=shutil.ignore_patterns("Data"))
    g = copy / "checkpoints" / BEST / "G_ema.ckpt"
    g.write_bytes(g.read_bytes()[:-10])                # cut short, as by a power loss
    rc, err = msgan("generate", "--model", copy, "--num", "1", "--out", tmp_path / "a",
                    capsys=capsys)
    assert rc == 0, err
    assert (f"{copy}: using snapshot-000000048 (kimg 0.048, the newest intact snapshot; {BEST}, "
            "which wrote Data/, is damaged (G_ema.ckpt has ") in err
    assert (copy / "checkpoints" / BEST).is_dir()      # a reader renames nothing
    rc, err = msgan("generate", "--model", copy / "checkpoints" / BEST, "--num", "1", "--out",
                    tmp_path / "b", capsys=capsys)
    assert rc == 2
    assert err.strip().splitlines()[-1].startswith(
        f"msgan: error: snapshot {copy / 'checkpoints' / BEST} is damaged (G_ema.ckpt has ")
    assert not (tmp_path / "b").exists()


def test_resume_auto_sets_a_damaged_snapshot_aside_and_continues(run, tmp_path, capsys):
    copy = tmp_path / "copy"
    shutil.copytree(run, copy)
    state = copy / "checkpoints" / "snapshot-000000048" / "state.ckpt"
    data = bytearray(state.read_bytes())
    data[len(data) // 2] ^= 0x10                         # one flipped bit
    state.write_bytes(bytes(data))
    rc, err = msgan("train", CONFIG, *TINY, "train.total_kimg=0.048",
                    "train.snapshot_kimg=0.016", "train.resume=auto", f"output_dir={copy}",
                    capsys=capsys)
    assert rc == 0, err[-3000:]
    assert ("snapshot-000000048 (state.ckpt does not match its sha256) is damaged: kept as "
            "checkpoints/damaged-snapshot-000000048; resuming from snapshot-000000032 "
            "(0.032 kimg)") in err.splitlines()
    damaged = copy / "checkpoints" / "damaged-snapshot-000000048" / "state.ckpt"
    assert damaged.read_bytes() == bytes(data)           # kept as it was
    assert f"resumed from {copy / 'checkpoints' / 'snapshot-000000032'}" in \
        (copy / "log.txt").read_text()
    assert (copy / "checkpoints" / "snapshot-000000048" / "checksums.json").is_file()
    rows = [json.loads(s) for s in (copy / "stats.jsonl").read_text().splitlines()]
    kimgs = [r["kimg"] for r in rows]
    assert kimgs == sorted(set(kimgs)) and kimgs[-1] == 0.048    # the damaged one's rows redone


@pytest.fixture
def locked(tmp_path, spawn):
    """A folder a (stand-in) training process is writing."""
    from test_run_lock import holder
    out = tmp_path / "busy"
    return out, holder(spawn, out).pid


def test_generate_and_predict_into_a_running_runs_folder_are_refused(run, locked, capsys):
    out, pid = locked
    for args in (["generate", "--model", run, "--num", "1", "--out", out],
                 ["train", CONFIG, *TINY, "generate.predict=true", f"generate.resume={run}",
                  f"output_dir={out}"]):
        rc, err = msgan(*args, capsys=capsys)
        assert rc == 2
        line = err.strip().splitlines()[-1]
        assert line.startswith(f"msgan: error: {out} is in use by msgan train my.yaml (pid {pid}, "
                               "since ")
    assert sorted(os.listdir(out)) == [".msgan.lock"]     # nothing written
