"""Why a class got no generated images: one WARNING line in the log, ``empty_classes`` in
quality.json (next to the manifest) and a line in report.html.

Data/ holds no folder for such a class: a labelling platform that ingests Data/ takes each folder
for a class and each file in it for an image, so an empty folder shows up as an empty class and a
note file in it as a broken image. The manifest lists only images; the reason lives beside it.
"""
from __future__ import annotations

import logging
import os

from msgan.io import update_json

log = logging.getLogger("msgan")

QUALITY_KEY = "empty_classes"
FILTERED_OUT = ("a classifier of your reals saw another class in each — train longer or add "
                "real images (generate.filter=none writes them unfiltered)")


def reasons(classes, counts: dict | None = None, tally: dict | None = None,
            real_counts: dict | None = None, min_class_images: int = 0) -> dict:
    """{class: {"reason": code, "why": sentence}} for every class of ``classes`` that got no image.

    ``counts``: images asked per class (None: every class was asked for some); ``tally``: what
    generate.filter kept ({class: {asked, kept, tried[, dropped]}}); ``real_counts``: reals per
    class, for the classes skipped by generate.min_class_images and for balancing."""
    tally, real_counts = tally or {}, real_counts or {}
    out = {}
    for c in classes:
        t, n_real = tally.get(c), real_counts.get(c)
        if n_real is not None and n_real < min_class_images:
            out[c] = {"reason": "too_few_reals",
                      "why": f"{n_real} real images, fewer than generate.min_class_images="
                             f"{min_class_images} to learn the class from — add images, or set "
                             "generate.min_class_images=0 to generate it anyway"}
        elif counts is not None and int(counts.get(c, 0)) == 0:
            out[c] = {"reason": "none_asked",
                      "why": "none asked: generate.balance gives images only to classes smaller "
                             "than the largest" + (f" (it has {n_real} reals)" if n_real else "")
                             + " — generate.balance=false gives every class generate_num"}
        elif t and t.get("dropped"):
            out[c] = {"reason": "collapsed",
                      "why": f"its {t['dropped']} images were withheld: they vary less than "
                             "generate.min_diversity times its reals (the generator makes one "
                             "look for it) — add real images or train longer "
                             "(generate.min_diversity=0 writes them)"}
        elif t and t.get("asked", 0) > 0 and t.get("kept", 0) == 0:
            out[c] = {"reason": "filtered_out", "tried": int(t.get("tried", 0)),
                      "why": f"generate.filter kept none of the {t.get('tried', 0)} images made "
                             f"for it: {FILTERED_OUT}"}
    return out


def record(out_dir: str, empty: dict) -> None:
    """quality.json's ``empty_classes`` and, for a class the filter emptied, a WARNING line;
    the other reasons have their own line already (generate.min_class_images, the balance line,
    the filter's collapsed-class warning)."""
    filtered = {c: r for c, r in empty.items() if r["reason"] == "filtered_out"}
    if filtered:
        log.warning("WARNING: no images in %s for %s: generate.filter kept none of the images "
                    "made for %s (%s): %s", os.path.join(out_dir, "Data"), ", ".join(filtered),
                    "it" if len(filtered) == 1 else "them",
                    ", ".join(f"{c}: {r['tried']} tried" for c, r in filtered.items()),
                    FILTERED_OUT)
    path = os.path.join(out_dir, "quality.json")
    if empty or os.path.exists(path):     # no quality.json only to say that nothing is missing
        update_json(path, QUALITY_KEY, empty)
