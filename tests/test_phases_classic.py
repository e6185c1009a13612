"""Compiled D/G steps of the classic GANs: each phase lowers its loss, EMA, exact resume."""
import numpy as np
import pytest

ms = pytest.importorskip("mindspore")
from mindspore import Tensor  # noqa: E402

from msgan.config import load_config  # noqa: E402
from msgan.errors import MsganError  # noqa: E402
from msgan.inference.latents import sample_z  # noqa: E402
from msgan.train import checkpoint  # noqa: E402
from msgan.train.lr import get_lr, set_lr  # noqa: E402
from msgan.train.phases import build_phases  # noqa: E402
from msgan.train.phases.base import Progress, ema_beta  # noqa: E402
from msgan.train.phases.classic import ClassicPhases  # noqa: E402

B = 8


def make_phases(name="dcgan", overrides=(), num_classes=3, resolution=32):
    model = ["model.ngf=4", "model.ndf=4"] if name == "dcgan" else [
        "model.g_hidden=[32]", "model.d_hidden=[32]", "model.d_dropout=0.0"]
    cfg = load_config(None, [f"model.name={name}", "model.z_dim=8", f"train.batch_size={B}",
                             f"data.resolution={resolution}", "data.channels=1", *model,
                             *overrides])
    ms.set_seed(0)
    ph = build_phases(cfg, num_classes)
    assert isinstance(ph, ClassicPhases)
    for pe, p in zip(ph.G_ema.get_parameters(), ph.G.get_parameters()):   # G_ema starts as G
        np.testing.assert_array_equal(pe.asnumpy(), p.asnumpy())
    return ph


def fixed_batches(n, resolution=32, seed=0):
    """Batches as the data sampler yields them: (reals float32 NCHW, labels int32) arrays."""
    rng = np.random.default_rng(seed)
    return [(rng.uniform(-1, 1, (B, 1, resolution, resolution)).astype(np.float32),
             rng.integers(0, 3, B).astype(np.int32)) for _ in range(n)]


def at(it, total_steps=6):
    """The schedule's position before step ``it`` (B images per step)."""
    return Progress(nimg=it * B, total_nimg=total_steps * B)


@pytest.mark.parametrize("name, resolution, options", [
    ("dcgan", 32, []),                                   # DiffAugment, BCE (the defaults)
    ("gan", 8, ["model.augment=none"]),
    ("dcgan", 32, ["model.augment=ada", "model.augment_p=0.5", "model.loss=hinge",
                   "model.spectral_norm=true"]),
    ("gan", 8, ["model.loss=hinge", "model.spectral_norm=true"]),
    ("dcgan", 32, ["model.ac_weight=1", "model.g_cond=cbn"]),
    ("dcgan", 32, ["model.lecam_weight=0.3"])])
def test_each_phase_lowers_its_own_loss(name, resolution, options):
    """On a fixed batch (and fixed augmentation draws), D steps alone lower loss_D; G steps
    alone lower loss_G — with every loss, augmentation and normalisation option."""
    ph = make_phases(name, options, resolution=resolution)
    reals, labels = (Tensor(x) for x in fixed_batches(1, resolution)[0])
    z = Tensor(sample_z(np.random.default_rng(0), B, 8, "gaussian"))
    zero, p = Tensor(0.0, ms.float32), Tensor(ph.p, ms.float32)
    r1, r2, r3 = ph._rand(B), ph._rand(B), ph._rand(B)
    anchors = Tensor([0.2, -0.2], ms.float32)
    d_losses = [float(ph._d_step(reals, labels, z, zero, p, r1, r2, anchors)[0].asnumpy())
                for _ in range(20)]
    assert d_losses[-1] < d_losses[0] - 0.03, d_losses
    g_losses = [float(ph._g_step(labels, z, zero, p, r3)[0].asnumpy()) for _ in range(20)]
    assert g_losses[-1] < g_losses[0] - 0.03, g_losses


@pytest.mark.parametrize("name, resolution", [("dcgan", 32), ("gan", 8)])
def test_auxiliary_class_loss_teaches_d_the_classes_and_g_to_show_them(name, resolution):
    """model.ac_weight: D steps on a fixed batch lower D's class loss on the reals; G steps lower
    G's class loss on its fakes (D's class head judging them); both are logged."""
    options = ["model.ac_weight=1", "model.augment=none", "train.D_opt.lr=0.002",
               "train.G_opt.lr=0.002"]
    ph = make_phases(name, options, resolution=resolution)
    assert ph.ac_weight == 1.0 and ph.D.classifier is not None
    reals, labels = (Tensor(x) for x in fixed_batches(1, resolution)[0])
    z = Tensor(sample_z(np.random.default_rng(0), B, 8, "gaussian"))
    zero, p, r = Tensor(0.0, ms.float32), Tensor(0.0, ms.float32), ph._rand(B)
    anchors = Tensor([0.0, 0.0], ms.float32)
    d_class = [float(ph._d_step(reals, labels, z, zero, p, r, r, anchors)[4].asnumpy())
               for _ in range(30)]
    assert d_class[-1] < d_class[0] - 0.2, d_class
    g_class = [float(ph._g_step(labels, z, zero, p, r)[1].asnumpy()) for _ in range(30)]
    assert g_class[-1] < g_class[0] - 0.2, g_class
    stats = ph.step(fixed_batches(1, resolution)[0], 0, at(0))
    assert {"loss_D_class", "loss_G_class"} <= set(stats)
    # no class head without classes, nor with the loss off
    assert make_phases(name, options, num_classes=0, resolution=resolution).ac_weight == 0.0
    assert make_phases(name, resolution=resolution).D.classifier is None


