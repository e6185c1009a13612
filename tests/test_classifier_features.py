"""Small CNN classifier (features, accuracy, seeding) and folder-vs-folder evaluation."""
import numpy as np
import pytest
from PIL import Image

from msgan.errors import MsganError
from msgan.metrics import classifier as clf
from msgan.metrics import evaluate

from colour_folders import COLOURS, shape_image as _shape_image, write_folder as _write_folder  # noqa: E501


def _arrays(n_per_class, seed):
    rng = np.random.default_rng(seed)
    labels = np.repeat(np.arange(3), n_per_class).astype(np.int32)
    images = np.stack([_shape_image(rng, list(COLOURS.values())[c]) for c in labels])
    return images.transpose(0, 3, 1, 2).copy(), labels


def test_classifier_learns_colours_and_is_seeded():
    images, labels = _arrays(10, 0)
    test_images, test_labels = _arrays(5, 1)
    model = clf.train_classifier(images, labels, 3, epochs=6, seed=0, width=16)
    assert clf.accuracy(model, test_images, test_labels) >= 0.8
    feats = clf.extract_features(model, test_images)
    assert feats.shape == (15, 64) and np.isfinite(feats).all()
    again = clf.train_classifier(images, labels, 3, epochs=6, seed=0, width=16)
    np.testing.assert_array_equal(clf.extract_features(again, test_images), feats)
    other = clf.train_classifier(images, labels, 3, epochs=6, seed=1, width=16)
    assert not np.allclose(clf.extract_features(other, test_images), feats)


def test_batch_indices_uniform_epochs_and_balanced_classes():
    """Uniform batches walk whole permutations (every image once per epoch); balanced batches
    draw each class equally often, however few images it has."""
    labels = np.array([0] * 100 + [1] * 5 + [2] * 15)
    uniform = clf.batch_indices(labels, 8, np.random.default_rng(0), balanced=False)
    epoch = np.concatenate([next(uniform) for _ in range(15)])        # 120 = one epoch
    assert sorted(epoch.tolist()) == list(range(120))
    balanced = clf.batch_indices(labels, 32, np.random.default_rng(0), balanced=True)
    drawn = labels[np.concatenate([next(balanced) for _ in range(300)])]
    share = np.bincount(drawn, minlength=3) / len(drawn)
    np.testing.assert_allclose(share, 1 / 3, atol=0.02)
    few = np.flatnonzero(labels == 1)
    picked = np.concatenate([next(balanced) for _ in range(50)])
    assert set(picked[labels[picked] == 1]) == set(few.tolist())     # all 5, and only those


def test_cosine_rates_fall_from_lr_to_near_zero():
    r = clf.cosine_rates(2e-3, 100)
    assert r.shape == (100,) and r.dtype == np.float32
    assert r[0] == pytest.approx(2e-3) and 0 < r[-1] < 1e-6
    assert (np.diff(r) <= 0).all()


def test_balanced_decayed_classifier_learns_a_minority_class():
    """The recipe of generate.filter's classifier: a class with one image among 30 of each of
    the others is recognised on new images after 30 steps."""
    images, labels = _arrays(30, 0)
    keep = np.concatenate([np.flatnonzero(labels != 2), np.flatnonzero(labels == 2)[:1]])
    test_images, test_labels = _arrays(10, 1)
    model = clf.train_classifier(images[keep], labels[keep], 3, steps=30, seed=0, width=16,
                                 balanced=True, decay=True)
    pred = clf.predict(model, test_images)
    assert (pred[test_labels == 2] == 2).mean() >= 0.9
    assert clf.accuracy(model, test_images, test_labels) >= 0.9


def test_balanced_accuracy_against_hand_count():
    labels = np.array([0, 0, 0, 0, 1, 1, 2])
    preds = np.array([0, 0, 0, 1, 1, 0, 0])
    bal, per = clf.balanced_accuracy(labels, preds, 4)
    assert per[:3].tolist() == [0.75, 0.5, 0.0] and np.isnan(per[3])
    assert bal == pytest.approx((0.75 + 0.5 + 0.0) / 3)


