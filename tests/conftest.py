"""Test-process set-up that every msgan command does in runtime.select_device: oneDNN's CPU
convolutions capped at AVX2 (msgan/ops/onednn.py), before any test runs a kernel."""
from msgan.ops import onednn


def pytest_configure(config):
    onednn.cap_cpu_isa()
