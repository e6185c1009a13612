"""StyleGAN2-ADA training phases: losses fall, regularisers reach the right weights, EMA, resume."""
import numpy as np
import pytest

ms = pytest.importorskip("mindspore")
from mindspore import Tensor  # noqa: E402

from msgan import losses  # noqa: E402
from msgan.config import load_config  # noqa: E402
from msgan.train import checkpoint  # noqa: E402
from msgan.train.lr import get_lr, set_lr  # noqa: E402
from msgan.train.phases import build_phases  # noqa: E402
from msgan.train.phases.base import Progress, ema_beta  # noqa: E402
from msgan.train.phases.stylegan2 import StyleGAN2Phases  # noqa: E402

B, RES = 4, 8


def make_phases(overrides=(), num_classes=2, init_seed=0):
    cfg = load_config(None, ["model.name=stylegan2", "model.z_dim=8", "model.w_dim=8",
                             "model.channel_base=64", "model.channel_max=16",
                             f"data.resolution={RES}", "data.channels=3",
                             f"train.batch_size={B}", *overrides])
    np.random.seed(init_seed)
    ms.set_seed(init_seed)
    ph = build_phases(cfg, num_classes)
    assert isinstance(ph, StyleGAN2Phases)
    return ph


def batch(seed=0, num_classes=2):
    """A batch as the data sampler yields it (numpy arrays)."""
    rng = np.random.default_rng(seed)
    return (rng.uniform(-1, 1, (B, 3, RES, RES)).astype(np.float32),
            (np.arange(B) % num_classes).astype(np.int32))


def tensors(seed=0):
    return tuple(Tensor(x) for x in batch(seed))


def at(it):
    """The schedule's position before step ``it`` (B images per step, 20 steps in all)."""
    return Progress(nimg=it * B, total_nimg=20 * B)


def values(params):
    return {p.name: p.asnumpy().copy() for p in params}


def moved(before, params):
    return {p.name for p in params if not np.array_equal(before[p.name], p.asnumpy())}


def test_main_phases_lower_their_own_losses():
    """Repeating one phase on fixed inputs must lower that phase's loss (optimizer wired right)."""
    ph = make_phases(["model.augment=noaug", "train.D_opt.lr=0.02", "train.G_opt.lr=0.02"])
    reals, labels = tensors()
    z, z2, mix, noises = ph._latents(B)
    rand, p = ph._aug_rand(B), Tensor(0.0, ms.float32)
    d_losses = [float(ph._d_main(reals, labels, z, z2, mix, noises, rand, rand, p)[0].asnumpy())
                for _ in range(6)]
    assert all(b < a for a, b in zip(d_losses, d_losses[1:])), d_losses
    assert d_losses[-1] < d_losses[0] - 0.02, d_losses
    g_losses = [float(ph._g_main(z, z2, mix, labels, noises, rand, p)[0].asnumpy())
                for _ in range(6)]
    assert g_losses[-1] < g_losses[0] - 0.02, g_losses


SCHEDULE = ["model.r1_interval=2", "model.pl_interval=3", "model.augment_p=0.3"]


@pytest.fixture(scope="module")
def scheduled():
    """Phases after iterations 0..3 (compiled once for the tests below), with the stat keys."""
    ph = make_phases(SCHEDULE)
    keys = []
    for it in range(4):
        keys.append(set(ph.step(batch(), it, at(it))))
    return ph, keys


def test_step_reports_stats_and_runs_regularisers_on_schedule(scheduled):
    ph, keys = scheduled
    base = {"loss_G", "loss_D", "D_real", "D_fake", "ada_p", "update_ok_G", "update_ok_D"}
    r1, pl = {"loss_r1", "update_ok_D_reg"}, {"loss_pl", "update_ok_G_reg"}
    assert keys[0] == base | r1 | pl
    assert keys[1] == base
    assert keys[2] == base | r1
    assert keys[3] == base | pl
    assert ph.host_state()["ada"]["steps"] == 4


