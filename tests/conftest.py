"""Test-process set-up that every msgan command does in runtime.select_device: oneDNN's CPU
convolutions capped at AVX2 (msgan/ops/onednn.py), before any test runs a kernel; and the
``spawn`` fixture for tests that start msgan processes and go on while they run."""
import subprocess
import sys

import pytest

from msgan.ops import onednn
from msgan_process import ROOT, msgan_env


def pytest_configure(config):
    onednn.cap_cpu_isa()


@pytest.fixture
def spawn():
    """``spawn(*python_args, **popen_kw)``: a Popen of this Python from the repository root, msgan
    importable. A test that fails or times out must not leave a training run going, so every
    process still running at the test's end is killed."""
    started = []

    def popen(*args, **kw):
        proc = subprocess.Popen([sys.executable, *map(str, args)], cwd=ROOT, env=msgan_env(),
                                text=True, **kw)
        started.append(proc)
        return proc

    yield popen
    for proc in started:
        if proc.poll() is None:
            proc.kill()
        proc.wait()
