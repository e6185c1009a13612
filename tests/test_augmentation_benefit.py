"""Augmentation-benefit report end to end on tiny synthetic class folders."""
import json

import numpy as np
import pytest
from PIL import Image

from msgan.errors import MsganError
from msgan.metrics import augmentation_benefit as ab

from colour_folders import COLOURS, write_folder as _write_folder


def test_stratified_split_keeps_every_class_on_both_sides():
    labels = np.array([0] * 10 + [1] * 2 + [2] * 5)
    train, held = ab.stratified_split(labels, 3, 0.3, seed=0)
    assert len(np.intersect1d(train, held)) == 0 and len(train) + len(held) == len(labels)
    assert np.bincount(labels[held]).tolist() == [3, 1, 2]
    assert np.array_equal(held, ab.stratified_split(labels, 3, 0.3, seed=0)[1])
    assert not np.array_equal(held, ab.stratified_split(labels, 3, 0.3, seed=1)[1])


def test_verdict_compares_mean_difference_with_spread():
    assert ab.verdict([0.9, 0.92, 0.91], [0.6, 0.62, 0.61], 30)[0] == "generated images helped"
    assert ab.verdict([0.5, 0.52, 0.51], [0.8, 0.82, 0.81], 30)[0] == "generated images hurt"
    # A 1-point gain with 10-point run-to-run noise is not a benefit.
    assert ab.verdict([0.7, 0.9, 0.8], [0.8, 0.6, 0.7], 30)[0] == "no measurable benefit"
    # Nor is a gain smaller than one held-out image.
    assert ab.verdict([0.81], [0.8], 10)[0] == "no measurable benefit"
    # Three seeds that each gain 2-4 points help, however much the arms vary from seed to seed
    # (colour6-tiles judged on 240 never-seen reals); two seeds are too few to trust the
    # differences' own spread, so there the arms' spread counts too.
    with_gen, without = [0.8958, 0.85, 0.8375], [0.8667, 0.8292, 0.8]
    assert ab.verdict(with_gen, without, 240)[0] == "generated images helped"
    assert ab.verdict(with_gen[:2], without[:2], 240)[0] == "no measurable benefit"


def test_a_run_warns_when_the_images_hurt_or_may_hurt():
    """The run's log: WORSE for a measured loss; a may-hurt warning for a loss of a point or
    more inside the spread (few held-out reals); nothing for a gain or a small difference."""
    def report(with_gen, without):
        verdict, d, spread = ab.verdict(with_gen, without, 30)
        d = dict(d, spread=spread)
        arm = lambda v: {"balanced_accuracy": {"mean": float(np.mean(v))}}  # noqa: E731
        return {"verdict": verdict, "balanced_accuracy_difference": d,
                "real_only": arm(without), "real_plus_generated": arm(with_gen)}
    hurt = ab.warning_for(report([0.5, 0.52, 0.51], [0.8, 0.82, 0.81]), "/run/Data")
    assert "WORSE" in hurt and "/run/Data" in hurt and "-30.0 points" in hurt
    noisy_loss = report([0.70, 0.95, 0.75], [0.80, 0.85, 0.90])          # -5 points, spread 13
    assert noisy_loss["verdict"] == "no measurable benefit"
    may = ab.warning_for(noisy_loss, "/run/Data")
    assert may.startswith("WARNING: no measurable benefit") and "may make a classifier" in may
    assert ab.warning_for(report([0.9, 0.92, 0.91], [0.6, 0.62, 0.61]), "D") is None
    assert ab.warning_for(report([0.84, 0.85, 0.86], [0.845, 0.855, 0.86]), "D") is None


def test_report_end_to_end_is_reproducible(tmp_path):
    real = _write_folder(tmp_path / "real", COLOURS, 12, seed=0)
    # Generated "blue" images are really red: a generator that mixed up its classes.
    _write_folder(tmp_path / "run" / "Data", {"red": COLOURS["red"], "blue": COLOURS["red"],
                                              "purple": (160, 30, 160)}, 6, seed=1)
    kwargs = dict(seeds=(0, 1), holdout=0.3, epochs=4, resolution=16, width=16, batch_size=16)
    first = ab.augmentation_benefit(real, str(tmp_path / "run"), str(tmp_path / "out1"), **kwargs)
    second = ab.augmentation_benefit(real, str(tmp_path / "run"), str(tmp_path / "out2"), **kwargs)

    saved = json.loads((tmp_path / "out1" / "report" / "augmentation.json").read_text())
    assert saved == json.loads(json.dumps(first))
    for key in ("real_only", "real_plus_generated", "balanced_accuracy_difference", "verdict"):
        assert first[key] == second[key]
    assert first["verdict"] in ("generated images helped", "no measurable benefit",
                                "generated images hurt")
    assert first["n_heldout"] == {"blue": 4, "green": 4, "red": 4}
    assert first["n_train_real"] == {"blue": 8, "green": 8, "red": 8}
    assert first["n_generated"] == {"blue": 6, "green": 0, "red": 6}
    assert first["generated_classes_ignored"] == ["purple"]
    arm = first["real_only"]
    assert len(arm["accuracy"]["per_seed"]) == 2
    assert 0.0 <= arm["balanced_accuracy"]["mean"] <= 1.0
    assert set(arm["per_class_accuracy"]) == {"red", "green", "blue"}
    diff = first["balanced_accuracy_difference"]
    expected = np.mean(np.subtract(first["real_plus_generated"]["balanced_accuracy"]["per_seed"],
                                   arm["balanced_accuracy"]["per_seed"]))
    assert diff["mean"] == pytest.approx(expected)
    png = tmp_path / "out1" / "report" / "augmentation.png"
    with Image.open(png) as im:
        assert im.size[0] > 100 and im.size[1] > 100


