"""generate.filter: the classifier that keeps a generated image only where it looks like its class
(ClassFilter's rules on a stand-in classifier, then real runs, predict mode and ``msgan generate
--reals``), and the diversity check that withholds a class G collapsed on."""
import json
import os

import numpy as np
import pytest

pytest.importorskip("mindspore")
from colour_folders import COLOURS, shape_image, tiny_class_run, write_folder  # noqa: E402
from msgan_process import assert_clean_error, run_msgan  # noqa: E402


class ByColour:
    """A stand-in for the filter's classifier: the strongest channel is the class."""

    def infer(self, images):
        means = images.astype(np.float64).mean(axis=(2, 3))
        return means, means


def _red_green(n):
    """n red and n green shape images, uint8 (n, 3, R, R) each."""
    rng = np.random.default_rng(0)
    return (np.stack([shape_image(rng, COLOURS[c]) for _ in range(n)]).transpose(0, 3, 1, 2)
            for c in ("red", "green"))


def test_class_filter_judges_each_class_it_can_recognise():
    """ClassFilter keeps images its classifier puts in their class, and leaves alone a class the
    classifier does not recognise among its own reals (it cannot judge that class)."""
    from msgan.metrics.class_filter import ClassFilter

    red, green = _red_green(6)
    reals = np.concatenate([red, green, red])            # 'crimson' (class 2) looks like red
    labels = np.repeat([0, 1, 2], 6)
    keep = ClassFilter(ByColour(), reals, labels, ["red", "green", "crimson"])
    assert keep.recall == {"red": 1.0, "green": 1.0, "crimson": 0.0}
    assert keep.unfiltered == ["crimson"]
    mixed = np.concatenate([red[:3], green[:2]])
    np.testing.assert_array_equal(keep.accept(mixed, 0), [True] * 3 + [False] * 2)
    np.testing.assert_array_equal(keep.accept(mixed, 1), [False] * 3 + [True] * 2)
    np.testing.assert_array_equal(keep.accept(mixed, 2), [True] * 5)      # not judged


def test_run_filters_generated_images_by_class_and_reports_it(tmp_path):
    """generate.filter=classifier (the default) in a real run: what it kept is what Data/ and
    the manifest hold, quality.json says so per class, and a class that got fewer images than
    asked is named in a warning."""
    data = write_folder(tmp_path / "data", COLOURS, 12, seed=1)
    out = tmp_path / "run"
    r = tiny_class_run(data, out, "metrics.benefit_check=false", "generate.generate_num=6",
                       "generate.filter_tries=2")
    assert r.returncode == 0, r.stderr[-3000:]
    report = json.loads((out / "quality.json").read_text())["class_filter"]
    assert report["filter"] == "classifier" and report["tries"] == 2
    assert report["unfiltered"] == []                    # colours: every class recognisable
    assert all(v >= 0.5 for v in report["classifier_recall_on_reals"].values())
    assert set(report["per_class"]) == set(COLOURS)
    empty = json.loads((out / "quality.json").read_text()).get("empty_classes", {})
    for name, t in report["per_class"].items():
        # a class the filter emptied has no folder (a platform would ingest it as an empty
        # class); quality.json says why
        assert (out / "Data" / name).is_dir() == (t["kept"] > 0) and (name in empty) == (
            t["kept"] == 0)
        files = os.listdir(out / "Data" / name) if t["kept"] else []
        assert t["asked"] == 6 and len(files) == t["kept"] <= 6 and t["kept"] <= t["tried"] <= 12
        if 0 < t["kept"] < 6:
            assert t["tried"] == 12 and f"{name} ({t['kept']} of 6, 12 tried)" in r.stderr
        elif t["kept"] == 0:                 # the empty-class line says why
            assert f"{name}: 12 tried" in r.stderr
    with open(out / "output_0.manifest", encoding="utf-8") as f:
        assert len(f.readlines()) == sum(t["kept"] for t in report["per_class"].values())
    assert "generate.filter=classifier kept" in r.stderr