def test_lecam_holds_d_outputs_near_the_anchors_and_keeps_them_on_resume():
    """model.lecam_weight: the regulariser's value on known logits; D steps on a fixed batch
    drift D(real) and D(fake) apart less with it; the anchors are the 0.99 moving averages of
    D's mean outputs and come back from host_state."""
    from msgan import losses
    value = losses.lecam(Tensor([2.0, -1.0]), Tensor([0.0, 3.0]), 1.0, 0.5)
    assert float(value.asnumpy()) == pytest.approx((1.5 ** 2 + 0) / 2 + (1.0 ** 2 + 0) / 2)
    # the MLP GAN: the regulariser is the classic phases' for both models, and the MLP's steps
    # compile in a fraction of DCGAN's (test_each_phase_lowers_its_own_loss steps DCGAN with it)
    reals, labels = (Tensor(x) for x in fixed_batches(1, 8)[0])
    z = Tensor(sample_z(np.random.default_rng(0), B, 8, "gaussian"))
    zero, anchors = Tensor(0.0, ms.float32), Tensor([0.0, 0.0], ms.float32)
    gaps = {}
    for weight in (0.0, 10.0):
        ph = make_phases("gan", [f"model.lecam_weight={weight}", "model.augment=none",
                                 "train.D_opt.lr=0.002"], resolution=8)
        r = ph._rand(B)
        for _ in range(30):
            out = ph._d_step(reals, labels, z, zero, zero, r, r, anchors)
        gaps[weight] = float(out[1].asnumpy()) - float(out[2].asnumpy())
    assert gaps[0.0] > 1 and abs(gaps[10.0]) < gaps[0.0] / 4, gaps

    ph = make_phases("gan", ["model.lecam_weight=0.3"], resolution=8)
    means = []
    for i, batch in enumerate(fixed_batches(2, 8)):
        stats = ph.step(batch, i, at(i))
        means.append((float(stats["D_real"].asnumpy()), float(stats["D_fake"].asnumpy())))
    expected = [0.99 * 0.01 * a + 0.01 * b for a, b in zip(means[0], means[1])]
    assert ph.lecam_anchors == pytest.approx(expected)
    other = make_phases("gan", ["model.lecam_weight=0.3"], resolution=8)
    other.load_host_state(ph.host_state())
    assert other.lecam_anchors == ph.lecam_anchors
    assert "lecam_anchors" not in make_phases("gan", resolution=8).host_state()   # off: none kept


def test_mode_seeking_spreads_each_class_over_its_latents():
    """model.mode_seeking: G steps on fixed latents raise the image distance between two latents
    of one class (what the term rewards); step() pairs samples i and i + B/2 in one class and
    logs that distance; the term is cheapest when the pair's images differ most."""
    from msgan import losses
    a, b = Tensor(np.zeros((2, 1, 4, 4), np.float32)), Tensor(np.ones((2, 1, 4, 4), np.float32))
    za, zb = Tensor(np.zeros((2, 8), np.float32)), Tensor(np.ones((2, 8), np.float32))
    same, _ = losses.mode_seeking(a, a + 0.01, za, zb)
    apart, ratio = losses.mode_seeking(a, b, za, zb)
    assert float(apart.asnumpy()) < float(same.asnumpy())
    assert float(ratio.asnumpy()) == pytest.approx(1.0)
    labels = Tensor(np.array([0, 1, 2, 0] * 2, np.int32))   # pairs (i, i + 4) share a class
    z = Tensor(sample_z(np.random.default_rng(0), B, 8, "gaussian"))
    zero, p = Tensor(0.0, ms.float32), Tensor(0.0, ms.float32)
    spread = {}
    for weight in ("10", "0.000001"):       # the same G and D, with the term and (nearly) without
        ph = make_phases("dcgan", [f"model.mode_seeking={weight}", "model.augment=none",
                                   "train.G_opt.lr=0.002"])
        spread[weight] = [float(ph._g_step(labels, z, zero, p, ph._rand(B))[2].asnumpy())
                          for _ in range(20)]
    assert spread["10"][0] == pytest.approx(spread["0.000001"][0], rel=1e-4)
    assert spread["10"][-1] > 1.5 * spread["0.000001"][-1], spread
    stats = ph.step(fixed_batches(1)[0], 0, at(0))
    assert float(stats["G_diversity"].asnumpy()) > 0