def test_bad_input_raises_msgan_error(tmp_path):
    real = _write_folder(tmp_path / "real", COLOURS, 3, seed=0)
    other = _write_folder(tmp_path / "other", {"cat": COLOURS["red"]}, 3, seed=0)
    with pytest.raises(MsganError, match="no class folder names are shared"):
        ab.augmentation_benefit(real, other, str(tmp_path / "o"), resolution=16)
    with pytest.raises(MsganError, match="holdout"):
        ab.augmentation_benefit(real, real, str(tmp_path / "o"), holdout=1.0)
    with pytest.raises(MsganError, match="generated folder .* does not exist"):
        ab.augmentation_benefit(real, str(tmp_path / "nope"), str(tmp_path / "o"), resolution=16)


def test_compare_trains_the_real_only_arm_once_per_seed_with_a_cache(monkeypatch):
    """A benchmark judging several generated sets on one split reuses the real-only arm; the
    cached arm must give the very numbers a fresh one gives."""
    rng = np.random.default_rng(0)
    colours = np.array(list(COLOURS.values()), np.uint8)           # 3 classes, one colour each

    def images(labels):
        x = colours[labels][:, :, None, None] + rng.integers(0, 30, (len(labels), 3, 8, 8))
        return np.clip(x, 0, 255).astype(np.uint8)

    y_real, y_held, y_gen = (np.repeat(np.arange(3), n).astype(np.int32) for n in (6, 3, 4))
    x_real, x_held, x_gen = images(y_real), images(y_held), images(y_gen)
    classes = list(COLOURS)
    trained = []
    real_train = ab.clf.train_classifier
    monkeypatch.setattr(ab.clf, "train_classifier",
                        lambda x, *a, **k: trained.append(len(x)) or real_train(x, *a, **k))
    kwargs = dict(seeds=(0, 1), epochs=2, batch_size=8, width=8, mirror=False)
    fresh = ab.compare(x_real, y_real, x_held, y_held, x_gen, y_gen, classes, **kwargs)
    cache = {}
    first = ab.compare(x_real, y_real, x_held, y_held, x_gen, y_gen, classes,
                       real_only_cache=cache, **kwargs)
    second = ab.compare(x_real, y_real, x_held, y_held, x_gen[::2], y_gen[::2], classes,
                        real_only_cache=cache, **kwargs)
    # 4 classifiers each for fresh and first, then only the 2 real + generated ones
    assert trained == [18, 30, 18, 30] * 2 + [24, 24]
    assert sorted(cache) == [("real_only", 0), ("real_only", 1)]
    for report in (first, second):
        assert report["real_only"] == fresh["real_only"]
    assert first["real_plus_generated"] == fresh["real_plus_generated"]
    assert first["generated_recognised"] == fresh["generated_recognised"]
    assert second["n_generated"] == {c: 2 for c in classes}


def test_repeat_to_largest_oversamples_every_class_to_the_largest_count():
    labels = np.array([0] * 5 + [1] * 2 + [2] * 3 + [1])       # class 1 not contiguous
    idx = ab.repeat_to_largest(labels, 4)                       # class 3 has no image
    assert np.bincount(labels[idx], minlength=4).tolist() == [5, 5, 5, 0]
    assert idx[labels[idx] == 1].tolist() == [5, 6, 10, 5, 6]   # whole copies, then the first
    assert sorted(set(idx)) == list(range(len(labels)))         # every image is used