def test_step_ends_with_an_ema_that_lerps_params_and_copies_buffers(scheduled):
    """After the phases, G_ema moves toward the updated G with the schedule's beta."""
    ph, _ = scheduled
    e = values(ph.G_ema.get_parameters())
    progress = Progress(nimg=40 * B, total_nimg=100 * B)
    beta = ema_beta(B, progress.nimg, ph.cfg.train.ema_kimg, ph.cfg.train.ema_rampup)
    assert 0.2 < beta < 0.8
    ph.step(batch(), 4, progress)
    g = values(ph.G.get_parameters())
    assert any(not np.array_equal(e["G_ema." + k.split(".", 1)[1]], v) for k, v in g.items())
    for p in ph.G_ema.get_parameters():
        src = "G." + p.name.split(".", 1)[1]
        expect = g[src] if not p.requires_grad else g[src] + (e[p.name] - g[src]) * beta
        np.testing.assert_allclose(p.asnumpy(), expect, rtol=1e-6, atol=1e-7)
    gens = ph.generators()
    assert list(gens) == ["G_ema"] and gens["G_ema"] is ph.G_ema and not ph.G_ema.training
    _, labels = tensors()
    z = Tensor(np.random.default_rng(0).standard_normal((B, 8)).astype(np.float32))
    psi = Tensor(np.full((B,), 0.7, np.float32))
    a, b = ph.sample(z, labels, psi).asnumpy(), ph.sample(z, labels, psi).asnumpy()
    assert a.shape == (B, 3, RES, RES) and np.array_equal(a, b)