def test_stats_are_finite_scalars_and_options_run():
    ph = make_phases(overrides=["model.label_smoothing=0.9", "model.instance_noise=0.1",
                                "model.d_dropout=0.2", "model.minibatch_discrimination=true"])
    for i, batch in enumerate(fixed_batches(3)):
        stats = ph.step(batch, i, at(i, 3))        # instance noise decays with the fraction
    assert set(stats) == {"loss_G", "loss_D", "D_real", "D_fake", "update_ok_D", "update_ok_G"}
    assert all(np.isfinite(float(v.asnumpy())) for v in stats.values())
    assert bool(stats["update_ok_D"].asnumpy()) and bool(stats["update_ok_G"].asnumpy())  # applied


def test_non_finite_gradients_skip_the_update():
    ph = make_phases()
    reals, labels = fixed_batches(1)[0]
    bad = reals.copy()
    bad[0, 0, 0, 0] = np.nan
    before = {p.name: p.asnumpy().copy() for p in ph.D.trainable_params()}
    stats = ph.step((bad, labels), 0, at(0))
    assert not bool(stats["update_ok_D"].asnumpy())           # D's update was not applied
    for p in ph.D.trainable_params():
        np.testing.assert_array_equal(p.asnumpy(), before[p.name])
    stats = ph.step((reals, labels), 1, at(1))                 # and training carries on
    assert bool(stats["update_ok_D"].asnumpy())
    assert all(np.isfinite(p.asnumpy()).all() for p in ph.D.trainable_params())


def test_step_ends_with_the_ema_update_of_the_schedule():
    """After the G/D updates, G_ema moves toward the updated G with the schedule's beta."""
    ph = make_phases()
    before = {p.name: p.asnumpy().copy() for p in ph.G_ema.get_parameters()}
    progress = Progress(nimg=20 * B, total_nimg=100 * B)
    beta = ema_beta(B, progress.nimg, ph.cfg.train.ema_kimg, ph.cfg.train.ema_rampup)
    assert 0.3 < beta < 0.7
    ph.step(fixed_batches(1)[0], 20, progress)
    g = {p.name.replace("G.", "", 1): p.asnumpy() for p in ph.G.trainable_params()}
    assert any(not np.array_equal(before["G_ema." + k], v) for k, v in g.items())   # G moved
    for p in ph.G_ema.trainable_params():
        key = p.name.replace("G_ema.", "", 1)
        expected = beta * before[p.name] + (1 - beta) * g[key]
        np.testing.assert_allclose(p.asnumpy(), expected, rtol=1e-5, atol=1e-6)
    gens = ph.generators()
    assert list(gens) == ["G_ema"] and gens["G_ema"] is ph.G_ema and not ph.G_ema.training


def test_ema_beta_schedule_and_progress():
    assert ema_beta(32, 10**9, ema_kimg=10.0, ema_rampup=0.0) == pytest.approx(0.5 ** (32 / 1e4))
    # early in training the rampup shortens the half-life
    assert ema_beta(32, 1000, None, None) < ema_beta(32, 100000, None, None)
    progress = Progress(nimg=1500, total_nimg=6000)
    assert progress.kimg == 1.5 and progress.fraction == 0.25


def test_resume_equals_uninterrupted_run(tmp_path):
    """Weights, moments, G_ema, the host RNG and a lowered lr (host state) all come back."""
    data = fixed_batches(6)
    ref = make_phases()
    losses_ref = []
    for i, batch in enumerate(data):
        s = ref.step(batch, i, at(i))
        losses_ref.append((float(s["loss_D"].asnumpy()), float(s["loss_G"].asnumpy())))
        if i == 2:
            set_lr(ref.opt_D, get_lr(ref.opt_D) / 4)     # as a rollback does; not in the .ckpt
            snap = checkpoint.save_snapshot(str(tmp_path), 3 * B, ref.state_cells(),
                                            {"phases": ref.host_state()}, {"model": "dcgan"})
    resumed = make_phases()
    host = checkpoint.load_snapshot(snap, resumed.state_cells())
    resumed.load_host_state(host["phases"])
    assert get_lr(resumed.opt_D) == get_lr(ref.opt_D)
    for i, batch in enumerate(data[3:], start=3):
        s = resumed.step(batch, i, at(i))
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


def test_host_state_holds_the_lr_and_older_states_still_load():
    ph = make_phases("gan", resolution=8)
    lrs = {"G": get_lr(ph.opt_G), "D": get_lr(ph.opt_D)}
    state = ph.host_state()
    assert state["lr"] == lrs and set(state) == {"lr", "rng"}
    assert set(ph.optimizers()) == {"G", "D"}
    assert set(ph.state_cells()) == {"G", "D", "G_ema", "opt_G", "opt_D"}
    set_lr(ph.opt_G, 1e-5)
    ph.load_host_state(state)
    assert get_lr(ph.opt_G) == pytest.approx(lrs["G"])
    set_lr(ph.opt_G, 1e-5)
    ph.load_host_state({"rng": state["rng"]})      # written before the phases kept the lr
    assert get_lr(ph.opt_G) == pytest.approx(1e-5)
