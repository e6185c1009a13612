"""Divergence rollback: repeated skipped updates reload the last good snapshot with lower lr."""
import json

import numpy as np
import pytest

ms = pytest.importorskip("mindspore")

from colour_folders import COLOURS, write_folder  # noqa: E402
from msgan.config import load_config  # noqa: E402
from msgan.errors import MsganError  # noqa: E402
from msgan.train import run  # noqa: E402
from msgan.train.rollback import RollbackGuard  # noqa: E402


def test_guard_counts_skips_in_a_row_per_optimizer():
    guard = RollbackGuard(after=3)
    assert not guard.observe({"D": [True, False, False], "G": [True, True, True]})
    assert not guard.healthy()
    assert guard.observe({"D": [False], "G": [True]})          # 3 in a row across ticks
    guard = RollbackGuard(after=3)
    assert not guard.observe({"D": [False, False, True, False, False]})   # broken streak
    assert guard.healthy() is False and guard.longest() == 2
    assert not RollbackGuard(after=0).observe({"D": [False] * 100})      # 0 = never


def test_guard_stops_without_a_snapshot_or_after_too_many_rollbacks():
    guard = RollbackGuard(after=1, max_rollbacks=2)
    guard.observe({"D": [False]})
    with pytest.raises(MsganError, match="before the first good snapshot — "):
        guard.begin(None, 0.5)
    for _ in range(2):
        guard.begin("snapshot-000000016", 0.5)
        assert guard.healthy()
    with pytest.raises(MsganError, match="after 2 rollbacks"):
        guard.begin("snapshot-000000016", 0.5)


def test_nan_weights_roll_back_with_lower_lr_and_training_continues(tmp_path, monkeypatch):
    """A NaN poked into D mid-run: every update is skipped until the loop rolls back."""
    data = write_folder(tmp_path / "data", COLOURS, 8, seed=0)
    cfg = load_config(None, [
        "model.name=gan", "model.z_dim=8", "model.g_hidden=[16]", "model.d_hidden=[16]",
        "model.d_dropout=0.0", f"data.path={data}", "data.resolution=8", "train.batch_size=8",
        "train.total_kimg=0.096", "train.tick_kimg=0.008", "train.snapshot_kimg=0.032",
        "train.rollback_after=2", "train.rollback_lr_factor=0.5", "train.export=[]",
        "train.progress=false", "generate.generate_num=1", "metrics.extractor=none",
        "metrics.benefit_check=false", f"output_dir={tmp_path / 'run'}"])
    built = {}
    real_build = run.build_phases

    def build_with_fault(*args, **kwargs):
        phases = built["phases"] = real_build(*args, **kwargs)
        step = phases.step

        def step_with_fault(batch, it, progress):
            if it == 5 and not built.get("poisoned"):     # once: after the snapshot at it 4
                built["poisoned"] = True
                w = phases.D.trainable_params()[0]
                w.copy_(ms.Tensor(np.full(w.shape, np.nan, np.float32)))
            return step(batch, it, progress)
        phases.step = step_with_fault
        return phases

    monkeypatch.setattr(run, "build_phases", build_with_fault)
    out = run.train(cfg)

    rows = [json.loads(s) for s in open(f"{out}/stats.jsonl")]
    backs = [r for r in rows if "rollback" in r]
    assert len(backs) == 1, rows
    assert backs[0]["rolled_back_to"] == "snapshot-000000032"
    assert backs[0]["from_kimg"] == pytest.approx(0.056)
    assert backs[0]["lr_G"] == pytest.approx(1e-4) and backs[0]["lr_D"] == pytest.approx(1e-4)
    # one row per tick, kimg never repeats: the diverged ticks are dropped and the first tick
    # trained after the rollback carries it
    assert backs[0]["tick"] == 5 and backs[0]["kimg"] == pytest.approx(0.040)
    assert backs[0]["diverged_updates"] >= 2 and "loss_G" in backs[0]
    ticks = [r for r in rows if "tick" in r]
    assert ticks == rows
    assert [r["tick"] for r in ticks] == list(range(1, 13))          # diverged ticks dropped
    assert [r["kimg"] for r in ticks] == pytest.approx([0.008 * i for i in range(1, 13)])
    assert [r["snapshot"] for r in rows if "snapshot" in r] == [
        "snapshot-000000032", "snapshot-000000064", "snapshot-000000096"]
    assert sum(r.get("skipped_D", 0) for r in ticks) == 0
    assert "rolled back to snapshot-000000032" in open(f"{out}/log.txt").read()
    # training went on from the snapshot: finite weights, the lower lr kept for resume
    phases = built["phases"]
    for cell in (phases.G, phases.D, phases.G_ema):
        assert all(np.isfinite(p.asnumpy()).all() for p in cell.get_parameters())
    host = json.load(open(f"{out}/checkpoints/snapshot-000000096/host.json"))
    assert host["phases"]["lr"] == pytest.approx({"G": 1e-4, "D": 1e-4}) and host["rollbacks"] == 1
