"""Does adding generated images to the real training set help a classifier on held-out reals?

The real class folders are split once (stratified, fixed seed) into train and held-out parts.
The same small CNN is trained from scratch on (a) the real train part and (b) the real train
part plus the generated images of the same classes, once per seed, with the same number of
optimizer steps, so (b) does not win merely by training longer; the learning rate decays to 0
over those steps, so a short budget still ends in a converged classifier (at a fixed rate, 200
steps left a classifier of the imbalanced digits at 0.52-0.59 balanced accuracy, whose verdict
said more about its training than about the images). Held-out accuracy and balanced
accuracy (mean of per-class recalls) are reported as mean ± std over seeds. A negative or null
result is reported as plainly as a positive one.

On an imbalanced folder a classifier that sees its small classes as often as its large ones is
the usual fix, and it needs no generated images: repeating each class's reals up to the largest
class's count gained 3.2-5.2 points of balanced accuracy on the three benchmark sets, more than
msgan's images added to the reals as they are (benchmarks/RESULTS.md, "Against repeating the
reals"). With ``rebalance`` two more arms answer the question such a user has: the reals so
repeated, without and with the generated images (which added 1.1-3.0 points there on two sets
and nothing measurable on the third).
"""
from __future__ import annotations

import hashlib
import json
import os
from typing import Optional, Sequence

import numpy as np

from msgan.data.validate import is_imbalanced
from msgan.errors import MsganError
from msgan.metrics import classifier as clf
from msgan.metrics.features import FolderImages, generated_root, load_folder

VERDICT_RULE = ("d = balanced accuracy with generated images minus without, per seed; "
                "spread = max(std of d, 1 / number of held-out images), and with fewer than 3 "
                "seeds also the std of each arm; 'generated images helped' if mean d > spread, "
                "'generated images hurt' if mean d < -spread, otherwise 'no measurable "
                "benefit'")
# Both arms of a seed are judged on the same held-out reals, so d's own spread is the noise
# of the comparison; each arm's seed-to-seed spread (3.3 points where d's was 0.8, RESULTS.md
# "The check on reals the GAN never saw") only stands in for it where two differences are too
# few to estimate it (the end-of-run check's 2 seeds).
MIN_PAIRED_SEEDS = 3


def stratified_split(labels: np.ndarray, num_classes: int, holdout: float, seed: int):
    """(train indices, held-out indices): each class keeps >= 1 image on each side."""
    rng = np.random.default_rng(seed)
    train, held = [], []
    for c in range(num_classes):
        idx = np.flatnonzero(labels == c)
        idx = idx[rng.permutation(len(idx))]
        n_held = min(max(1, int(round(holdout * len(idx)))), len(idx) - 1)
        held.append(idx[:n_held])
        train.append(idx[n_held:])
    return np.sort(np.concatenate(train)), np.sort(np.concatenate(held))


def _summary(values) -> dict:
    v = np.asarray(values, dtype=np.float64)
    return {"mean": float(v.mean()), "std": float(v.std(ddof=1)) if len(v) > 1 else 0.0,
            "per_seed": [float(x) for x in v]}


def _arm_summary(runs: list, classes: Sequence[str]) -> dict:
    per_class = np.array([r["per_class"] for r in runs])
    return {"accuracy": _summary([r["accuracy"] for r in runs]),
            "balanced_accuracy": _summary([r["balanced_accuracy"] for r in runs]),
            "per_class_accuracy": {c: _summary(per_class[:, i]) for i, c in enumerate(classes)}}


def verdict(with_gen: Sequence[float], without: Sequence[float], n_heldout: int) -> tuple:
    """(verdict string, mean difference, spread) following VERDICT_RULE."""
    d = _summary(np.asarray(with_gen) - np.asarray(without))
    spread = max(d["std"], 1.0 / n_heldout)
    if len(d["per_seed"]) < MIN_PAIRED_SEEDS:
        spread = max(spread, _summary(with_gen)["std"], _summary(without)["std"])
    if d["mean"] > spread:
        return "generated images helped", d, spread
    if d["mean"] < -spread:
        return "generated images hurt", d, spread
    return "no measurable benefit", d, spread


