"""Compiled pix2pix / CycleGAN / DiscoGAN steps on a tiny fixed problem: losses fall, exact resume,
history pool, lr decay, eval-mode generators."""
import numpy as np
import pytest

ms = pytest.importorskip("mindspore")
from mindspore import Tensor  # noqa: E402

from msgan.config import load_config  # noqa: E402
from msgan.train import checkpoint  # noqa: E402
from msgan.train.lr import get_lr, set_lr  # noqa: E402
from msgan.train.phases import build_phases  # noqa: E402
from msgan.train.phases.base import Progress  # noqa: E402
from msgan.train.phases.translate import (CycleGANPhases, DiscoGANPhases, ImagePool,  # noqa: E402
                                          Pix2PixPhases)

B, R = 4, 16


def make(name, phases_cls, extra=()):
    cfg = load_config(None, [f"model.name={name}", "model.ngf=8", "model.ndf=8",
                             f"data.resolution={R}", "data.channels=3",
                             f"train.batch_size={B}", *extra])
    ms.set_seed(0)
    ph = build_phases(cfg, 0)
    assert isinstance(ph, phases_cls)
    return ph


def problem(seed=0):
    """a: random images; b: a fixed, learnable function of a (channels swapped, sharpened);
    numpy arrays, as the pair sampler yields them."""
    a = np.random.default_rng(seed).uniform(-1, 1, (B, 3, R, R)).astype(np.float32)
    return a, np.tanh(2.0 * a[:, ::-1]).copy()


def at(ph, kimg):
    """The schedule's position at ``kimg`` thousand images."""
    return Progress(nimg=int(round(kimg * 1000)),
                    total_nimg=int(round(ph.cfg.train.total_kimg * 1000)))


def scalars(stats):
    return {k: float(v.asnumpy()) for k, v in stats.items()}


@pytest.fixture(scope="module")
def pix2pix_run():
    ph = make("pix2pix", Pix2PixPhases, ["model.d_layers=2", "train.G_opt.lr=0.001"])
    a, b = problem()
    before = ph.generators()["G"](Tensor(a)).asnumpy()
    history = [scalars(ph.step((a, b), i, at(ph, 0.0))) for i in range(10)]
    return ph, Tensor(a), before, history


def test_pix2pix_l1_falls_and_updates_apply(pix2pix_run):
    _, _, _, history = pix2pix_run
    l1 = [h["loss_G_L1"] for h in history]
    assert l1[-1] < l1[0] - 0.02, l1
    assert {"loss_G", "loss_D", "update_ok_G", "update_ok_D"} <= set(history[0])
    assert all(h["update_ok_G"] and h["update_ok_D"] for h in history)
    assert all(np.isfinite(v) for h in history for v in h.values())


def test_pix2pix_generators_follow_training_in_eval_mode(pix2pix_run):
    ph, a, before, _ = pix2pix_run
    G = ph.generators()["G"]
    assert not G.training
    for pe, p in zip(G.get_parameters(), ph.nets["G"].get_parameters()):   # BN stats too
        np.testing.assert_array_equal(pe.asnumpy(), p.asnumpy())
    out = G(a).asnumpy()
    assert np.abs(out - before).max() > 1e-3                 # training changed the generator
    np.testing.assert_array_equal(G(a).asnumpy(), out)       # dropout is off: deterministic


def test_pix2pix_lr_is_constant_then_decays_linearly_from_half_way(pix2pix_run):
    ph, a, _, _ = pix2pix_run
    _, b = problem()
    assert get_lr(ph.opt_G) == pytest.approx(0.001, rel=1e-6)   # 10 steps at 0 kimg: constant
    ph.step((a.asnumpy(), b), 10, at(ph, 0.75 * ph.cfg.train.total_kimg))
    assert get_lr(ph.opt_G) == pytest.approx(0.001 * 0.5, rel=1e-5)
    assert get_lr(ph.opt_D) == pytest.approx(0.0002 * 0.5, rel=1e-5)
    state = ph.host_state()
    assert state["lr_frac"] == pytest.approx(0.5)
    assert state["lr"] == {"G": get_lr(ph.opt_G), "D": get_lr(ph.opt_D)}