def test_classifier_rejects_bad_input():
    images, labels = _arrays(2, 0)
    with pytest.raises(MsganError, match="uint8"):
        clf.train_classifier(images.astype(np.float32), labels, 3)
    with pytest.raises(MsganError, match="labels in"):
        clf.train_classifier(images, labels + 5, 3)
    with pytest.raises(MsganError, match="2 classes"):
        clf.train_classifier(images, np.zeros_like(labels), 1)


def test_evaluate_folders_ranks_a_wrong_class_worst_as_snapshot_scoring_would(tmp_path):
    real = _write_folder(tmp_path / "real", COLOURS, 10, seed=0)
    # Generated "blue" images are really green: that class must score worst.
    fake = _write_folder(tmp_path / "fake", {"red": COLOURS["red"], "green": COLOURS["green"],
                                             "blue": COLOURS["green"]}, 8, seed=1)
    out = evaluate.evaluate_folders(real, fake, resolution=16, epochs=6, seed=0)
    assert out["extractor"] == "classifier" and "comparable only" in out["note"]
    assert set(out["per_class"]) == {"red", "green", "blue"}
    kid = {c: s["kid"] for c, s in out["per_class"].items()}
    assert kid["blue"] > 3 * max(kid["red"], kid["green"], 1e-6)
    assert out["per_class"]["blue"]["precision"] < 0.5
    overall = out["overall"]
    assert (overall["n_real"], overall["n_fake"]) == (30, 24)
    assert all(overall[k] is not None for k in ("fid", "kid", "kid_std", "precision", "recall"))
    assert evaluate.pick_best(out["per_class"]) in ("red", "green")

    # Same reals, resolution and seed: evaluate's extractor is the snapshot scorer's, so the
    # same generated images get the same KID (the run's stats.jsonl and evaluate agree).
    from msgan.config import MetricsConfig
    from msgan.metrics.features import load_folder
    from msgan.train.scoring import SnapshotScorer

    r, f = load_folder(real, 16), load_folder(fake, 16)
    scorer = SnapshotScorer(r.images, r.labels, 3, MetricsConfig(kid_images=24,
                                                                 classifier_epochs=6), seed=0)

    class FolderSampler:        # the scorer asks for 8 per class, in class order: the folder's
        meta = {"z_dim": 2, "num_classes": 3}

        def __call__(self, z, c, psi=1.0):
            np.testing.assert_array_equal(c, f.labels)
            return f.images

    snapshot = scorer.score(FolderSampler(), seed=0)
    assert out["extractor_info"]["classifier_steps"] == scorer.info["classifier_steps"]
    assert overall["kid"] == pytest.approx(snapshot["kid"], rel=1e-9, abs=1e-12)


def test_score_images_identical_sets_and_tiny_sets():
    rng = np.random.default_rng(0)
    feats = rng.normal(size=(40, 8))
    s = evaluate.score_images(feats, feats, num_subsets=10)
    assert abs(s["fid"]) < 1e-6 and s["precision"] == 1.0 and s["recall"] == 1.0
    # Unbiased KID of a set against itself is slightly negative (the cross term keeps the
    # diagonal); a shifted set is far above it.
    shifted = evaluate.score_images(feats, feats + 1.0, num_subsets=10)
    assert s["kid"] < 0 < shifted["kid"] and abs(s["kid"]) < 0.2 * shifted["kid"]
    tiny = evaluate.score_images(feats[:3], feats[:1])
    assert tiny["fid"] is None and tiny["kid"] is None and tiny["precision"] is None
    assert evaluate.pick_best({"a": {"kid": 0.2}, "b": {"kid": -0.01}, "c": {"kid": None}}) == "b"


def test_evaluate_single_level_generated_folder_gives_overall_only(tmp_path):
    real = _write_folder(tmp_path / "real", {"red": COLOURS["red"], "blue": COLOURS["blue"]}, 6, 0)
    flat = tmp_path / "run" / "Data"          # an msgan output folder is read from Data/
    flat.mkdir(parents=True)
    rng = np.random.default_rng(2)
    for i in range(5):
        Image.fromarray(_shape_image(rng, COLOURS["red"])).save(flat / f"{i}.png")
    out = evaluate.evaluate_folders(real, str(tmp_path / "run"), resolution=16, epochs=2,
                                    num_subsets=5)
    assert out["per_class"] == {} and "single-level" in out["per_class_note"]
    assert (out["overall"]["n_real"], out["overall"]["n_fake"]) == (12, 5)


