"""SRGAN: SRResNet/D shapes, export parity, pre-training and GAN steps, VGG19 content-loss weights.

Tiny nets (ngf/ndf 8, 2 residual blocks, 16² outputs). The training graphs compile once per
module, with VGG19 up to relu2_2: with relu5_4 they take several times longer to compile.
"""
import contextlib
import importlib.util
from pathlib import Path

import numpy as np
import pytest

ms = pytest.importorskip("mindspore")
from mindspore import Tensor  # noqa: E402

from msgan.config import load_config  # noqa: E402
from msgan.errors import MsganError  # noqa: E402
from msgan.models import srgan, vgg19  # noqa: E402
from msgan.train import checkpoint  # noqa: E402
from msgan.train.lr import get_lr, set_lr  # noqa: E402
from msgan.train.phases import build_phases  # noqa: E402
from msgan.train.phases import srgan as sr_phases  # noqa: E402
from msgan.train.phases.base import Progress  # noqa: E402
from msgan.train.phases.srgan import SRGANPhases  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
R, B, C = 16, 4, 3


def make_cfg(scale=2, overrides=()):
    return load_config(None, ["model.name=srgan", f"model.scale={scale}", "model.ngf=8",
                              "model.ndf=8", "model.n_blocks=2", f"data.resolution={R}",
                              f"data.channels={C}", f"train.batch_size={B}",
                              "train.G_opt.lr=0.001", *overrides])


@contextlib.contextmanager
def short_vgg():
    with pytest.MonkeyPatch.context() as mp:
        # relu2_2 instead of relu5_4: the same wiring at a quarter of the compile time
        mp.setattr(sr_phases, "VGG_LAYER", "relu2_2")
        yield


