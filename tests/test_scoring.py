"""Snapshot scoring: reals score near zero KID, broken generators score worse, best pick, seeds."""
import json

import numpy as np
import pytest

from msgan.config import MetricsConfig
from msgan.errors import MsganError
from msgan.metrics import evaluate, extractor
from msgan.train import scoring

COLOURS = [(220, 30, 30), (30, 200, 30), (40, 40, 230)]
R = 16
Z_DIM = 8


def _shape_image(rng, colour):
    """A coloured square at a random place on a noisy dark background, (3, R, R)."""
    img = rng.integers(0, 40, size=(R, R, 3))
    s = rng.integers(R // 3, R // 2 + 1)
    y, x = rng.integers(0, R - s, size=2)
    img[y:y + s, x:x + s] = np.array(colour) + rng.integers(-20, 20, size=3)
    return np.clip(img, 0, 255).astype(np.uint8).transpose(2, 0, 1)


def _data(n_per_class=20, seed=0):
    rng = np.random.default_rng(seed)
    labels = np.repeat(np.arange(3), n_per_class).astype(np.int32)
    return np.stack([_shape_image(rng, COLOURS[c]) for c in labels]), labels


class FakeSampler:
    """Stands in for generate.Sampler: ``meta`` and ``__call__(z, c, psi) -> uint8``."""

    def __init__(self, make, num_classes=3):
        self.meta = {"z_dim": Z_DIM, "z_dist": "gaussian", "num_classes": num_classes,
                     "resolution": R, "channels": 3}
        self.make = make
        self.calls = []

    def __call__(self, z, c, psi=1.0):
        self.calls.append((z.copy(), c.copy(), psi))
        out = self.make(z, c)
        assert out.shape == (len(z), 3, R, R) and out.dtype == np.uint8
        return out


def _pick(images, labels, z, c):
    """For each latent, a real image of the asked class chosen by the latent (a shuffle)."""
    out = []
    for zi, ci in zip(z, c):
        idx = np.flatnonzero(labels == ci)
        out.append(images[idx[int(abs(zi[0]) * 1e4) % len(idx)]])
    return np.stack(out)


CFG = MetricsConfig(extractor="classifier", kid_images=60, classifier_epochs=6)
IMAGES, LABELS = _data()


@pytest.fixture(scope="module")
def scorer(tmp_path_factory):
    out = tmp_path_factory.mktemp("run")
    s = scoring.SnapshotScorer(IMAGES, LABELS, 3, CFG, seed=0, out_dir=str(out), width=16)
    s.out_dir = out
    return s


def test_reals_score_near_zero_and_broken_generators_worse(scorer):
    reals = FakeSampler(lambda z, c: _pick(IMAGES, LABELS, z, c))
    noise = FakeSampler(lambda z, c: np.random.default_rng(1).integers(
        0, 256, (len(z), 3, R, R), dtype=np.uint8))
    grey = FakeSampler(lambda z, c: np.full((len(z), 3, R, R), 128, np.uint8))
    collapsed = FakeSampler(lambda z, c: _pick(IMAGES, LABELS, z, np.zeros_like(c)))
    # New draws from the reals' distribution, not seen by the classifier.
    fresh_images, fresh_labels = _data(seed=7)
    fresh = FakeSampler(lambda z, c: _pick(fresh_images, fresh_labels, z, c))
    s_real, s_noise, s_grey, s_coll, s_fresh = (scorer.score(s) for s in
                                                (reals, noise, grey, collapsed, fresh))
    for s in (s_real, s_noise, s_grey, s_coll, s_fresh):
        assert s["n_fake"] == 60 and s["n_real"] == 60
        assert all(s[k] is not None for k in ("kid", "kid_std", "fid", "precision", "recall"))
    worst_ok = min(s_noise["kid"], s_grey["kid"], s_coll["kid"])
    # Unbiased KID can dip below 0 when both sets share one distribution.
    assert abs(s_real["kid"]) < 0.1 * worst_ok and abs(s_fresh["kid"]) < 0.1 * worst_ok
    for s in (s_real, s_fresh):
        assert s["precision"] >= 0.9 and s["recall"] >= 0.9
    assert s_grey["precision"] <= 0.1 and s_noise["precision"] <= 0.1
    # Mode collapse to one class keeps fidelity but loses coverage.
    assert s_coll["recall"] < 0.5 and s_coll["kid"] > 10 * abs(s_real["kid"])
    best = evaluate.pick_best(dict(enumerate([s_noise, s_coll, s_real, s_grey])))
    assert best == 2
    # per class: collapse onto class 0 leaves classes 1 and 2 far off, class 0 close
    per, good = s_coll["kid_per_class"], s_real["kid_per_class"]
    assert set(per) == set(good) == {"0", "1", "2"}
    assert min(per["1"], per["2"]) > 10 * max(abs(per["0"]), max(abs(v) for v in good.values()))


def test_score_matches_metrics_on_the_same_features(scorer):
    reals = FakeSampler(lambda z, c: _pick(IMAGES, LABELS, z, c))
    out = scorer.score(reals, seed=3)
    z, c, _ = reals.calls[0]
    fake_f = scorer.features(_pick(IMAGES, LABELS, z, c))
    expected = evaluate.score_images(scorer.real_features, fake_f, seed=3)
    for k in ("kid", "kid_std", "fid", "precision", "recall"):
        assert out[k] == pytest.approx(expected[k], rel=1e-9, abs=1e-12)


def test_same_seed_same_latents_and_numbers(scorer):
    sampler = FakeSampler(lambda z, c: _pick(IMAGES, LABELS, z, np.zeros_like(c)))
    a, b = scorer.score(sampler, seed=5), scorer.score(sampler, seed=5)
    assert a == b
    (z1, c1, psi), (z2, c2, _) = sampler.calls
    np.testing.assert_array_equal(z1, z2)
    np.testing.assert_array_equal(c1, c2)
    assert psi == 1.0 and z1.shape == (60, Z_DIM) and z1.dtype == np.float32
    # Classes in the proportion of the reals (20 each here).
    assert np.bincount(c1).tolist() == [20, 20, 20]
    scorer.score(sampler, seed=6)
    assert not np.array_equal(sampler.calls[2][0], z1)


def test_a_second_scorer_with_the_same_seed_gives_the_same_features(scorer):
    again = scoring.SnapshotScorer(IMAGES, LABELS, 3, CFG, seed=0, width=16)
    np.testing.assert_array_equal(again.real_features, scorer.real_features)


def test_extractor_description_is_written(scorer):
    info = json.loads((scorer.out_dir / scoring.EXTRACTOR_FILE).read_text())
    assert info["extractor"] == "classifier" and info["task"] == "classes"
    assert info["n_real"] == 60 and info["feature_dim"] == 64
    assert info["classifier_steps"] == 6 * 2 and info["classifier_resolution"] == R
    assert info["accuracy_on_reals"] >= 0.8
    assert "comparable only" in info["note"]


def test_class_mix_follows_real_proportions():
    labels = np.array([0] * 50 + [1] * 30 + [2] * 20)
    assert np.bincount(scoring.class_mix(10, labels, 3)).tolist() == [5, 3, 2]
    mix = scoring.class_mix(7, labels, 3)          # 3.5, 2.1, 1.4 → 4, 2, 1
    assert np.bincount(mix, minlength=3).tolist() == [4, 2, 1]
    assert mix.tolist() == sorted(mix.tolist()) and mix.dtype == np.int32
    # A class with no reals gets no fakes.
    assert np.bincount(scoring.class_mix(6, np.array([0, 0, 2]), 3), minlength=3).tolist() == \
        [4, 0, 2]


def test_pick_best_skips_missing_and_non_finite_kid():
    history = [{"kid": 0.5}, {"kid": None}, {"kid": 0.1}, {"kid": float("nan")}, {}, {"kid": 0.3}]
    assert evaluate.pick_best(dict(enumerate(history))) == 2
    assert evaluate.pick_best(dict(enumerate([{"kid": None}, {}]))) is None
    assert evaluate.pick_best(dict(enumerate([]))) is None
    assert evaluate.pick_best(dict(enumerate([{"kid": -0.01}, {"kid": 0.0}]))) == 0


def test_shrink_and_rotations_against_numpy():
    x = np.arange(2 * 1 * 4 * 4, dtype=np.uint8).reshape(2, 1, 4, 4)
    small = extractor.shrink(x, 2)
    assert small.shape == (2, 1, 2, 2) and small.dtype == np.uint8
    # Block means 2.5, 4.5, 10.5, 12.5 round half to even.
    assert small[0, 0].tolist() == [[2, 4], [10, 12]]
    assert small[1, 0].tolist() == [[18, 20], [26, 28]]
    assert extractor.shrink(x, 8) is x
    rot, lab = extractor.rotations(x)
    assert rot.shape == (8, 1, 4, 4) and lab.tolist() == [0, 0, 1, 1, 2, 2, 3, 3]
    np.testing.assert_array_equal(rot[2, 0], np.rot90(x[0, 0]))
    np.testing.assert_array_equal(rot[6, 0], np.rot90(x[0, 0], 3))


def test_unconditional_reals_use_the_rotation_proxy():
    cfg = MetricsConfig(extractor="classifier", kid_images=40, classifier_epochs=2)
    s = scoring.SnapshotScorer(IMAGES, np.zeros_like(LABELS), 0, cfg, seed=0, width=16,
                               max_real=45, max_steps=10)
    assert s.info["task"] == "rotation" and "rotation" in s.info["note"]
    # 45 reals × 4 rotations = 180 → 6 batches × 2 epochs = 12 steps, capped at 10.
    assert s.info["classifier_steps"] == 10 and s.info["n_real"] == 45
    assert s.real_features.shape == (45, 64)
    reals = FakeSampler(lambda z, c: _pick(IMAGES, LABELS, z, np.arange(len(z)) % 3),
                        num_classes=0)
    grey = FakeSampler(lambda z, c: np.full((len(z), 3, R, R), 128, np.uint8), num_classes=0)
    s_real, s_grey = s.score(reals), s.score(grey)
    assert (reals.calls[0][1] == 0).all() and s_real["n_real"] == 45
    assert abs(s_real["kid"]) < 0.05 * s_grey["kid"]
    assert evaluate.pick_best(dict(enumerate([s_grey, s_real]))) == 1


def test_bad_setups_are_errors(scorer):
    wrong = FakeSampler(lambda z, c: np.zeros((len(z), 3, R, R), np.uint8), num_classes=5)
    with pytest.raises(MsganError, match="5 classes"):
        scorer.score(wrong)
    cfg = MetricsConfig(extractor="inception", inception_checkpoint="/nonexistent/inc.ckpt")
    with pytest.raises(MsganError, match="does not exist"):
        scoring.SnapshotScorer(IMAGES, LABELS, 3, cfg, seed=0)
    with pytest.raises(MsganError, match="at least 4"):
        scoring.SnapshotScorer(IMAGES[:3], LABELS[:3], 3, CFG, seed=0)


def test_best_snapshot_from_stats_rows():
    # one row per tick; a snapshot's scores are in the row of the tick it closed
    rows = [{"tick": 1, "kimg": 0.5, "loss_G": 0.1},
            {"tick": 2, "kimg": 1.0, "loss_G": 0.1, "snapshot": "snapshot-000001000", "kid": 0.4},
            {"tick": 3, "kimg": 2.0, "loss_G": 0.1, "snapshot": "snapshot-000002000", "kid": 0.2},
            {"tick": 4, "kimg": 3.0, "loss_G": 0.1, "snapshot": "snapshot-000003000", "kid": None},
            {"tick": 5, "kimg": 4.0, "loss_G": 0.1, "snapshot": "snapshot-000004000"}]  # unscored
    assert evaluate.best_snapshot(rows) == "snapshot-000002000"
    assert evaluate.best_snapshot(rows[:1]) is None and evaluate.best_snapshot(rows[-1:]) is None
    assert evaluate.best_snapshot([]) is None
    # files of earlier versions: scores in rows of their own, a snapshot rescored at one kimg
    old = [{"tick": 1, "kimg": 1.0, "loss_G": 0.1},
           {"kimg": 1.0, "snapshot": "snapshot-000001000", "kid": 0.4},
           {"kimg": 3.0, "snapshot": "snapshot-000003000", "kid": 0.1},
           {"kimg": 3.0, "snapshot": "snapshot-000003000", "kid": 0.5}]   # rewritten, rescored
    assert evaluate.best_snapshot(old) == "snapshot-000001000"