def _filter_report_matches_data(out):
    """quality.json's class_filter (returned) agrees with the images and manifest written."""
    report = json.loads((out / "quality.json").read_text())["class_filter"]
    assert report["tries"] == 2 and set(report["per_class"]) == set(COLOURS)
    for name, t in report["per_class"].items():
        folder = out / "Data" / name
        written = len(os.listdir(folder)) if folder.exists() else 0
        assert t["asked"] == 6 and written == t["kept"] <= t["tried"]
    with open(out / "output_0.manifest", encoding="utf-8") as f:
        assert len(f.readlines()) == sum(t["kept"] for t in report["per_class"].values())
    return report


def test_a_model_alone_is_filtered_by_the_reals_it_is_given(tmp_path):
    """Predict mode (reals in data.path) and ``msgan generate --reals`` filter like a training
    run; predict mode without a reals folder says its images are unfiltered; a reals folder
    whose classes are not the model's is refused in one line. Predict mode with
    generate.balance takes the class sizes from data.path, and refuses a data.path that is not a
    folder in one line."""
    data = write_folder(tmp_path / "data", COLOURS, 12, seed=1)
    r = tiny_class_run(data, tmp_path / "run", "generate.generate_num=0")
    assert r.returncode == 0, r.stderr[-3000:]
    snap = sorted((tmp_path / "run" / "checkpoints").iterdir())[-1]
    predict = ["generate.predict=true", f"generate.resume={snap}", "generate.generate_num=6",
               "generate.filter_tries=2"]

    r = tiny_class_run(data, tmp_path / "pred", *predict, "generate.filter_confidence=0.5")
    assert r.returncode == 0, r.stderr[-3000:]
    assert "generate.filter=classifier kept" in r.stderr
    assert _filter_report_matches_data(tmp_path / "pred")["min_confidence"] == 0.5

    generate = ["generate", "--model", snap, "--num", "6"]
    r = run_msgan(*generate, "--out", tmp_path / "gen", "--reals", data, "--filter-tries", "2",
                  "--filter-confidence", "0.6")
    assert r.returncode == 0, r.stderr[-3000:]
    assert _filter_report_matches_data(tmp_path / "gen")["min_confidence"] == 0.6

    r = tiny_class_run(tmp_path / "no such folder", tmp_path / "pred2", *predict)
    assert r.returncode == 0, r.stderr[-3000:]
    assert "WARNING: images not filtered" in r.stderr
    assert not (tmp_path / "pred2" / "quality.json").exists()
    assert len(list((tmp_path / "pred2" / "Data").rglob("*.png"))) == 18

    two = write_folder(tmp_path / "two", {k: COLOURS[k] for k in ("red", "green")}, 4, seed=2)
    r = run_msgan(*generate, "--out", tmp_path / "gen2", "--reals", two)
    assert_clean_error(r, "does not hold the model's classes (missing: blue")
    assert not (tmp_path / "gen2" / "Data").exists()

    # generate.balance for the model alone: class sizes from data.path, here red 12, green 12,
    # blue 5 -> only blue gets images, 7 of them; unfiltered, so the counts are exact
    for f in sorted((tmp_path / "data" / "blue").iterdir())[5:]:
        f.unlink()
    r = tiny_class_run(data, tmp_path / "bal", "generate.predict=true",
                       f"generate.resume={snap}", "generate.balance=true",
                       "generate.filter=none")
    assert r.returncode == 0, r.stderr[-3000:]
    line = next(x for x in r.stderr.splitlines() if "images per class: " in x)
    assert all(part in line for part in ("blue 7", "green 0", "red 0")), line
    assert sorted(p.name for p in (tmp_path / "bal" / "Data").iterdir()
                  if p.is_dir()) == ["blue"]
    assert len(os.listdir(tmp_path / "bal" / "Data" / "blue")) == 7
    r = tiny_class_run(tmp_path / "no such folder", tmp_path / "bal2", "generate.predict=true",
                       f"generate.resume={snap}", "generate.balance=true")
    assert_clean_error(r, "generate.balance=true counts the images of each class in data.path")
    assert not (tmp_path / "bal2" / "Data").exists()


# -- classes G collapsed on ---------------------------------------------------------------------