def tiny_problem(scale=2, seed=0):
    """Smooth HR images (low-frequency sinusoids) and their box-filtered LR versions."""
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[0:R, 0:R] / R
    hr = np.empty((B, C, R, R), np.float32)
    for i in range(B):
        for c in range(C):
            fy, fx, ph = rng.uniform(0.5, 2.0), rng.uniform(0.5, 2.0), rng.uniform(0, 6.3)
            hr[i, c] = 0.8 * np.sin(2 * np.pi * (fy * yy + fx * xx) + ph)
    lr = hr.reshape(B, C, R // scale, scale, R // scale, scale).mean(axis=(3, 5))
    return Tensor(lr), Tensor(hr)


def build(cfg):
    ph = build_phases(cfg, 0)
    assert isinstance(ph, SRGANPhases)
    return ph


def at(kimg):
    """The schedule's position at ``kimg`` thousand images (of 10 kimg)."""
    return Progress(nimg=int(kimg * 1000), total_nimg=10_000)


def _random_torchvision_state(seed):
    """Random weights under torchvision's vgg19 names, drawn in state_dict order."""
    rng = np.random.default_rng(seed)
    state = {}
    for name, shape in vgg19.full_shapes().items():
        if name.endswith("weight"):
            state[name] = (rng.standard_normal(shape, dtype=np.float32)
                           * np.sqrt(2.0 / np.prod(shape[1:]))).astype(np.float32)
        else:
            state[name] = (rng.standard_normal(shape, dtype=np.float32) * 0.1).astype(np.float32)
    return state


@pytest.fixture(scope="module")
def vgg_ckpt(tmp_path_factory):
    """scripts/convert_vgg19_weights.py run on random torchvision-named weights (+ classifier)."""
    folder = tmp_path_factory.mktemp("vgg")
    state = _random_torchvision_state(0)
    state["classifier.0.weight"] = np.zeros((4, 4), np.float32)    # dropped by the converter
    src, dst = folder / "vgg19.npz", folder / "vgg19.ckpt"
    np.savez(src, **state)
    spec = importlib.util.spec_from_file_location("convert_vgg19",
                                                  ROOT / "scripts/convert_vgg19_weights.py")
    script = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(script)
    assert script.main([str(src), str(dst)]) == 0
    return str(dst)


@pytest.fixture(scope="module")
def phases(vgg_ckpt):
    ms.set_seed(0)
    cfg = make_cfg(overrides=["model.pretrain_kimg=1.0", "model.content_loss=vgg",
                              f"model.vgg_checkpoint={vgg_ckpt}"])
    with short_vgg():
        return build(cfg)


def _values(params):
    return {p.name: p.asnumpy().copy() for p in params}


@pytest.mark.parametrize("scale", [2, 4])
def test_shapes_for_each_scale(scale):
    cfg = make_cfg(scale)
    ms.set_seed(0)
    nets = srgan.build(cfg.model, R, C)
    assert set(nets) == set(srgan.GENERATORS) | {"D"}
    lr, hr = tiny_problem(scale)
    sr = nets["G"](lr)
    assert lr.shape == (B, C, R // scale, R // scale) and sr.shape == (B, C, R, R)
    assert np.abs(sr.asnumpy()).max() <= 1.0
    assert nets["D"](hr).shape == (B,)
    # D pools globally, so it also judges larger images
    assert nets["D"](Tensor(np.zeros((2, C, 2 * R, 2 * R), np.float32))).shape == (2,)


def test_bad_scale_or_resolution_is_a_clear_error():
    cfg = make_cfg()
    cfg.model.scale = 3
    with pytest.raises(MsganError, match="powers of two"):
        srgan.build(cfg.model, R, C)
    cfg.model.scale = 4
    with pytest.raises(MsganError, match="not divisible"):
        srgan.build(cfg.model, 18, C)


def test_export_parity_mindir_and_onnx(tmp_path):
    from msgan.inference.export import export_generator
    cfg = make_cfg(scale=2)
    ms.set_seed(1)
    G = srgan.build(cfg.model, R, C)["G"]
    meta = {"model": "srgan", "inputs": ["x"], "batch": 2, "input_shape": [C, R // 2, R // 2],
            "resolution": R, "channels": C}
    results = export_generator(srgan.export_net(G), meta, str(tmp_path / "G"))
    for fmt in ("mindir", "onnx"):
        assert results[fmt]["ok"], results[fmt]
        assert results[fmt]["max_abs_diff"] <= 1e-3
        assert results[fmt]["reference_abs_max"] > 0.01    # a real output, not ~0
        assert Path(results[fmt]["path"]).is_file()


def test_pretraining_lowers_pixel_loss_and_leaves_d_alone(phases):
    batch = tuple(x.asnumpy() for x in tiny_problem())
    d_before = _values(phases.D.get_parameters())
    losses = []
    for it in range(12):
        stats = phases.step(batch, it, at(0.0))
        losses.append(float(stats["loss_G"].asnumpy()))
        assert bool(stats["update_ok_G"].asnumpy()) and bool(stats["update_ok_D"].asnumpy())
        assert float(stats["loss_D"].asnumpy()) == 0.0
    assert losses[-1] < 0.6 * losses[0], losses
    for name, value in _values(phases.D.get_parameters()).items():
        np.testing.assert_array_equal(value, d_before[name])


def test_gan_steps_train_g_through_frozen_vgg_and_update_d(phases):
    batch = tuple(x.asnumpy() for x in tiny_problem())
    d_before = _values(phases.D.trainable_params())
    vgg_before = _values(phases.vgg.get_parameters())
    assert not phases.vgg.trainable_params()
    stats = [phases.step(batch, it, at(1.5)) for it in range(4)]      # past pretrain_kimg
    last = stats[-1]
    assert {"loss_G", "loss_D", "loss_G_content", "update_ok_G", "update_ok_D"} <= set(last)
    assert all(np.isfinite(float(v.asnumpy())) for s in stats for v in s.values())
    assert all(bool(s["update_ok_G"].asnumpy()) and bool(s["update_ok_D"].asnumpy())
               for s in stats)
    assert float(last["loss_D"].asnumpy()) > 0.0
    # G's loss is the VGG content loss plus the weighted adversarial term
    assert float(last["loss_G"].asnumpy()) > float(last["loss_G_content"].asnumpy())
    content = [float(s["loss_G_content"].asnumpy()) for s in stats]
    assert content[-1] < content[0], content
    assert any(not np.array_equal(p.asnumpy(), d_before[p.name])
               for p in phases.D.trainable_params())
    for name, value in _values(phases.vgg.get_parameters()).items():
        np.testing.assert_array_equal(value, vgg_before[name])


def test_generators_are_eval_copies_with_current_weights(phases):
    lr, _ = tiny_problem()
    G_eval = phases.generators()["G"]
    for pe, p in zip(G_eval.get_parameters(), phases.G.get_parameters()):
        np.testing.assert_array_equal(pe.asnumpy(), p.asnumpy())
    # eval BatchNorm: a sample's output does not depend on the rest of its batch
    full = G_eval(lr).asnumpy()
    alone = G_eval(lr[:1]).asnumpy()
    np.testing.assert_allclose(alone[0], full[0], atol=1e-5)


def test_state_cells_checkpoint_round_trip(phases, vgg_ckpt, tmp_path):
    cells = phases.state_cells()
    assert set(cells) == {"G", "D", "opt_G", "opt_D"}
    saved = {k: _values(c.get_parameters()) for k, c in cells.items()}
    lr_G = get_lr(phases.optimizers()["G"])
    set_lr(phases.optimizers()["G"], lr_G / 2)      # as a rollback does; not in the .ckpt
    folder = checkpoint.save_snapshot(str(tmp_path), 100, cells, phases.host_state(), {},
                                      weights=phases.generators())
    # the generator alone, as generate/translate load it: a freshly built G's names and shapes
    alone = ms.load_checkpoint(str(Path(folder) / "G.ckpt"))
    built = srgan.build(make_cfg().model, R, C)["G"]
    assert {n: tuple(v.shape) for n, v in alone.items()} == {
        p.name: tuple(p.shape) for p in built.get_parameters()}
    set_lr(phases.optimizers()["G"], lr_G)
    ms.set_seed(5)
    cfg = make_cfg(overrides=["model.content_loss=vgg", f"model.vgg_checkpoint={vgg_ckpt}"])
    with short_vgg():
        fresh = build(cfg)
    fresh.load_host_state(checkpoint.load_snapshot(folder, fresh.state_cells()))
    for key, cell in fresh.state_cells().items():
        for p in cell.get_parameters():
            np.testing.assert_array_equal(p.asnumpy(), saved[key][p.name], err_msg=p.name)
    assert get_lr(fresh.optimizers()["G"]) == pytest.approx(lr_G / 2)
    assert get_lr(fresh.optimizers()["D"]) == pytest.approx(get_lr(phases.optimizers()["D"]))


def test_mixed_precision_pretraining_in_fp16_with_a_loss_scale():
    cfg = make_cfg(overrides=["model.pretrain_kimg=1.0", "train.amp=O2"])
    ms.set_seed(0)
    ph = build(cfg)
    assert ph.G.head[0].get_flags().get("fp16") and not ph.G_eval.get_flags().get("fp16")
    assert {"scale_G", "scale_D"} <= set(ph.state_cells())
    batch = tuple(x.asnumpy() for x in tiny_problem())
    stats = [ph.step(batch, it, at(0.0)) for it in range(8)]
    losses = [float(s["loss_G"].asnumpy()) for s in stats]
    assert all(s["loss_G"].dtype == ms.float32 for s in stats)
    assert {"loss_scale_G", "loss_scale_D"} <= set(stats[-1])
    assert bool(stats[-1]["update_ok_G"].asnumpy())
    assert losses[-1] < 0.8 * losses[0], losses


# -- VGG19 ----------------------------------------------------------------------------------------

# torch 2.13 CPU, a torch.nn.Sequential with torchvision's vgg19().features layout, these random
# weights (_random_torchvision_state(0)), input uniform(-1, 1) of default_rng(1) at (2, 3, 32, 32)
# normalised as ((x + 1) / 2 - mean) / std, features[:36] (through relu5_4) gave:
TORCH_REFERENCE_PROJECTIONS = [[41.25294, 23.51396, -5.84917, 3.15804],
                               [37.58525, 20.89993, -4.30895, 3.34231]]
TORCH_REFERENCE_FIRST = [0.4493565261363983, 0.20694893598556519, 0.5279350280761719, 0.0]
TORCH_REFERENCE_MEAN = 0.2798953722481201


def test_converted_torchvision_weights_give_torch_features(vgg_ckpt):
    """The converter script + load_vgg19 reproduce torch's relu5_4 features of the same weights."""
    net = vgg19.load_vgg19(vgg_ckpt)
    assert not net.trainable_params()                          # frozen
    x = np.random.default_rng(1).uniform(-1, 1, (2, 3, 32, 32)).astype(np.float32)
    f = net(Tensor(x)).asnumpy()
    assert f.shape == (2, 512, 2, 2)
    proj = f.reshape(2, -1) @ np.random.default_rng(2).standard_normal((f[0].size, 4))
    np.testing.assert_allclose(proj, TORCH_REFERENCE_PROJECTIONS, rtol=1e-4, atol=1e-3)
    np.testing.assert_allclose(f.reshape(-1)[:4], TORCH_REFERENCE_FIRST, atol=1e-5)
    assert f.astype(np.float64).mean() == pytest.approx(TORCH_REFERENCE_MEAN, rel=1e-5)


def test_saved_random_vgg_loads_and_gives_its_features(tmp_path):
    ms.set_seed(3)
    net = vgg19.VGG19Features("relu2_2")
    rng = np.random.default_rng(4)
    for p in net.get_parameters():
        p.set_data(Tensor(rng.normal(0, 0.2, tuple(p.shape)).astype(np.float32)))
    path = tmp_path / "partial.ckpt"
    vgg19.save_vgg19_checkpoint({p.name: p.asnumpy() for p in net.get_parameters()}, str(path))
    loaded = vgg19.load_vgg19(str(path), "relu2_2")
    x = Tensor(np.random.default_rng(5).uniform(-1, 1, (2, 1, 16, 16)).astype(np.float32))
    out = loaded(x).asnumpy()
    assert out.shape == (2, 128, 8, 8)                           # greyscale is repeated to RGB
    np.testing.assert_array_equal(out, net(x).asnumpy())
    with pytest.raises(MsganError, match="2 missing .*features.10.bias"):
        vgg19.load_vgg19(str(path), "relu3_1")                   # needs conv3_1 too


def test_bad_vgg_checkpoints_are_clear_errors(tmp_path):
    with pytest.raises(MsganError, match="vgg_checkpoint is not set"):
        vgg19.load_vgg19("")
    missing = tmp_path / "nope.ckpt"
    with pytest.raises(MsganError, match=f"{missing} does not exist.*convert_vgg19_weights"):
        vgg19.load_vgg19(str(missing))
    junk = tmp_path / "junk.ckpt"
    junk.write_bytes(b"not a checkpoint at all")
    with pytest.raises(MsganError, match=f"{junk} is not a readable MindSpore checkpoint"):
        vgg19.load_vgg19(str(junk))
    wrong = tmp_path / "wrong.ckpt"
    arrays = {"features.0.weight": np.zeros((64, 1, 3, 3), np.float32),   # 1 input channel
              "features.0.bias": np.zeros((64,), np.float32)}
    vgg19.save_vgg19_checkpoint(arrays, str(wrong))
    with pytest.raises(MsganError, match=f"{wrong} does not hold torchvision VGG19 weights: "
                                         r".*wrong shapes \(e.g. features.0.weight"):
        vgg19.load_vgg19(str(wrong), "relu1_1")
    other = tmp_path / "other.ckpt"
    vgg19.save_vgg19_checkpoint({"head.0.weight": np.zeros((3,), np.float32)}, str(other))
    with pytest.raises(MsganError, match="unexpected .*head.0.weight"):
        vgg19.load_vgg19(str(other), "relu1_1")