def test_r1_updates_only_d_and_path_length_updates_g(scheduled):
    ph, _ = scheduled
    reals, labels = tensors()
    p = Tensor(0.2, ms.float32)
    g_before, d_before = values(ph.G.get_parameters()), values(ph.D.get_parameters())
    r1, ok = ph._d_reg(reals, labels, ph._aug_rand(B), p)
    assert float(r1.asnumpy()) > 0 and bool(ok.asnumpy())
    assert not moved(g_before, ph.G.get_parameters())
    d_moved = moved(d_before, ph.D.trainable_params())
    assert {p.name for p in ph.D.trainable_params() if p.name.endswith("weight")} <= d_moved

    d_before = values(ph.D.get_parameters())
    pl_before = values(ph.pl.get_parameters())
    z, z2, mix, noises = ph._latents(B // 2)
    pl_noise = Tensor(np.random.default_rng(1).standard_normal((B // 2, 3, RES, RES))
                      .astype(np.float32) / RES)
    pl, ok = ph._g_reg(z, z2, mix, labels[:B // 2], noises, pl_noise)
    assert float(pl.asnumpy()) > 0 and bool(ok.asnumpy())
    assert not moved(d_before, ph.D.get_parameters())
    g_moved = moved(g_before, ph.G.get_parameters())
    synthesis_weights = {p.name for p in ph.G.synthesis.trainable_params()
                         if p.name.endswith("conv.weight") or "affine" in p.name}
    assert synthesis_weights <= g_moved
    assert any(".mapping.fcs." in n for n in g_moved)
    assert "pl.pl_mean" in moved(pl_before, ph.pl.get_parameters())
    assert "G.mapping.w_avg" in g_moved


def test_a_non_finite_r1_gradient_skips_the_update_and_says_so(scheduled):
    ph, _ = scheduled
    reals, labels = tensors()
    bad = Tensor(np.full(reals.shape, np.nan, np.float32))
    d_before = values(ph.D.get_parameters())
    _, ok = ph._d_reg(bad, labels, ph._aug_rand(B), Tensor(0.0, ms.float32))
    assert not bool(ok.asnumpy())
    assert not moved(d_before, ph.D.get_parameters())


def test_resume_from_a_snapshot_repeats_the_next_step(scheduled, tmp_path):
    ph, _ = scheduled
    path = checkpoint.save_snapshot(str(tmp_path), 16, ph.state_cells(), ph.host_state(), {})
    expected = {k: float(v.asnumpy()) for k, v in ph.step(batch(), 6, at(6)).items()}
    assert {"loss_r1", "loss_pl"} <= expected.keys()
    assert all(np.isfinite(v) for v in expected.values())

    # Back to the snapshot in the same (already compiled) object: the step above moved every
    # weight, moment, pl_mean and RNG, so repeating it exactly needs all of them restored, and
    # the lr too (host state: mint Adam's lr is not among the checkpointed Parameters).
    # (A fresh process resuming is tested end to end in test_faults/test_train_e2e.)
    lr_G = get_lr(ph.opt_G)
    set_lr(ph.opt_G, lr_G * 100)
    ph.load_host_state(checkpoint.load_snapshot(path, ph.state_cells()))
    assert get_lr(ph.opt_G) == lr_G
    got = {k: float(v.asnumpy()) for k, v in ph.step(batch(), 6, at(6)).items()}
    assert got.keys() == expected.keys()
    for k in expected:
        assert got[k] == pytest.approx(expected[k], rel=1e-5, abs=1e-6), k


def test_regulariser_helpers_match_numpy():
    rng = np.random.default_rng(0)
    g = rng.standard_normal((3, 4, 5)).astype(np.float32)
    lengths = losses.path_lengths(Tensor(g)).asnumpy()
    np.testing.assert_allclose(lengths, np.sqrt((g ** 2).sum(2).mean(1)), rtol=1e-5)
    pen, mean = losses.path_length_penalty(Tensor(lengths), Tensor(1.0, ms.float32), 0.01)
    m = 1.0 + (lengths.mean() - 1.0) * 0.01
    np.testing.assert_allclose(mean.asnumpy(), m, rtol=1e-5)
    np.testing.assert_allclose(pen.asnumpy(), (lengths - m) ** 2, rtol=1e-5)
    x = rng.standard_normal((2, 3, 4, 4)).astype(np.float32)
    np.testing.assert_allclose(losses.r1_penalty(Tensor(x)).asnumpy(),
                               (x ** 2).sum(axis=(1, 2, 3)), rtol=1e-5)
    lr, betas = losses.lazy_adam_params(0.0025, [0.0, 0.99], 16)
    assert lr == pytest.approx(0.0025 * 16 / 17) and betas == (0.0, pytest.approx(0.99 ** (16 / 17)))
    assert losses.r1_gamma(None, 256, 8) == pytest.approx(1.6384)
    assert losses.r1_gamma(10.0, 256, 8) == 10.0


def test_no_graph_compiles_after_the_first_steps(scheduled):
    """Issue 6: R1/PL on their intervals, a moving ADA p, a ramping EMA beta and a new psi reuse
    the compiled graphs (every changing scalar enters as a Tensor). MindSpore records each graph
    it compiles in ``ms_compile_cache``; a Python float argument would add one per value (see
    tests/test_recompile.py, which checks that this counter sees such recompiles)."""
    from mindspore.graph import api as ms_api

    ph, _ = scheduled
    _, labels = tensors()
    z = Tensor(np.zeros((B, 8), np.float32))
    ph.sample(z, labels, Tensor(np.full((B,), 1.0, np.float32)))
    before = set(ms_api.ms_compile_cache)
    for it in range(4, 10):          # R1 at 4, 6, 8; PL at 6, 9; EMA beta ramps with nimg
        ph.ada.load_state_dict({**ph.ada.state_dict(), "p": 0.05 * it})   # as ADA moves it
        ph.step(batch(), it, at(it))
    ph.sample(z, labels, Tensor(np.full((B,), 0.7, np.float32)))
    assert sorted(set(ms_api.ms_compile_cache) - before) == []