def test_evaluate_folders_bad_input(tmp_path):
    real = _write_folder(tmp_path / "real", {"red": COLOURS["red"], "blue": COLOURS["blue"]}, 3, 0)
    other = _write_folder(tmp_path / "other", {"cat": COLOURS["red"]}, 3, 0)
    flat = tmp_path / "flat"
    flat.mkdir()
    Image.fromarray(_shape_image(np.random.default_rng(0), COLOURS["red"])).save(flat / "a.png")
    with pytest.raises(MsganError, match="generated folder .* does not exist"):
        evaluate.evaluate_folders(real, str(tmp_path / "missing"), resolution=16)
    with pytest.raises(MsganError, match="no class folder names are shared"):
        evaluate.evaluate_folders(real, other, resolution=16)
    with pytest.raises(MsganError, match="at least 4 real images"):   # before any training
        evaluate.evaluate_folders(str(flat), real, resolution=16)
    with pytest.raises(MsganError, match="metrics.inception_checkpoint"):
        evaluate.evaluate_folders(real, real, extractor="inception", resolution=16)
    with pytest.raises(MsganError, match="inception_checkpoint .*nope.ckpt does not exist"):
        evaluate.evaluate_folders(real, real, extractor="inception",
                                  inception_checkpoint=str(tmp_path / "nope.ckpt"))
    with pytest.raises(MsganError, match="extractor 'vgg'"):
        evaluate.evaluate_folders(real, real, extractor="vgg")


def test_evaluate_takes_the_run_settings_and_explains_the_comparison(tmp_path):
    import json
    from types import SimpleNamespace

    import yaml

    from msgan import runinfo

    run = tmp_path / "run"
    (run / "checkpoints").mkdir(parents=True)
    (run / "Data").mkdir()
    (run / "config.yaml").write_text(yaml.safe_dump({
        "data": {"resolution": 32, "channels": 1, "mirror": True}, "train": {"seed": 4},
        "metrics": {"extractor": "classifier", "classifier_epochs": 9,
                    "inception_checkpoint": ""}, "generate": {"use_snapshot": "best"}}))
    (run / "validation.json").write_text(json.dumps({"root": str(tmp_path / "reals")}))
    rows = [{"kimg": 1.0, "snapshot": "snapshot-000001000", "kid": 0.02, "n_fake": 500},
            {"kimg": 2.0, "snapshot": "snapshot-000002000", "kid": 0.05, "n_fake": 500}]
    (run / "stats.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
    args = SimpleNamespace(resolution=None, channels=None, seed=None, epochs=None,
                           extractor=None, inception_checkpoint=None, mirror=None)
    assert runinfo.find_run(str(run / "Data")) == str(run)
    taken = runinfo.fill_defaults(args, str(run))
    assert taken == {"resolution": 32, "channels": 1, "seed": 4, "epochs": 9,
                     "extractor": "classifier", "mirror": True}
    assert args.inception_checkpoint is None
    result = {"overall": {"kid": 0.021, "kid_std": 0.004, "n_fake": 300}}
    row, why = runinfo.compare_with_run(str(run), str(run / "Data"), str(tmp_path / "reals"),
                                        args, result)
    # Data/ holds the images of the best snapshot (use_snapshot=best)
    assert row["snapshot"] == "snapshot-000001000" and "differ only by the images" in why
    args.resolution = 64
    _, why = runinfo.compare_with_run(str(run), str(run / "Data"), str(tmp_path / "other"),
                                      args, result)
    assert "not comparable" in why and "--resolution 64" in why and "REAL_DIR" in why
    # with no run folder, evaluate falls back to its documented defaults
    bare = SimpleNamespace(resolution=None, channels=None, seed=None, epochs=None,
                           extractor=None, inception_checkpoint=None, mirror=None)
    assert runinfo.fill_defaults(bare, None) == {} and bare.resolution == 64
    assert bare.mirror is False      # a flip changes digits and text: off unless the run flips
