"""Snapshot checksums: a damaged snapshot is found before it is used, skipped with one line and
kept (renamed) by the run that owns it; one named explicitly is an error, never swapped."""
import json
import logging
import os

import pytest

from msgan import io, snapshots
from msgan.errors import MsganError

FILES = {"state.ckpt": 4000, "G_ema.ckpt": 1500, "host.json": 40, "meta.json": 60}


def make_snapshot(ckpts, nimg, checksums=True):
    """A snapshot folder with every file a real one has (contents: distinct bytes per file)."""
    snap = ckpts / io.snapshot_name(nimg)
    snap.mkdir(parents=True)
    for k, (name, size) in enumerate(FILES.items()):
        (snap / name).write_bytes(bytes((nimg + k + i) % 251 for i in range(size)))
    if checksums:
        snapshots.write_checksums(str(snap))
    return snap


def flip_byte(path, offset=100):
    data = bytearray(path.read_bytes())
    data[offset] ^= 0x01
    path.write_bytes(bytes(data))


def truncate(path):
    path.write_bytes(path.read_bytes()[: path.stat().st_size // 2])


@pytest.fixture
def run(tmp_path):
    ckpts = tmp_path / "run" / "checkpoints"
    for nimg in (16, 32, 48):
        make_snapshot(ckpts, nimg)
    return tmp_path / "run"


def test_checksums_list_every_file_and_find_each_kind_of_damage(tmp_path):
    snap = make_snapshot(tmp_path, 16)
    listed = json.loads((snap / snapshots.CHECKSUMS).read_text())["files"]
    assert sorted(listed) == sorted(FILES)
    assert all(listed[f]["bytes"] == FILES[f] for f in FILES)
    assert snapshots.check(str(snap)) is None

    flip_byte(snap / "state.ckpt")
    assert snapshots.check(str(snap)) == "state.ckpt does not match its sha256"
    assert snapshots.check(str(snap), hashes=False) is None      # same size: only hashing sees it
    assert snapshots.check(str(snap), skip=snapshots.TRAINING_ONLY) is None   # generate's view

    snap = make_snapshot(tmp_path, 32)
    truncate(snap / "G_ema.ckpt")
    assert snapshots.check(str(snap)) == "G_ema.ckpt has 750 bytes, 1500 were written"
    assert snapshots.check(str(snap), hashes=False) == "G_ema.ckpt has 750 bytes, 1500 were written"

    snap = make_snapshot(tmp_path, 48)
    (snap / "host.json").unlink()
    assert snapshots.check(str(snap)) == "host.json is missing"

    snap = make_snapshot(tmp_path, 64)
    (snap / snapshots.CHECKSUMS).write_text('{"files": ')     # cut short
    assert snapshots.check(str(snap)).startswith("checksums.json is unreadable")


def test_a_snapshot_written_before_checksums_is_used_unverified(tmp_path, caplog):
    snap = make_snapshot(tmp_path, 16, checksums=False)
    assert snapshots.check(str(snap)) is None
    with caplog.at_level(logging.DEBUG, logger="msgan"):
        found, why = snapshots.model_snapshot(str(tmp_path), ("meta.json", "G_ema.ckpt"))
    assert found == str(snap)
    assert [r.levelno for r in caplog.records] == [logging.DEBUG]    # said, but not shown
    assert "used unverified" in caplog.records[0].getMessage()


def test_resume_auto_falls_back_to_the_newest_intact_snapshot_and_keeps_the_damaged(run, caplog):
    from msgan.train import checkpoint
    ckpts = run / "checkpoints"
    flip_byte(ckpts / "snapshot-000000048" / "state.ckpt")
    truncate(ckpts / "snapshot-000000032" / "host.json")
    with caplog.at_level(logging.INFO, logger="msgan"):
        found = checkpoint.resolve_resume("auto", str(run))
    assert found == str(ckpts / "snapshot-000000016")
    lines = [r.getMessage() for r in caplog.records]
    assert len(lines) == 1, lines                 # one line names both and the one used
    assert lines[0] == (
        "snapshot-000000048 (state.ckpt does not match its sha256), snapshot-000000032 "
        "(host.json has 20 bytes, 40 were written) are damaged: kept as "
        "checkpoints/damaged-snapshot-000000048, checkpoints/damaged-snapshot-000000032; "
        "resuming from snapshot-000000016 (0.016 kimg)")
    assert sorted(p.name for p in ckpts.iterdir()) == [
        "damaged-snapshot-000000032", "damaged-snapshot-000000048", "snapshot-000000016"]
    # nothing lost: the damaged files are still there, and no command lists them again
    assert (ckpts / "damaged-snapshot-000000048" / "state.ckpt").stat().st_size == 4000
    assert io.list_snapshots(str(ckpts)) == [str(ckpts / "snapshot-000000016")]
    # a second damaged snapshot at the same kimg does not overwrite the first one kept
    make_snapshot(ckpts, 48)
    flip_byte(ckpts / "snapshot-000000048" / "meta.json", 3)
    assert checkpoint.resolve_resume("auto", str(run)) == str(ckpts / "snapshot-000000016")
    assert (ckpts / "damaged-snapshot-000000048-2").is_dir()


def test_resume_from_another_runs_folder_skips_without_renaming(run, tmp_path, caplog):
    from msgan.train import checkpoint
    ckpts = run / "checkpoints"
    flip_byte(ckpts / "snapshot-000000048" / "G_ema.ckpt")
    with caplog.at_level(logging.INFO, logger="msgan"):
        found = checkpoint.resolve_resume(str(run), str(tmp_path / "mine"))
    assert found == str(ckpts / "snapshot-000000032")
    assert (ckpts / "snapshot-000000048").is_dir()          # not this run's to rename
    assert [r.getMessage() for r in caplog.records] == [
        "snapshot-000000048 (G_ema.ckpt does not match its sha256) is damaged: skipped; "
        "resuming from snapshot-000000032 (0.032 kimg)"]


def test_a_damaged_snapshot_named_explicitly_is_an_error(run):
    from msgan.train import checkpoint
    snap = run / "checkpoints" / "snapshot-000000048"
    flip_byte(snap / "state.ckpt")
    with pytest.raises(MsganError) as e:
        checkpoint.resolve_resume(str(snap), str(run))
    assert str(e.value) == (
        f"train.resume={snap}: the snapshot is damaged (state.ckpt does not match its sha256) — "
        "resume from another snapshot, or pass the run folder to resume from its newest intact "
        "one")
    with pytest.raises(MsganError, match=r"snapshot .* is damaged \(G_ema.ckpt is missing\)"):
        (snap / "G_ema.ckpt").unlink()
        snapshots.model_snapshot(str(snap), ("meta.json", "G_ema.ckpt"))
    assert snap.is_dir()                                   # an error changes nothing


def test_every_snapshot_damaged_stops_with_one_line(run):
    from msgan.train import checkpoint
    for snap in (run / "checkpoints").iterdir():
        truncate(snap / "state.ckpt")
    with pytest.raises(MsganError, match=r"every snapshot in .* is damaged .* the damaged "
                                         r"snapshots were kept$"):
        checkpoint.resolve_resume("auto", str(run))
    assert len(list((run / "checkpoints").glob("damaged-snapshot-*"))) == 3


def test_pruning_never_counts_a_damaged_snapshot_among_those_kept(run):
    """Three newer snapshots cut short must not push the last intact one out."""
    from msgan.train.checkpoint import _prune
    ckpts = run / "checkpoints"
    for nimg in (64, 80):
        truncate(make_snapshot(ckpts, nimg) / "state.ckpt")
    truncate(ckpts / "snapshot-000000048" / "state.ckpt")
    _prune(str(ckpts), 3, set())
    assert sorted(p.name for p in ckpts.iterdir()) == [
        "snapshot-000000016", "snapshot-000000032", "snapshot-000000048", "snapshot-000000064",
        "snapshot-000000080"]
    make_snapshot(ckpts, 96)
    _prune(str(ckpts), 3, set())
    assert (ckpts / "snapshot-000000016").is_dir()       # still one of the 3 newest intact
    make_snapshot(ckpts, 112)
    _prune(str(ckpts), 3, set())
    assert not (ckpts / "snapshot-000000016").exists()
    assert sorted(p.name for p in ckpts.iterdir()) == [
        "snapshot-000000032", "snapshot-000000048", "snapshot-000000064", "snapshot-000000080",
        "snapshot-000000096", "snapshot-000000112"]


def test_a_run_folder_means_the_snapshot_that_wrote_its_data(run, caplog):
    ckpts = run / "checkpoints"
    need = ("meta.json", "G_ema.ckpt")
    found, why = snapshots.model_snapshot(str(run), need)     # no record yet: the newest
    assert found == str(ckpts / "snapshot-000000048")
    assert why.startswith("the newest snapshot: the run has recorded no final model")
    snapshots.record_run_model(str(ckpts), "snapshot-000000016", "the best by KID (0.5), "
                               "which wrote Data/")
    for given in (run, ckpts):
        found, why = snapshots.model_snapshot(str(given), need)
        assert (found, why) == (str(ckpts / "snapshot-000000016"),
                                "the best by KID (0.5), which wrote Data/")
    assert snapshots.using_line("RUN", found, why) == (
        "RUN: using snapshot-000000016 (kimg 0.016, the best by KID (0.5), which wrote Data/)")
    # named explicitly, a snapshot is used as named
    assert snapshots.model_snapshot(str(ckpts / "snapshot-000000032"), need) == (
        str(ckpts / "snapshot-000000032"), "named")
    # the recorded one damaged: the newest intact, and the line says why (nothing renamed)
    flip_byte(ckpts / "snapshot-000000016" / "G_ema.ckpt")
    flip_byte(ckpts / "snapshot-000000048" / "G_ema.ckpt")
    found, why = snapshots.model_snapshot(str(run), need)
    assert found == str(ckpts / "snapshot-000000032")
    assert why == ("the newest intact snapshot; snapshot-000000016, which wrote Data/, is damaged "
                   "(G_ema.ckpt does not match its sha256); skipped damaged snapshot-000000048 "
                   "(G_ema.ckpt does not match its sha256)")
    assert len(list(ckpts.glob("snapshot-*"))) == 3
    # a damaged state.ckpt does not matter to generate/export/evaluate
    flip_byte(ckpts / "snapshot-000000032" / "state.ckpt")
    assert snapshots.model_snapshot(str(run), need)[0] == str(ckpts / "snapshot-000000032")
    flip_byte(ckpts / "snapshot-000000032" / "G_ema.ckpt")
    with pytest.raises(MsganError, match="no intact snapshot in"):
        snapshots.model_snapshot(str(run), need)


def test_save_snapshot_writes_checksums_that_check_out(tmp_path):
    pytest.importorskip("mindspore")
    from mindspore import nn

    from msgan.train import checkpoint
    cells = {"G": nn.Dense(3, 2), "G_ema": nn.Dense(3, 2)}
    path = checkpoint.save_snapshot(str(tmp_path), 16, cells, {"cur_nimg": 16}, {"model": "x"})
    listed = json.loads(open(os.path.join(path, snapshots.CHECKSUMS)).read())["files"]
    assert sorted(listed) == ["G_ema.ckpt", "host.json", "meta.json", "state.ckpt"]
    assert snapshots.check(path) is None
    assert not [n for n in os.listdir(path) if n.startswith(".tmp")]
    flip_byte(tmp_path / "snapshot-000000016" / "state.ckpt", 50)
    assert snapshots.check(path) == "state.ckpt does not match its sha256"