def test_diversity_ratio_is_one_for_the_reals_and_zero_for_one_look():
    """The ratio of mean pairwise distances: the reals against themselves (any subset size, the
    mean over pairs does not depend on it) sit near 1, one image repeated is 0, and a side with
    fewer than two images, or reals all alike, cannot be judged."""
    from msgan.metrics.diversity import ratio_to, spread

    def diversity_ratio(real, generated):
        return ratio_to(spread(real), generated)

    rng = np.random.default_rng(0)
    reals = rng.integers(0, 256, (60, 3, 16, 16), dtype=np.uint8)
    assert diversity_ratio(reals, reals) == pytest.approx(1.0)
    assert 0.85 < diversity_ratio(reals, reals[:12]) < 1.15
    assert diversity_ratio(reals, np.repeat(reals[:1], 20, axis=0)) == pytest.approx(0.0)
    half = reals // 2 + 64                      # the same looks at half the contrast
    assert diversity_ratio(reals, half) == pytest.approx(0.5, abs=0.02)
    assert diversity_ratio(reals, reals[:1]) is None
    assert diversity_ratio(np.repeat(reals[:1], 5, axis=0), reals) is None


def test_class_filter_confidence_refuses_images_between_classes():
    """With min_confidence the filter also refuses an image whose class is the classifier's
    first choice by a small margin (softmax of ByColour's channel means: red 100 vs green 99 is
    p(red) 0.73); a clearly red image passes, and without it both pass."""
    from msgan.metrics.class_filter import ClassFilter

    red, green = _red_green(6)
    reals, labels = np.concatenate([red, green]), np.repeat([0, 1], 6)
    clear = np.zeros((1, 3, 8, 8), np.uint8)
    clear[:, 0] = 200
    between = np.zeros((1, 3, 8, 8), np.uint8)
    between[:, 0], between[:, 1] = 100, 99
    images = np.concatenate([clear, between])
    assert ClassFilter(ByColour(), reals, labels, ["red", "green"]).accept(images, 0).tolist() \
        == [True, True]
    sure = ClassFilter(ByColour(), reals, labels, ["red", "green"], min_confidence=0.9)
    assert sure.accept(images, 0).tolist() == [True, False]
    assert sure.accept(images, 1).tolist() == [False, False]


def test_class_filter_withholds_a_class_whose_images_are_one_look(tmp_path, caplog):
    """ClassFilter.keep_class with min_diversity 0.5: a class's own reals pass, the same image
    repeated does not (it is what a collapsed G makes); the report names the class with its
    ratio in a WARNING and in quality.json. With the default (0) the class is written and the
    report still warns."""
    from msgan.metrics.class_filter import ClassFilter

    red, green = _red_green(8)
    reals, labels = np.concatenate([red, green]), np.repeat([0, 1], 8)
    keep = ClassFilter(ByColour(), reals, labels, ["red", "green"], min_diversity=0.5)
    assert keep.keep_class(red, 0)
    assert not keep.keep_class(np.repeat(red[:1], 8, axis=0), 0)
    assert keep.diversity["red"] == pytest.approx(0.0)
    assert keep.keep_class(green, 1)
    tally = {"red": {"asked": 8, "kept": 0, "tried": 8, "dropped": 8},
             "green": {"asked": 8, "kept": 8, "tried": 8}}
    with caplog.at_level("INFO", logger="msgan"):
        keep.report(tally, str(tmp_path), 1)
    assert "no images written for red (0.00x, 8 images, 8 reals)" in caplog.text
    assert "fewer images than asked" not in caplog.text          # said once, as the drop
    report = json.loads((tmp_path / "quality.json").read_text())["class_filter"]
    assert report["not_written"] == ["red"] and report["min_diversity"] == 0.5
    assert report["diversity_ratio"]["red"] == 0.0 and report["diversity_ratio"]["green"] > 0.5
    assert report["collapsed"] == []                      # withheld, so not warned twice

    caplog.clear()
    default = ClassFilter(ByColour(), reals, labels, ["red", "green"])
    assert default.keep_class(np.repeat(red[:1], 8, axis=0), 0) and default.keep_class(green, 1)
    with caplog.at_level("INFO", logger="msgan"):
        default.report({c: {"asked": 8, "kept": 8, "tried": 8} for c in ("red", "green")},
                       str(tmp_path), 1)
    assert "the images of red (0.00x, 8 reals) are mostly one look" in caplog.text
    assert "no images written" not in caplog.text
    report = json.loads((tmp_path / "quality.json").read_text())["class_filter"]
    assert report["collapsed"] == ["red"] and report["not_written"] == []
