"""Compiled D/G steps of the classic GANs: each phase lowers its loss, EMA, exact resume."""
import numpy as np
import pytest

ms = pytest.importorskip("mindspore")
from mindspore import Tensor  # noqa: E402

from msgan.config import load_config  # noqa: E402
from msgan.errors import MsganError  # noqa: E402
from msgan.models import MODELS  # noqa: E402
from msgan.train import checkpoint  # noqa: E402
from msgan.train.phases.base import ema_beta, sample_z  # noqa: E402
from msgan.train.phases.classic import ClassicPhases  # noqa: E402

B = 8


def make_phases(name="dcgan", overrides=(), num_classes=3, resolution=32):
    model = ["model.ngf=4", "model.ndf=4"] if name == "dcgan" else [
        "model.g_hidden=[32]", "model.d_hidden=[32]", "model.d_dropout=0.0"]
    cfg = load_config(None, [f"model.name={name}", "model.z_dim=8", f"train.batch_size={B}",
                             f"data.resolution={resolution}", *model, *overrides])
    ms.set_seed(0)
    G, D = MODELS[name].build(cfg.model, resolution, 1, num_classes)
    G_ema, _ = MODELS[name].build(cfg.model, resolution, 1, num_classes)
    for pe, p in zip(G_ema.get_parameters(), G.get_parameters()):
        pe.set_data(p.data.copy())
    return ClassicPhases(cfg, G, D, G_ema, num_classes)


def fixed_batches(n, resolution=32, seed=0):
    rng = np.random.default_rng(seed)
    return [(Tensor(rng.uniform(-1, 1, (B, 1, resolution, resolution)).astype(np.float32)),
             Tensor(rng.integers(0, 3, B).astype(np.int32))) for _ in range(n)]


@pytest.mark.parametrize("name, resolution, options", [
    ("dcgan", 32, []),                                   # DiffAugment, BCE (the defaults)
    ("gan", 8, ["model.augment=none"]),
    ("dcgan", 32, ["model.augment=ada", "model.augment_p=0.5", "model.loss=hinge",
                   "model.spectral_norm=true"]),
    ("gan", 8, ["model.loss=hinge", "model.spectral_norm=true"])])
def test_each_phase_lowers_its_own_loss(name, resolution, options):
    """On a fixed batch (and fixed augmentation draws), D steps alone lower loss_D; G steps
    alone lower loss_G — with every loss, augmentation and normalisation option."""
    ph = make_phases(name, options, resolution=resolution)
    reals, labels = fixed_batches(1, resolution)[0]
    z = Tensor(sample_z(np.random.default_rng(0), B, 8, "gaussian"))
    zero, p = Tensor(0.0, ms.float32), Tensor(ph.p, ms.float32)
    r1, r2, r3 = ph._rand(B), ph._rand(B), ph._rand(B)
    d_losses = [float(ph._d_step(reals, labels, z, zero, p, r1, r2)[0].asnumpy())
                for _ in range(20)]
    assert d_losses[-1] < d_losses[0] - 0.03, d_losses
    g_losses = [float(ph._g_step(labels, z, zero, p, r3)[0].asnumpy()) for _ in range(20)]
    assert g_losses[-1] < g_losses[0] - 0.03, g_losses


def test_stats_are_finite_scalars_and_options_run():
    ph = make_phases(overrides=["model.label_smoothing=0.9", "model.instance_noise=0.1",
                                "model.d_dropout=0.2", "model.minibatch_discrimination=true"])
    for i, (reals, labels) in enumerate(fixed_batches(3)):
        ph.progress = i / 3
        stats = ph.step(reals, labels, i)
    assert set(stats) == {"loss_G", "loss_D", "D_real", "D_fake", "update_ok_D", "update_ok_G"}
    assert all(np.isfinite(float(v.asnumpy())) for v in stats.values())
    assert bool(stats["update_ok_D"].asnumpy()) and bool(stats["update_ok_G"].asnumpy())  # applied


