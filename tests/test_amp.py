"""Mixed precision (train.amp=O2): fp16 nets, fp32 losses, a dynamic loss scale per optimizer."""
import numpy as np
import pytest

ms = pytest.importorskip("mindspore")
pytest.importorskip("onnxruntime")

from msgan.config import load_config  # noqa: E402
from msgan.errors import MsganError  # noqa: E402
from msgan.inference.export import export_generator  # noqa: E402
from msgan.models import MODELS  # noqa: E402
from msgan.train import checkpoint  # noqa: E402
from msgan.train.phases import build_phases  # noqa: E402
from msgan.train.phases.base import Progress  # noqa: E402
from msgan.train.phases.classic import ClassicPhases  # noqa: E402

B, RES, CLASSES = 8, 32, 3


def make_phases(amp="O2", extra=()):
    cfg = load_config(None, ["model.name=dcgan", "model.z_dim=8", "model.ngf=4", "model.ndf=4",
                             f"data.resolution={RES}", "data.channels=1",
                             f"train.batch_size={B}", f"train.amp={amp}", *extra])
    ms.set_seed(0)
    ph = build_phases(cfg, CLASSES)
    assert isinstance(ph, ClassicPhases)
    return ph


def batches(n, seed=0):
    rng = np.random.default_rng(seed)
    return [(rng.uniform(-1, 1, (B, 1, RES, RES)).astype(np.float32),
             rng.integers(0, CLASSES, B).astype(np.int32)) for _ in range(n)]


def at(it):
    return Progress(nimg=it * B, total_nimg=100 * B)


def number(t):
    return float(t.asnumpy())


@pytest.fixture(scope="module")
def trained():
    """An O2 DCGAN after a few steps (compiled once for every test here)."""
    ph = make_phases()
    stats = []
    for i, batch in enumerate(batches(5)):
        stats.append({k: v.asnumpy() for k, v in ph.step(batch, i, at(i)).items()})
    return ph, stats


def test_o2_trains_in_fp16_with_fp32_losses_and_logged_scales(trained):
    ph, stats = trained
    assert ph.D.features[0].get_flags().get("fp16") and not ph.G_ema.get_flags().get("fp16")
    for s in stats:
        assert s["loss_D"].dtype == np.float32 and s["loss_G"].dtype == np.float32
        assert np.isfinite(s["loss_D"]) and np.isfinite(s["loss_G"])
    assert {"loss_scale_G", "loss_scale_D"} <= set(stats[-1])
    # the first scale (2^16) may overflow: those steps are skipped and the scale halves
    for net in ("G", "D"):
        oks = [bool(s[f"update_ok_{net}"]) for s in stats]
        scales = [float(s[f"loss_scale_{net}"]) for s in stats]
        assert oks[-1] and scales[-1] == 2.0 ** 16 / 2 ** oks.count(False), (oks, scales)
    for p in list(ph.G.get_parameters()) + list(ph.D.get_parameters()):
        assert p.dtype == ms.float32 and np.isfinite(p.asnumpy()).all(), p.name


def test_o2_runs_the_class_head_and_class_batchnorm_with_fp32_losses():
    """D.scores runs outside train.amp's wrapper: its outputs are cast back to fp32."""
    ph = make_phases(extra=["model.ac_weight=1", "model.g_cond=cbn"])
    for i, batch in enumerate(batches(3)):
        stats = {k: v.asnumpy() for k, v in ph.step(batch, i, at(i)).items()}
    for key in ("loss_D", "loss_G", "loss_D_class", "loss_G_class"):
        assert stats[key].dtype == np.float32 and np.isfinite(stats[key]), key


def test_loss_scales_are_saved_and_restored(trained, tmp_path):
    ph, _ = trained
    cells = ph.state_cells()
    ph.scales["D"].set_value(1024.0)
    path = checkpoint.save_snapshot(str(tmp_path), 40, cells, {"phases": ph.host_state()}, {})
    fresh = make_phases()               # not compiled: loading only copies values
    assert fresh.scales["D"].value() == 2.0 ** 16
    checkpoint.load_snapshot(path, fresh.state_cells())
    assert fresh.scales["D"].value() == 1024.0
    assert fresh.scales["G"].value() == ph.scales["G"].value()
    np.testing.assert_array_equal(fresh.scales["G"].counter.asnumpy(),
                                  ph.scales["G"].counter.asnumpy())
    for a, b in zip(ph.G.get_parameters(), fresh.G.get_parameters()):
        np.testing.assert_array_equal(a.asnumpy(), b.asnumpy())


def test_an_fp32_snapshot_resumes_with_mixed_precision_and_fresh_scales(tmp_path):
    fp32 = make_phases("O0")
    stats = fp32.step(batches(1)[0], 0, at(0))
    assert not any(k.startswith("loss_scale_") for k in stats)     # logged with amp only
    cells = fp32.state_cells()
    assert not any(k.startswith("scale_") for k in cells)
    path = checkpoint.save_snapshot(str(tmp_path), 8, cells, {"phases": fp32.host_state()}, {})
    mixed = make_phases("O2")
    keys = [k for k in mixed.state_cells() if k.startswith("scale_")]
    assert keys == ["scale_G", "scale_D"]
    with pytest.raises(MsganError, match="no value for scale_"):
        checkpoint.load_snapshot(path, mixed.state_cells())
    host = checkpoint.load_snapshot(path, mixed.state_cells(), optional=keys)
    assert host["fresh_cells"] == ["scale_D", "scale_G"]
    assert mixed.scales["D"].value() == 2.0 ** 16
    for a, b in zip(fp32.G.get_parameters(), mixed.G.get_parameters()):
        np.testing.assert_array_equal(a.asnumpy(), b.asnumpy())


def test_overflow_skips_the_update_and_lowers_the_scale(trained):
    ph, _ = trained
    batch = batches(1, seed=7)[0]
    for scale in ph.scales.values():
        scale.set_value(2.0 ** 120)      # fp32 holds the scaled loss, fp16 gradients do not
    params = ph.D.trainable_params() + ph.G.trainable_params()
    before = {p.name: p.asnumpy().copy() for p in params}
    s = ph.step(batch, 10, at(10))
    assert not bool(s["update_ok_D"].asnumpy()) and not bool(s["update_ok_G"].asnumpy())
    assert number(s["loss_scale_D"]) == number(s["loss_scale_G"]) == 2.0 ** 119
    assert np.isfinite(number(s["loss_D"]))                  # the fp32 loss itself is fine
    for p in params:
        np.testing.assert_array_equal(p.asnumpy(), before[p.name])
    for scale in ph.scales.values():
        scale.set_value(1024.0)
    s = ph.step(batch, 11, at(11))                           # a sane scale trains again
    assert bool(s["update_ok_D"].asnumpy()) and bool(s["update_ok_G"].asnumpy())


def test_exports_of_an_o2_trained_generator_pass_parity(trained, tmp_path):
    ph, _ = trained
    net = MODELS["dcgan"].export_net(ph.G_ema)               # G_ema stays fp32
    meta = {"model": "dcgan", "model_cfg": {}, "z_dim": 8, "z_dist": "gaussian",
            "num_classes": CLASSES, "classes": ["a", "b", "c"], "resolution": RES,
            "channels": 1, "batch": 4, "inputs": ["z", "c"], "kimg": 0.04}
    result = export_generator(net, meta, str(tmp_path / "G_ema"), formats=("mindir", "onnx"))
    for fmt in ("mindir", "onnx"):
        assert result[fmt]["ok"], result
