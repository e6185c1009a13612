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


def test_importing_msgan_models_caps_onednn_before_the_first_conv():
    """Library use (no CLI, no select_device): a user who imports msgan's models and runs them
    from Python gets the same kernels as ``msgan train`` (issue 35, point 11)."""
    pytest.importorskip("mindspore")
    import subprocess
    import sys
    code = ("import os, numpy as np\n"
            "import msgan.models\n"
            "import mindspore as ms\n"
            "from mindspore import nn\n"
            "ms.set_device('CPU')\n"
            "y = nn.Conv2d(4, 8, 3)(ms.Tensor(np.ones((1, 4, 8, 8), np.float32)))\n"
            "print('shape', tuple(y.shape))\n"
            "print('env', os.environ.get('ONEDNN_MAX_CPU_ISA'))\n")
    env = {k: v for k, v in os.environ.items() if k != onednn.ENV}
    env.update(ONEDNN_VERBOSE="1", GLOG_v="3")
    out = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True,
                         timeout=300)
    assert out.returncode == 0, out.stderr[-2000:]
    lines = out.stdout.splitlines()
    assert "shape (1, 8, 8, 8)" in lines
    x86 = platform.machine().lower() in ("x86_64", "amd64")
    assert f"env {'AVX2' if x86 else None}" in lines
    if x86:
        # oneDNN's own word on the ISA it runs (on an AVX-512 CPU it says AVX-512 uncapped)
        isa = [ln for ln in lines if ",info,cpu,isa:" in ln]
        assert isa and "AVX-512" not in isa[0] and "AVX2" in isa[0], isa
        convs = [ln for ln in lines if ",exec,cpu,convolution," in ln]
        assert convs and all(":ref:" not in ln and "ref:any" not in ln for ln in convs), convs