def _load(real_dir, generated_dir, resolution, channels, progress=False):
    real = load_folder(real_dir, resolution, channels, "real", progress=progress)
    if len(real.classes) < 2:
        raise MsganError(f"the augmentation-benefit report trains a classifier, but {real.root} "
                         "has no class folders (or only one) — lay the real data out as "
                         "folder/<class>/*.png with 2+ classes")
    gen = load_folder(generated_root(generated_dir), resolution, channels, "generated",
                      progress=progress)
    if not gen.conditional:
        raise MsganError(f"generated folder {gen.root} has no class folders — generate per class "
                         "(folder/<class>/*.png, named like the real classes)")
    common = [c for c in gen.classes if c in real.classes]
    if not common:
        raise MsganError(f"no class folder names are shared by {real.root} "
                         f"({', '.join(real.classes)}) and {gen.root} ({', '.join(gen.classes)}) "
                         "— name the generated class folders like the real ones")
    keep = np.isin(gen.labels, [gen.classes.index(c) for c in common])
    # Generated labels re-indexed into the real folder's class order.
    labels = np.array([real.classes.index(gen.classes[l]) for l in gen.labels[keep]], np.int32)
    ignored = [c for c in gen.classes if c not in real.classes]
    return real, FolderImages(gen.root, gen.images[keep], labels, real.classes), ignored


def load_heldout(path: str, classes: Sequence[str], train_images: np.ndarray, resolution: int,
                 channels: int, progress: bool = False, resize: str = "crop") -> FolderImages:
    """Reals the GAN never saw, labelled in ``classes``' order; images of other classes are
    left out, a class of ``classes`` with no image is an error, and so is an image that is
    also one of ``train_images`` (``check_unseen``)."""
    held = load_folder(path, resolution, channels, "held-out", progress=progress, resize=resize)
    if not held.conditional:
        raise MsganError(f"held-out folder {held.root} has no class folders — lay it out like "
                         "the training folder (folder/<class>/*.png)")
    missing = [c for c in classes if c not in held.classes]
    if missing:
        raise MsganError(f"held-out folder {held.root} has no images of class "
                         f"{', '.join(repr(c) for c in missing)} — give every class of the "
                         "training folder some reals the GAN never saw")
    keep = np.isin(held.labels, [held.classes.index(c) for c in classes])
    labels = np.array([list(classes).index(held.classes[l]) for l in held.labels[keep]],
                      np.int32)
    held = FolderImages(held.root, held.images[keep], labels, tuple(classes))
    check_unseen(train_images, held)
    return held


def check_unseen(train_images: np.ndarray, held: FolderImages) -> None:
    """Refuse held-out reals that are also training images (pixel-identical at this size):
    the classifier would be judged on what it, and the GAN, trained on."""
    seen = {hashlib.blake2b(x.tobytes(), digest_size=16).digest() for x in train_images}
    shared = sum(hashlib.blake2b(x.tobytes(), digest_size=16).digest() in seen
                 for x in held.images)
    if shared:
        raise MsganError(f"{shared} of the {len(held.images)} images in the held-out folder "
                         f"{held.root} are also in the training folder — the check needs reals "
                         "the GAN never saw; remove them from one of the two folders")


def repeat_to_largest(labels: np.ndarray, num_classes: int) -> np.ndarray:
    """Indices that repeat each class's images (whole copies in order, then the first few
    again) up to the largest class's count: the plain oversampling of an imbalanced set."""
    labels = np.asarray(labels).reshape(-1)
    target = int(np.bincount(labels, minlength=num_classes).max())
    return np.concatenate([np.resize(np.flatnonzero(labels == c), target)
                           for c in range(num_classes) if (labels == c).any()])


