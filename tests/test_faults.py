"""Faults: kill -9 at random moments and Ctrl-C never lose a run; resume continues it."""
import json
import os
import random
import signal
import subprocess
import time

import pytest

pytest.importorskip("mindspore")
ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
ARGS = ["configs/dcgan_cpu.yaml", "model.ngf=4", "model.ndf=4", "model.z_dim=8",
        "train.batch_size=8", "train.total_kimg=0.096", "train.snapshot_kimg=0.016",
        "train.tick_kimg=0.008", "train.progress=false", "generate.generate_num=1",
        "metrics.extractor=none", "metrics.benefit_check=false", "train.export=[mindir]",
        "generate.filter=none"]       # its classifier (500 steps) was half of a finished run


def start(spawn, out, *extra):
    return spawn("-m", "msgan", "train", *ARGS, f"output_dir={out}", *extra,
                 stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)


def snapshots(out):
    d = out / "checkpoints"
    return sorted(p.name for p in d.iterdir() if p.name.startswith("snapshot-")) if d.exists() else []


def wait_for_snapshots(proc, out, n, timeout=300):
    t0 = time.time()
    while len(snapshots(out)) < n and proc.poll() is None and time.time() - t0 < timeout:
        time.sleep(0.05)


def check_complete(out):
    for name in snapshots(out):
        for f in ("state.ckpt", "G_ema.ckpt", "host.json", "meta.json"):
            assert (out / "checkpoints" / name / f).is_file(), (name, f)
        json.loads((out / "checkpoints" / name / "host.json").read_text())


def test_kill_9_at_random_moments_then_resume(tmp_path, spawn):
    out = tmp_path / "run"
    rng = random.Random(1234)
    for attempt in range(3):
        proc = start(spawn, out, "train.resume=auto")
        wait_for_snapshots(proc, out, attempt + 1)
        time.sleep(rng.uniform(0.0, 1.5))      # somewhere in a step, a tick or a snapshot write
        if proc.poll() is None:
            proc.send_signal(signal.SIGKILL)
        proc.wait()
        check_complete(out)                    # never a half-written snapshot
    proc = start(spawn, out, "train.resume=auto")
    _, err = proc.communicate(timeout=600)
    assert proc.returncode == 0, err[-3000:]
    check_complete(out)
    assert "snapshot-000000096" in snapshots(out)
    assert not [p for p in (out / "checkpoints").iterdir() if p.name.startswith(".tmp")]
    rows = [json.loads(s) for s in (out / "stats.jsonl").read_text().splitlines()]
    kimgs = [r["kimg"] for r in rows]
    assert all(a < b for a, b in zip(kimgs, kimgs[1:])), kimgs     # one row per kimg, in order
    assert [r.get("tick") for r in rows] == list(range(1, len(rows) + 1))   # every tick, once
    assert kimgs[-1] == pytest.approx(0.096)
    # each snapshot is named in the row of the tick it closed (pruned ones too)
    assert [(r["kimg"], r["snapshot"]) for r in rows if "snapshot" in r] == [
        (pytest.approx(0.016 * k), f"snapshot-{16 * k:09d}") for k in range(1, 7)]
    assert "resumed from" in (out / "log.txt").read_text()


def test_a_start_killed_before_its_first_snapshot_leaves_no_rows(tmp_path):
    """Its retry (train.resume=auto, or a plain start reusing the folder) begins at kimg 0, so
    the dead start's rows go: stats.jsonl never holds a kimg twice."""
    from msgan import runlock
    from msgan.config import load_config
    from msgan.train.output_dir import prepare_output_dir
    from msgan.train.run import Run
    from msgan.train.tasks import make_task
    out = tmp_path / "run"
    dead = [{"tick": 1, "kimg": 0.008, "loss_G": 1.0}, {"tick": 2, "kimg": 0.016, "loss_G": 1.0}]

    def killed_start():
        (out / "checkpoints").mkdir(parents=True, exist_ok=True)
        (out / "stats.jsonl").write_text("".join(json.dumps(r) + "\n" for r in dead))

    for resume in ("train.resume=auto", "train.resume="):
        killed_start()
        cfg = load_config(os.path.join(ROOT, ARGS[0]),
                          [*ARGS[1:], "data.path=builtin:digits", f"output_dir={out}", resume])
        prepare_output_dir(cfg)          # the folder holds no snapshot: it is reused
        run = Run(cfg, str(out), make_task(cfg, str(out)))
        run._start()                           # what train() does once the phases exist
        assert run.cur_nimg == 0
        assert not (out / "stats.jsonl").exists() or (out / "stats.jsonl").read_text() == ""
        # the retry's rows: one per tick; a snapshot's row at its tick's kimg is that tick's
        run._write_row({"tick": 1, "kimg": 0.008, "loss_G": 0.5})
        run._write_row({"tick": 1, "kimg": 0.008, "snapshot": "snapshot-000000008"})
        run._write_row({"tick": 2, "kimg": 0.016, "loss_G": 0.4})
        rows = [json.loads(s) for s in (out / "stats.jsonl").read_text().splitlines()]
        assert rows == [{"tick": 1, "kimg": 0.008, "loss_G": 0.5,
                         "snapshot": "snapshot-000000008"},
                        {"tick": 2, "kimg": 0.016, "loss_G": 0.4}]
        (out / "stats.jsonl").unlink()
        runlock.release(str(out))            # train() releases what prepare_output_dir took