def test_non_finite_gradients_skip_the_update():
    ph = make_phases()
    reals, labels = fixed_batches(1)[0]
    bad = reals.asnumpy().copy()
    bad[0, 0, 0, 0] = np.nan
    before = {p.name: p.asnumpy().copy() for p in ph.D.trainable_params()}
    stats = ph.step(Tensor(bad), labels, 0)
    assert not bool(stats["update_ok_D"].asnumpy())           # D's update was not applied
    for p in ph.D.trainable_params():
        np.testing.assert_array_equal(p.asnumpy(), before[p.name])
    stats = ph.step(reals, labels, 1)                          # and training carries on
    assert bool(stats["update_ok_D"].asnumpy())
    assert all(np.isfinite(p.asnumpy()).all() for p in ph.D.trainable_params())


def test_ema_moves_toward_g():
    ph = make_phases()
    before = {p.name: p.asnumpy().copy() for p in ph.G_ema.get_parameters()}
    reals, labels = fixed_batches(1)[0]
    ph.step(reals, labels, 0)
    g = {p.name.replace("G.", "", 1): p.asnumpy() for p in ph.G.trainable_params()}
    ph.update_ema(Tensor(0.5, ms.float32))
    for p in ph.G_ema.trainable_params():
        key = p.name.replace("G_ema.", "", 1)
        expected = 0.5 * before[p.name] + 0.5 * g[key]
        np.testing.assert_allclose(p.asnumpy(), expected, rtol=1e-5, atol=1e-6)


def test_ema_beta_schedule():
    assert ema_beta(32, 10**9, ema_kimg=10.0, ema_rampup=0.0) == pytest.approx(0.5 ** (32 / 1e4))
    # early in training the rampup shortens the half-life
    assert ema_beta(32, 1000, None, None) < ema_beta(32, 100000, None, None)


def test_resume_equals_uninterrupted_run(tmp_path):
    data = fixed_batches(6)
    beta = Tensor(0.9, ms.float32)
    ref = make_phases()
    losses_ref = []
    for i, (x, c) in enumerate(data):
        s = ref.step(x, c, i)
        ref.update_ema(beta)
        losses_ref.append((float(s["loss_D"].asnumpy()), float(s["loss_G"].asnumpy())))
        if i == 2:
            snap = checkpoint.save_snapshot(str(tmp_path), 3 * B, ref.state_cells(),
                                            {"phases": ref.host_state()}, {"model": "dcgan"})
    resumed = make_phases()
    host = checkpoint.load_snapshot(snap, resumed.state_cells())
    resumed.load_host_state(host["phases"])
    for i, (x, c) in enumerate(data[3:], start=3):
        s = resumed.step(x, c, i)
        resumed.update_ema(beta)
        assert (float(s["loss_D"].asnumpy()), float(s["loss_G"].asnumpy())) == losses_ref[i]
    for a, b in zip(ref.G_ema.get_parameters(), resumed.G_ema.get_parameters()):
        np.testing.assert_array_equal(a.asnumpy(), b.asnumpy())


def test_snapshot_is_atomic_and_pruned(tmp_path):
    ph = make_phases()
    for k in range(5):
        checkpoint.save_snapshot(str(tmp_path), k, ph.state_cells(), {}, {}, keep=3)
    names = sorted(p.name for p in tmp_path.iterdir())
    assert names == ["snapshot-000000002", "snapshot-000000003", "snapshot-000000004"]
    assert checkpoint.resolve_resume("auto", str(tmp_path.parent / "nothing")) is None
    # a snapshot from another model is refused with a clear message
    other = make_phases("gan", resolution=8)
    with pytest.raises(MsganError, match="resume with the config it was made with"):
        checkpoint.load_snapshot(str(tmp_path / "snapshot-000000004"), other.state_cells())