@pytest.fixture(scope="module")
def cyclegan_run(tmp_path_factory):
    # 7 steps of 4 images, total 0.032 kimg: lr decay starts at 0.016 (auto: half); pool 3 < batch.
    ph = make("cyclegan", CycleGANPhases,
              ["model.d_layers=2", "model.n_blocks=1", "model.pool_size=3",
               "train.total_kimg=0.032", "train.G_opt.lr=0.001"])
    a, b = problem()
    b = np.random.default_rng(1).permutation(b)   # unpaired
    history, snap = [], None
    for i in range(7):
        if i == 5:
            snap = checkpoint.save_snapshot(str(tmp_path_factory.mktemp("ckpt")), i * B,
                                            ph.state_cells(), {"phases": ph.host_state()},
                                            {"model": "cyclegan"}, weights=ph.generators())
        history.append(scalars(ph.step((a, b), i, at(ph, i * B / 1000))))
    return ph, a, b, history, snap


def test_cyclegan_cycle_loss_falls(cyclegan_run):
    _, _, _, history, _ = cyclegan_run
    cycle = [h["loss_cycle_A"] + h["loss_cycle_B"] for h in history]
    assert cycle[-1] < cycle[0] - 0.05, cycle
    assert all(h["update_ok_G"] and h["update_ok_D"] for h in history)
    assert history[0]["loss_idt_A"] > 0 and np.isfinite(history[-1]["loss_D"])


def test_cyclegan_lr_decays_linearly_from_half_way(cyclegan_run):
    ph, a, b, _, _ = cyclegan_run
    # last step at 0.024 kimg: (0.032 - 0.024) / (0.032 - 0.016) of the base lr
    assert get_lr(ph.opt_G) == pytest.approx(0.001 * 0.5, rel=1e-5)
    assert get_lr(ph.opt_D) == pytest.approx(0.0002 * 0.5, rel=1e-5)
    # a lr lowered from outside (NaN rollback) keeps its factor while the decay goes on
    set_lr(ph.opt_G, 0.001 * 0.5 * 0.1)
    ph.step((a, b), 7, at(ph, 0.028))
    assert get_lr(ph.opt_G) == pytest.approx(0.001 * 0.25 * 0.1, rel=1e-5)
    assert get_lr(ph.opt_D) == pytest.approx(0.0002 * 0.25, rel=1e-5)


def test_cyclegan_resume_repeats_the_next_steps_exactly(cyclegan_run):
    """Weights, Adam moments, lr, the image pool and the host RNG all come back."""
    ph, a, b, history, snap = cyclegan_run
    host = checkpoint.load_snapshot(snap, ph.state_cells())
    assert {"pool_A", "pool_B"} <= set(ph.state_cells())
    ph.load_host_state(host["phases"])
    for i in (5, 6):
        assert scalars(ph.step((a, b), i, at(ph, i * B / 1000))) == history[i]


def test_image_pool_matches_the_reference_semantics():
    """The reference ImagePool.query, image by image, against the Gather-based pool."""
    pool = ImagePool(2, 1, 2)
    rng, ref_rng = np.random.default_rng(5), np.random.default_rng(5)
    ref, count = [], 0
    for batch in range(4):
        fakes = np.arange(batch * 3, batch * 3 + 3, dtype=np.float32)[:, None, None, None] \
            * np.ones((3, 1, 2, 2), np.float32)
        expected = []
        for img in fakes:                              # pytorch-CycleGAN-and-pix2pix image_pool
            if len(ref) < 2:
                ref.append(img)
                expected.append(img)
            elif ref_rng.random() > 0.5:
                slot = int(ref_rng.integers(2))
                expected.append(ref[slot])
                ref[slot] = img
            else:
                expected.append(img)
        out_idx, keep_idx, count = pool.plan(rng, count, 3)
        out = pool(Tensor(fakes), out_idx, keep_idx).asnumpy()
        np.testing.assert_array_equal(out, np.stack(expected))
        np.testing.assert_array_equal(pool.images.asnumpy(), np.stack(ref))


def test_discogan_losses_fall():
    ph = make("discogan", DiscoGANPhases)
    a, b = problem()
    history = [scalars(ph.step((a, b), i, at(ph, 0.0))) for i in range(6)]
    for key in ("loss_G", "loss_D", "loss_fm_A"):
        assert history[-1][key] < history[0][key], (key, history)
    assert all(h["update_ok_G"] and h["update_ok_D"] for h in history)
    out = ph.generators()["G_BA"](Tensor(b))
    assert out.shape == (B, 3, R, R)
