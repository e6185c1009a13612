"""No graph compiles after the first training steps (issue 6): every changing scalar enters as a Tensor.

MindSpore's ``ms.jit`` records each graph it compiles as a phase name in
``mindspore.graph.api.ms_compile_cache`` (module, function, argument key); a Python float argument
becomes part of that key, so each new value adds a phase. The counter below reads that set.
"""
import numpy as np
import pytest

ms = pytest.importorskip("mindspore")
from mindspore.graph import api as ms_api  # noqa: E402

from msgan.config import load_config  # noqa: E402
from msgan.train.phases import build_phases  # noqa: E402
from msgan.train.phases.base import Progress  # noqa: E402
from msgan.train.phases.classic import ClassicPhases  # noqa: E402

B = 4


def compiled_phases():
    return set(ms_api.ms_compile_cache)


def new_compiles(before):
    # phase names start with "<module>.<function>": enough to say which graph recompiled
    return sorted(p.split("/")[0] for p in compiled_phases() - before)


def build(name, resolution, model_keys, num_classes, phases_cls):
    cfg = load_config(None, [f"model.name={name}", "model.z_dim=8", f"train.batch_size={B}",
                             f"data.resolution={resolution}", "data.channels=3", *model_keys])
    ms.set_seed(0)
    ph = build_phases(cfg, num_classes)
    assert isinstance(ph, phases_cls)
    return ph, cfg


def batches(resolution, num_classes, n, seed=0):
    rng = np.random.default_rng(seed)
    return [(rng.uniform(-1, 1, (B, 3, resolution, resolution)).astype(np.float32),
             rng.integers(0, num_classes, B).astype(np.int32)) for _ in range(n)]


def train(ph, data, first_it, total_steps=6):
    """Iterations as the run calls them: each step at its place in the schedule, so the
    instance-noise std (fraction) and the EMA beta (nimg) change from step to step."""
    for i, batch in enumerate(data):
        it = first_it + i
        ph.step(batch, it, Progress(nimg=it * B, total_nimg=total_steps * B))


@pytest.fixture(scope="module")
def dcgan():
    ph, cfg = build("dcgan", 32, ["model.ngf=4", "model.ndf=4", "model.instance_noise=0.1"],
                    3, ClassicPhases)
    data = batches(32, 3, 6)
    before = compiled_phases()
    train(ph, data[:2], 0)
    first = new_compiles(before)
    return ph, cfg, data, first


def test_counter_sees_the_first_compiles_and_python_floats(dcgan):
    """The hook works: the first steps compile, and floats passed to a jit graph recompile it."""
    ph, _, _, first = dcgan
    assert len(first) >= 3, first                 # D step, G step, EMA
    before = compiled_phases()
    ph._ema_step(0.999)
    ph._ema_step(0.998)
    assert len(new_compiles(before)) == 2


def test_classic_phases_compile_nothing_after_two_steps(dcgan):
    ph, cfg, data, _ = dcgan
    before = compiled_phases()
    train(ph, data[2:], 2)           # instance noise std decays, EMA beta ramps up
    assert new_compiles(before) == []