def test_rebalanced_arms_judge_the_images_against_repeated_reals(monkeypatch):
    """On an imbalanced split the report also trains on the reals repeated up to the largest
    class (no generated images) and on those plus the generated images, with the same budget;
    the cache keeps both arms without generated images, and the log line and warning use
    the rebalanced comparison."""
    rng = np.random.default_rng(0)
    colours = np.array(list(COLOURS.values()), np.uint8)

    def images(labels):
        x = colours[labels][:, :, None, None] + rng.integers(0, 30, (len(labels), 3, 8, 8))
        return np.clip(x, 0, 255).astype(np.uint8)

    y_real = np.repeat(np.arange(3), [12, 12, 3]).astype(np.int32)
    y_held, y_gen = (np.repeat(np.arange(3), n).astype(np.int32) for n in (3, 4))
    x_real, x_held, x_gen = images(y_real), images(y_held), images(y_gen)
    trained = []
    real_train = ab.clf.train_classifier
    monkeypatch.setattr(ab.clf, "train_classifier",
                        lambda x, *a, **k: trained.append((len(x), k["steps"]))
                        or real_train(x, *a, **k))
    cache = {}
    report = ab.compare(x_real, y_real, x_held, y_held, x_gen, y_gen, list(COLOURS),
                        seeds=(0, 1), epochs=2, batch_size=8, width=8, mirror=False,
                        real_only_cache=cache, rebalance=True)
    # real 27, real + 12 generated 39, repeated 3 x 12 = 36, repeated + generated 48; one budget
    assert trained == [(27, 8), (39, 8), (36, 8), (48, 8)] * 2
    assert sorted(cache) == [(a, s) for a in ("real_only", "real_rebalanced") for s in (0, 1)]
    assert report["n_train_rebalanced"] == 36
    diff = report["rebalanced_difference"]
    per_seed = np.subtract(report["rebalanced_plus_generated"]["balanced_accuracy"]["per_seed"],
                           report["real_rebalanced"]["balanced_accuracy"]["per_seed"])
    assert diff["mean"] == pytest.approx(per_seed.mean())
    assert report["rebalanced_verdict"] in ("generated images helped", "no measurable benefit",
                                            "generated images hurt")
    assert "repeated up to the largest class's count" in ab.verdict_line(report)
    # the images helped the plain classifier but lost against repeated reals: the run warns,
    # and the verdict it leads with is the one against repeated reals (issue 35, point 10)
    report.update(verdict="generated images helped", rebalanced_verdict="no measurable benefit",
                  rebalanced_difference=dict(diff, mean=-0.02))
    warning = ab.warning_for(report, "/run/Data")
    assert warning.startswith("WARNING: no measurable benefit against each class's reals "
                              "repeated") and "repeating your small classes" in warning
    line = ab.verdict_line(report)
    assert line.index("no measurable benefit") < line.index("generated images helped")
    assert "-2.0 points" in line.split(";")[0]
    assert ab.warning_for(dict(report, rebalanced_difference=dict(diff, mean=0.02)), "D") is None
    # without rebalance, none of it
    plain = ab.compare(x_real, y_real, x_held, y_held, x_gen, y_gen, list(COLOURS), seeds=(0,),
                       epochs=1, batch_size=8, width=8, mirror=False)
    assert "real_rebalanced" not in plain and "rebalanced_verdict" not in plain


def test_heldout_folder_judges_on_reals_the_gan_never_saw(tmp_path):
    """With a held-out folder every real trains the classifiers and only the held-out reals
    judge them; a class missing there, or a held-out image that is also a training image, is
    refused with one line before any classifier trains."""
    real = _write_folder(tmp_path / "real", COLOURS, 6, seed=0)
    held = _write_folder(tmp_path / "held", {**COLOURS, "purple": (160, 30, 160)}, 5, seed=2)
    _write_folder(tmp_path / "run" / "Data", COLOURS, 4, seed=1)
    kwargs = dict(seeds=(0,), epochs=2, resolution=16, width=8, batch_size=8)
    report = ab.augmentation_benefit(real, str(tmp_path / "run"), str(tmp_path / "out"),
                                     heldout_dir=held, **kwargs)
    assert report["heldout_unseen"] is True and report["heldout_dir"] == held
    assert report["n_train_real"] == {"blue": 6, "green": 6, "red": 6}     # no split
    assert report["n_heldout"] == {"blue": 5, "green": 5, "red": 5}        # purple left out
    assert "on 15 reals the GAN never saw" in ab.verdict_line(report)
    assert "holdout" not in report
    split = ab.augmentation_benefit(real, str(tmp_path / "run"), str(tmp_path / "out2"), **kwargs)
    assert split["heldout_unseen"] is False and split["n_heldout"]["red"] == 2
    # the split's warnings point at the surer check, the held-out one's do not
    lost = {"verdict": "generated images hurt", "rebalanced_difference": None,
            "balanced_accuracy_difference": {"mean": -0.3, "spread": 0.01}}
    assert "metrics.benefit_heldout" in ab.warning_for(dict(split, **lost), "D")
    assert "metrics.benefit_heldout" not in ab.warning_for(dict(report, **lost), "D")

    no_blue = _write_folder(tmp_path / "held2", {"red": COLOURS["red"]}, 3, seed=3)
    with pytest.raises(MsganError, match="no images of class 'blue', 'green'"):
        ab.augmentation_benefit(real, str(tmp_path / "run"), str(tmp_path / "o"),
                                heldout_dir=no_blue, **kwargs)
    # one training image copied into the held-out folder
    (tmp_path / "held" / "red" / "copy.png").write_bytes(
        (tmp_path / "real" / "red" / "000.png").read_bytes())
    with pytest.raises(MsganError, match="1 of the 16 images .* are also in the training"):
        ab.augmentation_benefit(real, str(tmp_path / "run"), str(tmp_path / "o"),
                                heldout_dir=held, **kwargs)
    with pytest.raises(MsganError, match="held-out folder .* does not exist"):
        ab.augmentation_benefit(real, str(tmp_path / "run"), str(tmp_path / "o"),
                                heldout_dir=str(tmp_path / "nope"), **kwargs)