def test_ctrl_c_writes_a_snapshot_and_exits(tmp_path, spawn):
    out = tmp_path / "run"
    proc = start(spawn, out, "train.total_kimg=10")
    wait_for_snapshots(proc, out, 1)
    time.sleep(0.5)
    proc.send_signal(signal.SIGINT)
    _, err = proc.communicate(timeout=300)
    assert proc.returncode == 130, err[-2000:]
    assert "Traceback" not in err
    last = snapshots(out)[-1]
    host = json.loads((out / "checkpoints" / last / "host.json").read_text())
    assert host["cur_nimg"] >= 16
    # the snapshot Ctrl-C wrote is named in the last row, at its kimg: the steps since the
    # last tick close a (shorter) tick of their own, or it joins the tick that just ended
    rows = [json.loads(s) for s in (out / "stats.jsonl").read_text().splitlines()]
    assert all(a["kimg"] < b["kimg"] for a, b in zip(rows, rows[1:]))
    assert [r["tick"] for r in rows] == list(range(1, host["tick"] + 1))
    assert rows[-1]["snapshot"] == last
    assert rows[-1]["kimg"] == pytest.approx(host["cur_nimg"] / 1000)
    log = (out / "log.txt").read_text()
    assert "interrupted" in log and "train.resume=auto" in log


def test_a_ctrl_c_that_mindspore_swallowed_still_stops_the_run(tmp_path, monkeypatch):
    """MindSpore's C++ code can swallow the KeyboardInterrupt that Ctrl-C raises inside it: the
    loop still stops at its next step, with the Ctrl-C snapshot."""
    from msgan.config import load_config
    from msgan.train import run
    out = tmp_path / "run"
    cfg = load_config(os.path.join(ROOT, ARGS[0]), [*ARGS[1:], "data.path=builtin:digits",
                                                    f"output_dir={out}", "train.total_kimg=10"])
    real_build = run.build_phases

    def build(*args, **kwargs):
        phases = real_build(*args, **kwargs)
        step = phases.step

        def step_that_swallows(batch, it, progress):
            if it == 3:
                try:
                    signal.raise_signal(signal.SIGINT)
                except KeyboardInterrupt:       # what C++ code that clears Python errors does
                    pass
            return step(batch, it, progress)
        phases.step = step_that_swallows
        return phases

    monkeypatch.setattr(run, "build_phases", build)
    # as at a terminal: a suite started in the background of a script inherits SIGINT ignored
    before = signal.signal(signal.SIGINT, signal.default_int_handler)
    try:
        with pytest.raises(KeyboardInterrupt):
            run.train(cfg)
        assert signal.getsignal(signal.SIGINT) is signal.default_int_handler   # handler restored
    finally:
        signal.signal(signal.SIGINT, before)
    host = json.loads((out / "checkpoints" / snapshots(out)[-1] / "host.json").read_text())
    assert host["it"] == 4 and host["cur_nimg"] == 32      # stopped right after the step


def test_a_run_started_with_ctrl_c_ignored_leaves_it_ignored():
    """``cmd &`` in a script starts cmd with SIGINT ignored so that Ctrl-C at the terminal does
    not reach it; the run keeps it that way (SIGTERM still stops it with a snapshot)."""
    from msgan.train.run import Interrupts
    before = signal.signal(signal.SIGINT, signal.SIG_IGN)
    term = signal.getsignal(signal.SIGTERM)
    try:
        with Interrupts() as interrupts:
            assert signal.getsignal(signal.SIGINT) == signal.SIG_IGN
            assert signal.getsignal(signal.SIGTERM) == interrupts._raise
        assert signal.getsignal(signal.SIGINT) == signal.SIG_IGN
        assert signal.getsignal(signal.SIGTERM) == term
    finally:
        signal.signal(signal.SIGINT, before)


@pytest.fixture
def small_disk(tmp_path):
    """A 16 MiB tmpfs, so the disk can really fill up; skipped where mounting is not allowed."""
    mnt = tmp_path / "disk"
    mnt.mkdir()
    r = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=16m", "tmpfs", str(mnt)],
                       capture_output=True, text=True)
    if r.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here ({r.stderr.strip()[:80]})")
    try:
        yield mnt
    finally:
        subprocess.run(["umount", "-l", str(mnt)], capture_output=True)


def fill(folder):
    """Write zeros until the file system is full; returns the filler's path."""
    path = folder / "filler"
    with open(path, "wb") as f:
        try:
            while True:
                f.write(b"\0" * 65536)
                f.flush()
        except OSError:
            pass
    return path


def test_full_disk_stops_with_one_line_and_keeps_the_last_snapshot(small_disk, spawn):
    out = small_disk / "run"
    proc = start(spawn, out)
    wait_for_snapshots(proc, out, 1)
    assert proc.poll() is None, proc.stderr.read()[-2000:]
    filler = fill(small_disk)
    proc.wait(timeout=300)
    err = proc.stderr.read()
    assert proc.returncode == 2, err[-2000:]
    last = err.strip().splitlines()[-1]
    assert last.startswith("msgan: error:") and "train.resume=auto" in last, last
    assert "Traceback" not in err
    assert snapshots(out)
    check_complete(out)
    assert not [n for n in os.listdir(out / "checkpoints") if n.startswith(".tmp-")]

    os.remove(filler)                       # space again: the run continues from the snapshot
    proc = start(spawn, out, "train.resume=auto")
    proc.wait(timeout=300)
    assert proc.returncode == 0, proc.stderr.read()[-2000:]
    assert snapshots(out)[-1] == "snapshot-000000096"
