"""train.amp=O2 for the image-to-image phases: fp16 nets, fp32 losses, a loss scale per optimizer,
overflow skips, fp32 eval generators that export with parity.

Tiny nets, one compiled phases object per model; pix2pix and CycleGAN only, as DiscoGAN's
phases share the same amp code (the Phases base) and a third compile would not fit the time
budget.
"""
import numpy as np
import pytest

ms = pytest.importorskip("mindspore")
pytest.importorskip("onnxruntime")

from msgan.config import load_config  # noqa: E402
from msgan.inference.export import export_generator  # noqa: E402
from msgan.models import cyclegan, pix2pix  # noqa: E402
from msgan.train.phases import build_phases  # noqa: E402
from msgan.train.phases.base import Progress  # noqa: E402
from msgan.train.phases.translate import CycleGANPhases, Pix2PixPhases  # noqa: E402

B, R, C = 2, 16, 3
MODELS = {
    "pix2pix": (pix2pix, Pix2PixPhases, ["model.d_layers=2"]),
    # no identity loss: two G calls less to compile, and nothing amp-specific in them
    "cyclegan": (cyclegan, CycleGANPhases, ["model.d_layers=2", "model.n_blocks=1",
                                            "model.pool_size=2", "model.lambda_identity=0"]),
}


def make(name, level="O2"):
    _, phases_cls, extra = MODELS[name]
    cfg = load_config(None, [f"model.name={name}", "model.ngf=4", "model.ndf=4",
                             f"data.resolution={R}", f"data.channels={C}",
                             f"train.batch_size={B}", f"train.amp={level}", *extra])
    ms.set_seed(0)
    ph = build_phases(cfg, 0)
    assert isinstance(ph, phases_cls)
    return ph


def problem(seed=0):
    a = np.random.default_rng(seed).uniform(-1, 1, (B, C, R, R)).astype(np.float32)
    return a, np.tanh(2.0 * a[:, ::-1]).copy()


def at(it):
    return Progress(nimg=it * B, total_nimg=1000 * B)


def number(t):
    return float(t.asnumpy())


@pytest.fixture(scope="module", params=["pix2pix", "cyclegan"])
def trained(request):
    ph = make(request.param)
    a, b = problem()
    stats = [{k: v.asnumpy() for k, v in ph.step((a, b), i, at(i)).items()} for i in range(2)]
    return request.param, ph, stats


def test_o2_trains_fp16_nets_with_fp32_losses_and_logged_scales(trained):
    name, ph, stats = trained
    gens = MODELS[name][0].GENERATORS
    assert all(ph.nets[k].get_flags().get("fp16") for k in ph.nets)
    assert {"scale_G", "scale_D"} <= set(ph.state_cells())
    for s in stats:
        assert s["loss_G"].dtype == np.float32 and s["loss_D"].dtype == np.float32
        assert np.isfinite(s["loss_G"]) and np.isfinite(s["loss_D"])
    for net in ("G", "D"):       # 2^16 may overflow at first: those steps skip and halve it
        oks = [bool(s[f"update_ok_{net}"]) for s in stats]
        scales = [float(s[f"loss_scale_{net}"]) for s in stats]
        assert scales[-1] == 2.0 ** 16 / 2 ** oks.count(False), (oks, scales)
    for cell in ph.nets.values():
        for p in cell.get_parameters():
            assert p.dtype == ms.float32 and np.isfinite(p.asnumpy()).all(), p.name
    for k, G in ph.generators().items():       # fp32 eval copies holding the trained weights
        assert k in gens and not G.get_flags().get("fp16") and not G.training
        for pe, p in zip(G.get_parameters(), ph.nets[k].get_parameters(), strict=True):
            assert pe.name == p.name
            np.testing.assert_array_equal(pe.asnumpy(), p.asnumpy(), err_msg=p.name)


def test_overflow_skips_the_update_and_halves_the_scale(trained):
    _, ph, _ = trained
    a, b = problem(seed=3)
    for scale in ph.scales.values():
        scale.set_value(2.0 ** 100)        # the fp32 loss times this is finite, fp16 grads are not
    params = ph.opt_G.parameters + ph.opt_D.parameters
    before = {p.name: p.asnumpy().copy() for p in params}
    s = ph.step((a, b), 10, at(10))
    assert not bool(s["update_ok_G"].asnumpy()) and not bool(s["update_ok_D"].asnumpy())
    assert number(s["loss_scale_G"]) == number(s["loss_scale_D"]) == 2.0 ** 99
    assert np.isfinite(number(s["loss_G"])) and np.isfinite(number(s["loss_D"]))
    for p in params:
        np.testing.assert_array_equal(p.asnumpy(), before[p.name], err_msg=p.name)
    for scale in ph.scales.values():
        scale.set_value(256.0)
    s = ph.step((a, b), 11, at(11))        # a sane scale trains again
    assert bool(s["update_ok_G"].asnumpy()) and bool(s["update_ok_D"].asnumpy())
    assert number(s["loss_scale_G"]) == number(s["loss_scale_D"]) == 256.0
    for opt in (ph.opt_G, ph.opt_D):
        assert any(np.abs(p.asnumpy() - before[p.name]).max() > 0 for p in opt.parameters)


def test_generators_of_o2_training_export_with_parity(trained, tmp_path):
    name, ph, _ = trained
    module = MODELS[name][0]
    G = ph.generators()[module.GENERATORS[-1]]
    net = module.export_net(G)
    meta = {"model": name, "inputs": ["x"], "batch": 2, "input_shape": [C, R, R]}
    result = export_generator(net, meta, str(tmp_path / name), formats=("mindir", "onnx"))
    for fmt in ("mindir", "onnx"):
        assert result[fmt]["ok"] and result[fmt]["max_abs_diff"] <= 1e-4, result