def _evaluate(model, images, labels, num_classes) -> dict:
    pred = clf.predict(model, images)
    bal, per_class = clf.balanced_accuracy(labels, pred, num_classes)
    return {"accuracy": float((pred == labels).mean()), "balanced_accuracy": bal,
            "per_class": per_class}


def augmentation_benefit(real_dir: str, generated_dir: str, out_dir: str,
                         seeds: Sequence[int] = (0, 1, 2), holdout: float = 0.3,
                         epochs: int = 30, resolution: int = 32, channels: int = 3,
                         batch_size: int = 32, width: int = 32, split_seed: int = 0,
                         mirror: bool = True, progress: bool = False,
                         heldout_dir: Optional[str] = None) -> dict:
    """Run the comparison on two folders; write ``out_dir/report/augmentation.{json,png}``.
    ``heldout_dir``: judge on these reals (the GAN never saw them) and train on all of
    ``real_dir``, instead of splitting ``real_dir``."""
    real, gen, ignored = _load(real_dir, generated_dir, resolution, channels, progress)
    held = None
    if heldout_dir:
        held = load_heldout(heldout_dir, real.classes, real.images, resolution, channels,
                            progress)
    report = benefit(real.images, real.labels, gen.images, gen.labels, real.classes, seeds=seeds,
                     holdout=holdout, epochs=epochs, batch_size=batch_size, width=width,
                     split_seed=split_seed, mirror=mirror, progress=progress,
                     heldout=None if held is None else (held.images, held.labels))
    if held is not None:
        report["heldout_dir"] = held.root
    report.update(generated_classes_ignored=ignored, real_dir=real.root, generated_dir=gen.root)
    report_dir = os.path.join(out_dir, "report")
    os.makedirs(report_dir, exist_ok=True)
    json_path = os.path.join(report_dir, "augmentation.json")
    with open(json_path + ".tmp", "w", encoding="utf-8") as f:
        json.dump(report, f, indent=2)
    os.replace(json_path + ".tmp", json_path)
    plot_report(report, os.path.join(report_dir, "augmentation.png"))
    return report


def benefit(real_images: np.ndarray, real_labels: np.ndarray, gen_images: np.ndarray,
            gen_labels: np.ndarray, classes: Sequence[str], seeds: Sequence[int] = (0, 1, 2),
            holdout: float = 0.3, epochs: int = 30, batch_size: int = 32, width: int = 32,
            split_seed: int = 0, max_steps: Optional[int] = None, mirror: bool = True,
            progress: bool = False, rebalance: Optional[bool] = None,
            heldout: Optional[tuple] = None) -> dict:
    """The comparison on uint8 (N, C, R, R) arrays whose labels index ``classes``.

    Besides the two arms it reports how often the real-only classifier recognises the generated
    images as their class (``generated_recognised``), next to its accuracy on held-out reals:
    images that do not look like their class show up there even when they do not hurt yet.
    ``max_steps`` caps the optimizer steps per classifier (the end-of-run check's time bound).
    ``mirror``: flip training images at random (off where a flip changes the class).
    ``rebalance``: also the arms with each class's reals repeated to the largest's count;
    None (the end-of-run check, ``msgan evaluate``) does so when the reals are imbalanced.
    ``heldout``: (images, labels) of reals the GAN never saw: the classifiers train on all of
    ``real_images`` and are judged on these (no split; ``holdout`` is unused).
    """
    if not 0.0 < holdout < 1.0:
        raise MsganError(f"holdout is {holdout} — use a fraction between 0 and 1, e.g. 0.3")
    if not seeds:
        raise MsganError("seeds is empty — pass at least one seed, e.g. 0 1 2")
    if epochs < 1:
        raise MsganError(f"epochs is {epochs} — use 1 or more")
    k = len(classes)
    counts = np.bincount(real_labels, minlength=k)
    if counts.min() < (1 if heldout is not None else 2):
        small = classes[int(counts.argmin())]
        raise MsganError(f"class {small!r} has {counts.min()} real image(s) — each class needs at "
                         "least 2 (one to train on, one to hold out)")
    if rebalance is None:
        rebalance = is_imbalanced(counts)
    if heldout is not None:
        (x_train, y_train), (x_held, y_held) = (real_images, real_labels), heldout
        split = {"heldout_unseen": True}
    else:
        train_idx, held_idx = stratified_split(real_labels, k, holdout, split_seed)
        x_train, y_train = real_images[train_idx], real_labels[train_idx]
        x_held, y_held = real_images[held_idx], real_labels[held_idx]
        split = {"split_seed": split_seed, "holdout": holdout, "heldout_unseen": False}
    report = compare(x_train, y_train, x_held, y_held, gen_images, gen_labels, classes,
                     seeds=seeds, epochs=epochs, batch_size=batch_size, width=width,
                     max_steps=max_steps, mirror=mirror, progress=progress, rebalance=rebalance)
    report.update(split)
    return report


