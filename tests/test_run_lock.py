"""One run per output folder: a second msgan writer on a folder stops at once with one line that
names the first; the lock dies with its process (kill -9 leaves nothing stale)."""
import json
import os
import signal
import subprocess
import time

import pytest

from msgan import runlock
from msgan.errors import MsganError

HOLD = ("import sys, time; from msgan import runlock; "
        "runlock.acquire(sys.argv[1], 'x', doing='msgan train my.yaml'); "
        "print('held', flush=True); time.sleep(600)")
TRY = ("import sys; from msgan import runlock; from msgan.errors import MsganError\n"
       "try:\n    runlock.acquire(sys.argv[1], 'x')\nexcept MsganError:\n    sys.exit(3)")


def python(spawn, code, *args):
    return spawn("-c", code, *args, stdout=subprocess.PIPE)


def holder(spawn, folder):
    proc = python(spawn, HOLD, folder)
    assert proc.stdout.readline().strip() == "held"
    return proc


def test_a_second_holder_is_refused_with_the_first_ones_name_and_kill_9_frees_it(tmp_path, spawn):
    out = tmp_path / "run"
    first = holder(spawn, out)
    with pytest.raises(MsganError) as e:
        runlock.acquire(str(out), "wait for that run to finish or stop it")
    text = str(e.value)
    assert text.startswith(f"{out} is in use by msgan train my.yaml (pid {first.pid}, since ")
    assert text.endswith(" — wait for that run to finish or stop it") and "\n" not in text
    first.send_signal(signal.SIGKILL)
    first.wait()
    runlock.acquire(str(out), "x")            # nothing stale: the kernel dropped the lock
    try:
        assert json.loads((out / runlock.LOCK_FILE).read_text())["pid"] == os.getpid()
        assert python(spawn, TRY, out).wait() == 3   # and now this process holds it
    finally:
        runlock.release(str(out))
    assert (out / runlock.LOCK_FILE).read_text() == ""    # a released lock names nobody
    assert python(spawn, TRY, out).wait() == 0


def test_the_lock_is_reentrant_within_a_process(tmp_path, spawn):
    out = str(tmp_path / "out")
    runlock.acquire(out, "x")
    runlock.acquire(out, "x")        # e.g. predict mode's generate inside its own lock
    runlock.release(out)
    assert python(spawn, TRY, out).wait() == 3
    runlock.release(out)
    assert python(spawn, TRY, out).wait() == 0


def test_a_folder_that_cannot_be_made_is_one_line(tmp_path):
    (tmp_path / "a file").write_text("")       # (a read-only folder: root writes there anyway)
    with pytest.raises(MsganError, match="cannot write to .* — choose a folder you can write to"):
        runlock.acquire(str(tmp_path / "a file" / "run"), "x")


TINY = ["configs/dcgan_cpu.yaml", "data.path=builtin:digits", "model.ngf=4", "model.ndf=4",
        "model.z_dim=8", "train.batch_size=8", "train.progress=false",
        "metrics.extractor=none", "metrics.benefit_check=false", "train.export=[]"]


def msgan(spawn, *args):
    return spawn("-m", "msgan", *args, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)


def test_a_second_msgan_train_on_a_running_runs_folder_exits_2(tmp_path, spawn):
    out = tmp_path / "run"
    first = msgan(spawn, "train", *TINY, "train.total_kimg=100", f"output_dir={out}")
    lock = out / runlock.LOCK_FILE
    t0 = time.time()
    while first.poll() is None and time.time() - t0 < 300 and not (
            lock.exists() and lock.read_text().strip()):
        time.sleep(0.2)
    assert first.poll() is None, first.stderr.read()[-2000:]
    assert json.loads(lock.read_text())["pid"] == first.pid
    # a retry of the same job, and one with --force that would wipe the folder: both refused
    # before they change anything
    for extra in ([], ["--force"], ["train.resume=auto"]):
        second = msgan(spawn, "train", *TINY, "train.total_kimg=100", f"output_dir={out}", *extra)
        _, err = second.communicate(timeout=300)
        assert second.returncode == 2, err[-2000:]
        line = err.strip().splitlines()[-1]
        assert line.startswith(f"msgan: error: {out} is in use by msgan train ")
        assert f"(pid {first.pid}, since " in line
        assert "output_dir=" in line.split(" — ")[-1]
    assert first.poll() is None                # the first run goes on, its folder untouched
    assert (out / "config.yaml").is_file()
    first.send_signal(signal.SIGKILL)
    first.wait()


def test_a_command_releases_what_it_locked_and_only_that(tmp_path, spawn):
    mine, theirs = str(tmp_path / "mine"), str(tmp_path / "theirs")
    runlock.acquire(mine, "x")
    state = runlock.held()
    runlock.acquire(mine, "x")
    runlock.acquire(theirs, "x")
    runlock.release_to(state)
    ours = {os.path.abspath(mine), os.path.abspath(theirs)}

    def held_here():          # other tests of this worker process may hold their own folders
        return {k: v for k, v in runlock.held().items() if k in ours}

    assert held_here() == {os.path.abspath(mine): 1}
    assert python(spawn, TRY, theirs).wait() == 0
    runlock.release(mine)
    assert held_here() == {}
