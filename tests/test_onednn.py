"""msgan caps oneDNN's CPU ISA for its process (MindSpore 2.10's AVX-512 convs are reference code)."""
import os
import platform

import pytest

from msgan.ops import onednn


def test_the_cap_is_set_on_x86_and_a_users_value_wins(monkeypatch):
    monkeypatch.delenv(onednn.ENV, raising=False)
    expected = "AVX2" if platform.machine().lower() in ("x86_64", "amd64") else None
    assert onednn.cap_cpu_isa() == expected
    assert (onednn.ENV in os.environ) == (expected is not None)
    monkeypatch.setenv(onednn.ENV, "AVX512_CORE")
    assert onednn.cap_cpu_isa() == "AVX512_CORE"


def test_select_device_cpu_applies_the_cap(monkeypatch):
    pytest.importorskip("mindspore")
    from msgan import runtime
    monkeypatch.delenv(onednn.ENV, raising=False)
    monkeypatch.setattr(onednn.platform, "machine", lambda: "x86_64")
    assert runtime.select_device("CPU") == "CPU"
    assert os.environ[onednn.ENV] == "AVX2"