def compare(x_real: np.ndarray, y_real: np.ndarray, x_held: np.ndarray, y_held: np.ndarray,
            gen_images: np.ndarray, gen_labels: np.ndarray, classes: Sequence[str],
            seeds: Sequence[int] = (0, 1, 2), epochs: int = 30, batch_size: int = 32,
            width: int = 32, max_steps: Optional[int] = None, mirror: bool = True,
            progress: bool = False, real_only_cache: Optional[dict] = None,
            rebalance: bool = False) -> dict:
    """Both arms on a split already made: train on ``x_real`` (+ the generated images), judge on
    ``x_held``. ``rebalance`` adds the arms ``real_rebalanced`` (each class's reals repeated up
    to the largest class's count) and ``rebalanced_plus_generated`` (those and the generated
    images), with the same budget. ``real_only_cache`` ((arm, seed) -> that real-only arm's
    classifier, filled here) lets a caller that judges several generated sets against one split
    train the arms without generated images once per seed; the caller keeps one dict per split
    and settings."""
    k = len(classes)
    b = min(batch_size, len(x_real))
    steps = epochs * -(-len(x_real) // b)   # same budget for every arm
    if max_steps is not None:
        steps = min(steps, max_steps)
    arm_data = {"real_only": (x_real, y_real),
                "real_plus_generated": (np.concatenate([x_real, gen_images]),
                                        np.concatenate([y_real, gen_labels]))}
    if rebalance:
        rep = repeat_to_largest(y_real, k)
        arm_data["real_rebalanced"] = (x_real[rep], y_real[rep])
        arm_data["rebalanced_plus_generated"] = (np.concatenate([x_real[rep], gen_images]),
                                                 np.concatenate([y_real[rep], gen_labels]))
    reals_only = ("real_only", "real_rebalanced")

    runs = {arm: [] for arm in arm_data}
    recognised = []
    # one bar with one ETA for every classifier this comparison trains
    todo = sum(1 for seed in seeds for arm in arm_data
               if not (real_only_cache is not None and arm in reals_only
                       and (arm, seed) in real_only_cache))
    from msgan.progress import bar as progress_bar
    with progress_bar(todo * steps, f"benefit check: {todo} classifiers", "step",
                      enabled=progress, warmup=True) as bar:
        for seed in seeds:
            for arm, (x, y) in arm_data.items():
                cached = real_only_cache is not None and arm in reals_only
                if cached and (arm, seed) in real_only_cache:
                    model = real_only_cache[arm, seed]
                else:
                    model = clf.train_classifier(x, y, k, seed=seed, batch_size=b, steps=steps,
                                                 width=width, mirror=mirror, decay=True,
                                                 bar=bar if progress else None)
                    if cached:
                        real_only_cache[arm, seed] = model
                runs[arm].append(_evaluate(model, x_held, y_held, k))
                if arm == "real_only" and len(gen_images):
                    recognised.append(_evaluate(model, gen_images, gen_labels, k))

    arms = {arm: _arm_summary(r, classes) for arm, r in runs.items()}
    text, diff, spread = verdict(arms["real_plus_generated"]["balanced_accuracy"]["per_seed"],
                                 arms["real_only"]["balanced_accuracy"]["per_seed"], len(y_held))

    def per(labels):
        return {c: int(n) for c, n in zip(classes, np.bincount(labels, minlength=k))}

    per_class_gain = {c: arms["real_plus_generated"]["per_class_accuracy"][c]["mean"]
                      - arms["real_only"]["per_class_accuracy"][c]["mean"] for c in classes}
    rebalanced = {}
    if rebalance:
        r_text, r_diff, r_spread = verdict(
            arms["rebalanced_plus_generated"]["balanced_accuracy"]["per_seed"],
            arms["real_rebalanced"]["balanced_accuracy"]["per_seed"], len(y_held))
        rebalanced = {"rebalanced_verdict": r_text,
                      "rebalanced_difference": {**r_diff, "spread": r_spread},
                      "n_train_rebalanced": int(len(arm_data["real_rebalanced"][1]))}
    return {
        "verdict": text,
        "verdict_rule": VERDICT_RULE,
        "balanced_accuracy_difference": {**diff, "spread": spread},
        "per_class_gain": per_class_gain,
        **{arm: arms[arm] for arm in arm_data},
        **rebalanced,
        "generated_recognised": _arm_summary(recognised, classes) if recognised else None,
        "classes": list(classes),
        "n_train_real": per(y_real), "n_heldout": per(y_held), "n_generated": per(gen_labels),
        "seeds": [int(s) for s in seeds],
        "epochs": epochs, "steps": steps, "mirror": mirror, "batch_size": b,
        "resolution": int(x_real.shape[2]),
        "channels": int(x_real.shape[1]), "width": width,
        "note": ("held-out images are real images never trained on; every arm trains the same "
                 "small CNN from scratch for the same number of steps; accuracies from this "
                 "small classifier are comparable only within this dataset and split"),
    }


REBALANCED_BASELINE = ("against each class's reals repeated up to the largest class's count "
                       "(the fair baseline for an imbalanced folder)")


def headline(report: dict) -> tuple:
    """(verdict, difference, arm without, arm with) of the comparison a user reads first.

    For an imbalanced folder that is the one against the reals repeated up to the largest
    class's count: a classifier that samples the reals as they are neglects the small classes,
    so any images that add to them win against it (+30.8 points on the imbalanced digits, where
    against repeated reals they lost 0.8; issue 35). Otherwise the reals as they are."""
    if report.get("rebalanced_verdict"):
        return (report["rebalanced_verdict"], report["rebalanced_difference"],
                "real_rebalanced", "rebalanced_plus_generated")
    return (report["verdict"], report["balanced_accuracy_difference"], "real_only",
            "real_plus_generated")


def _change(report: dict, without: str, with_gen: str, d: dict) -> str:
    return (f"{report[without]['balanced_accuracy']['mean']:.3f} → "
            f"{report[with_gen]['balanced_accuracy']['mean']:.3f} "
            f"({100 * d['mean']:+.1f} points, spread {100 * d['spread']:.1f})")


def verdict_line(report: dict) -> str:
    """One sentence for the log: the headline verdict (``headline``) with the balanced-accuracy
    change in points, then, for an imbalanced folder, the comparison with the reals as they
    are."""
    text, d, without, with_gen = headline(report)
    judged = (f"{sum(report['n_heldout'].values())} reals the GAN never saw"
              if report.get("heldout_unseen") else "held-out reals")
    fair = report.get("rebalanced_verdict")
    line = (f"{text}{' ' + REBALANCED_BASELINE if fair else ''}: balanced accuracy of a "
            f"classifier on {judged} {_change(report, without, with_gen, d)}")
    rec = report.get("generated_recognised")
    if rec:
        line += (f"; generated images recognised as their class "
                 f"{rec['accuracy']['mean']:.0%} (held-out reals "
                 f"{report['real_only']['accuracy']['mean']:.0%})")
    if fair:
        plain = _change(report, "real_only", "real_plus_generated",
                        report["balanced_accuracy_difference"])
        line += (f"; secondary, against the reals as they are (sampled uniformly, which neglects "
                 f"the small classes): {report['verdict']}, {plain}")
    return line


def warning_for(report: dict, data_dir: str):
    """The WARNING a run logs instead of ``verdict_line``, or None when the images did not lose
    the headline comparison (``headline``).

    "No measurable benefit" with a mean loss of a point or more still warns: with few reals held
    out the spread is wide, and a set that a larger evaluation found 3.4 points worse
    (benchmarks/RESULTS.md, crops6-tiles) came out here as -4.7 points, spread 5.9.
    """
    line = verdict_line(report)
    # Reals split from the GAN's own training folder were trained on: say how to judge surer.
    surer = ("" if report.get("heldout_unseen") else
             " (these held-out reals were split from the GAN's training images; set "
             "metrics.benefit_heldout to a folder of reals it never saw for a surer check)")
    text, d, _, _ = headline(report)
    fair = bool(report.get("rebalanced_verdict"))
    than = (" than repeating your small classes' reals (the usual fix for an imbalanced folder)"
            if fair else "")
    if text == "generated images hurt":
        return (f"WARNING: {line}. The images in {data_dir} make a classifier of your classes "
                f"WORSE{than} — do not add them to your training set as they are; train longer, "
                f"add real images, or keep model.augment on (see docs/small-data.md){surer}")
    if d["mean"] <= -0.01:
        why = ("the loss is within the comparison's spread" if report.get("heldout_unseen")
               else "too few reals held out to be sure")
        return (f"WARNING: {line}. The images in {data_dir} did not help{than} and may make a "
                f"classifier of your classes worse ({why}) — test them on your own task "
                f"before you rely on them{surer}")
    if fair and report["verdict"] == "generated images hurt":
        return (f"WARNING: {line}. The images in {data_dir} did not lose against repeated reals "
                "but hurt a classifier that samples your reals as they are — test them on your "
                f"own task before you rely on them{surer}")
    return None


def plot_report(report: dict, path: str) -> None:
    """Bars of held-out accuracy (overall and per class), mean ± std over seeds, for both arms."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure
    arms = (("real_only", "real only", "#7f7f7f"),
            ("real_plus_generated", "real + generated", "#1f77b4"))
    groups = ["accuracy", "balanced accuracy"] + report["classes"]
    fig = Figure(figsize=(max(6.0, 1.0 + 0.9 * len(groups)), 4.0))
    FigureCanvasAgg(fig)
    ax = fig.add_subplot(1, 1, 1)
    x = np.arange(len(groups))
    for i, (key, label, colour) in enumerate(arms):
        a = report[key]
        stats = [a["accuracy"], a["balanced_accuracy"]] + [a["per_class_accuracy"][c]
                                                          for c in report["classes"]]
        means = [s["mean"] for s in stats]
        stds = [s["std"] for s in stats]
        ax.bar(x + (i - 0.5) * 0.38, means, 0.38, yerr=stds, capsize=3, label=label, color=colour)
    ax.axvline(1.5, color="black", linewidth=0.6)
    ax.set_xticks(x)
    ax.set_xticklabels(groups, rotation=30, ha="right")
    ax.set_ylim(0, 1.25)   # headroom so the legend never covers bars near 1
    ax.set_yticks(np.linspace(0, 1, 6))
    ax.set_ylabel("held-out accuracy")
    ax.set_title(f"{report['verdict']} (mean ± std over {len(report['seeds'])} seeds)"
                 + (f"; against repeated reals: {report['rebalanced_verdict']}"
                    if report.get("rebalanced_verdict") else ""), fontsize=9)
    ax.legend(loc="upper right", ncol=2)
    fig.tight_layout()
    fig.savefig(path, dpi=100)
