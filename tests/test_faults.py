"""Faults: kill -9 at random moments and Ctrl-C never lose a run; resume continues it."""
import json
import os
import random
import signal
import subprocess
import sys
import time

import pytest

pytest.importorskip("mindspore")
ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
ARGS = ["configs/dcgan_cpu.yaml", "model.ngf=4", "model.ndf=4", "model.z_dim=8",
        "train.batch_size=8", "train.total_kimg=0.096", "train.snapshot_kimg=0.016",
        "train.tick_kimg=0.008", "train.progress=false", "generate.generate_num=1",
        "metrics.extractor=none", "metrics.benefit_check=false", "train.export=[mindir]"]


def start(out, *extra):
    env = dict(os.environ, GLOG_v="3", PYTHONPATH=ROOT)
    return subprocess.Popen([sys.executable, "-m", "msgan", "train", *ARGS, f"output_dir={out}",
                             *extra], cwd=ROOT, env=env, stdout=subprocess.DEVNULL,
                            stderr=subprocess.PIPE, text=True)


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


def test_kill_9_at_random_moments_then_resume(tmp_path):
    out = tmp_path / "run"
    rng = random.Random(1234)
    for attempt in range(3):
        proc = start(out, "train.resume=auto")
        wait_for_snapshots(proc, out, attempt + 1)
        time.sleep(rng.uniform(0.0, 1.5))      # somewhere in a step, a tick or a snapshot write
        if proc.poll() is None:
            proc.send_signal(signal.SIGKILL)
        proc.wait()
        check_complete(out)                    # never a half-written snapshot
    proc = start(out, "train.resume=auto")
    _, err = proc.communicate(timeout=600)
    assert proc.returncode == 0, err[-3000:]
    check_complete(out)
    assert "snapshot-000000096" in snapshots(out)
    assert not [p for p in (out / "checkpoints").iterdir() if p.name.startswith(".tmp")]
    rows = [json.loads(s) for s in (out / "stats.jsonl").read_text().splitlines()]
    ticks = [r for r in rows if "tick" in r]
    kimgs = [r["kimg"] for r in ticks]
    assert kimgs == sorted(set(kimgs)), kimgs          # no duplicated ticks
    assert [r["tick"] for r in ticks] == list(range(1, len(ticks) + 1))   # none lost
    assert kimgs[-1] == pytest.approx(0.096)
    assert "resumed from" in (out / "log.txt").read_text()


def test_ctrl_c_writes_a_snapshot_and_exits(tmp_path):
    out = tmp_path / "run"
    proc = start(out, "train.total_kimg=10")
    wait_for_snapshots(proc, out, 1)
    time.sleep(0.5)
    proc.send_signal(signal.SIGINT)
    _, err = proc.communicate(timeout=300)
    assert proc.returncode == 130, err[-2000:]
    assert "Traceback" not in err
    last = snapshots(out)[-1]
    host = json.loads((out / "checkpoints" / last / "host.json").read_text())
    assert host["cur_nimg"] >= 16
    log = (out / "log.txt").read_text()
    assert "interrupted" in log and "train.resume=auto" in log


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


def test_full_disk_stops_with_one_line_and_keeps_the_last_snapshot(small_disk):
    out = small_disk / "run"
    proc = start(out)
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
    proc = start(out, "train.resume=auto")
    proc.wait(timeout=300)
    assert proc.returncode == 0, proc.stderr.read()[-2000:]
    assert snapshots(out)[-1] == "snapshot-000000096"
