"""``report.html``: one self-contained page per run folder, to open in a browser.

It only reads what the run wrote (config.yaml, validation.json, stats.jsonl, samples/,
model/*.json, Data/, quality.json) plus a few real images per class from the input folder
named in validation.json. Images are embedded as base64 PNGs and the page has no script,
stylesheet or font from elsewhere, so it can be mailed or archived as one file. A section whose
files are missing or unreadable says so instead of failing the run that writes it.
"""
from __future__ import annotations

import base64
import glob
import html
from io import BytesIO
import json
import logging
import os
import re

import numpy as np
import yaml
from PIL import Image

from msgan.io import read_stats, write_text
from msgan.models import MODELS

log = logging.getLogger("msgan")

REPORT_FILE = "report.html"
PER_CLASS = 8                  # images shown per class and side
THUMB = 96                     # small images are upscaled (nearest neighbour) to at least this
MAX_LISTED = 100               # validation problems / skipped entries listed
IMAGE_EXT = (".png", ".jpg", ".jpeg")

STYLE = """
body{font-family:sans-serif;margin:1.5em;color:#222;max-width:1200px}
table{border-collapse:collapse;margin:.5em 0}
td,th{border:1px solid #ccc;padding:3px 8px;text-align:left;vertical-align:middle}
th{background:#f2f2f2}
img.px{image-rendering:pixelated;max-width:100%;height:auto}
.side{color:#555;font-size:85%;margin:2px 0}
.bad{color:#b00020;font-weight:bold}.good{color:#1b5e20;font-weight:bold}
.note{color:#555}
"""


def write_report(out_dir: str) -> str:
    """Write ``out_dir/report.html`` from the run folder's files; returns its path."""
    out_dir = os.path.abspath(out_dir)
    cfg = _read_yaml(os.path.join(out_dir, "config.yaml"))
    parts = [f"<h1>msgan run report</h1>\n<p>{_e(out_dir)}</p>"]
    for title, section in (("Run", _run_section), ("Generated and real images, per class",
                                                   _classes_section),
                           ("Samples during training", _samples_section),
                           ("Training curves", _curves_section),
                           ("Does the generated data help?", _quality_section),
                           ("Exports and their parity checks", _exports_section),
                           ("Input validation", _validation_section)):
        try:
            body = section(out_dir, cfg)
        except (OSError, ValueError, KeyError, TypeError, IndexError) as e:
            # a damaged file costs its section, not the report (nor the run that writes it)
            body = f'<p class="bad">could not read this part of the run: {_e(e)}</p>'
            log.warning("report.html: section %r left out (%s)", title, e)
        parts.append(f"<h2>{_e(title)}</h2>\n{body}")
    page = ("<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n"
            f"<title>msgan report: {_e(os.path.basename(out_dir))}</title>\n"
            f"<style>{STYLE}</style>\n</head>\n<body>\n" + "\n".join(parts)
            + "\n</body>\n</html>\n")
    path = os.path.join(out_dir, REPORT_FILE)
    write_text(path, page)
    return path


# ----------------------------------------------------------------------------------------------
# Sections

def _run_section(out: str, cfg: dict) -> str:
    model, data = cfg.get("model") or {}, cfg.get("data") or {}
    rows = [("model", model.get("name")), ("input", data.get("path")),
            ("resolution", f"{data.get('resolution')} px, "
                           f"{'greyscale' if data.get('channels') == 1 else 'RGB'}"),
            ("trained", f"{(cfg.get('train') or {}).get('total_kimg')} kimg")]
    started = _started_from(out)
    if started:
        rows.append(("Started from", started))
    final = _read_json(os.path.join(out, "model", "G_ema.json"))
    if final.get("kimg") is not None:
        which = (cfg.get("generate") or {}).get("use_snapshot", "best")
        rows.append(("images in Data/ from", f"G_ema at {final['kimg']:.3f} kimg "
                     f"(generate.use_snapshot={which})"))
    return _table(["", ""], rows, header=False)


def _started_from(out: str) -> str:
    """train.init_from as the run's first stats.jsonl row recorded it (empty when not set)."""
    rows = read_stats(os.path.join(out, "stats.jsonl"))
    info = rows[0].get("init_from") if rows else None
    if not isinstance(info, dict):
        return ""
    kimg = info.get("source_kimg")
    text = f"{info.get('path')} ({info.get('kind')}" + (
        f", {kimg:g} kimg)" if isinstance(kimg, (int, float)) else ")")
    for key in ("fresh", "adapted"):
        if info.get(key):
            text += f"; {key}: " + ", ".join(str(x) for x in info[key])
    return text


def _classes_section(out: str, cfg: dict) -> str:
    validation = _read_json(os.path.join(out, "validation.json"))
    counts = validation.get("counts")
    data = (cfg.get("data") or {})
    res, channels = int(data.get("resolution") or 32), int(data.get("channels") or 3)
    resize = data.get("resize") or "crop"
    root = validation.get("root")
    name = (cfg.get("model") or {}).get("name")
    spec = MODELS.get(name) if isinstance(name, str) else None
    if (spec is not None and spec.task == "translate") or not isinstance(counts, dict):
        # image-to-image: splits and sides instead of classes, and input | output | target grids
        rows = [[k, c.get("kept"), c.get("found")] for k, c in (counts or {}).items()]
        return _table(["split/side", "kept", "found"], rows) + _newest_samples(out)
    classes = [c for c in counts if c] or [""]
    skip = {p.get("file") for p in validation.get("problems", [])}
    why_empty = _why_empty(out, validation)
    rows = []
    for name in classes:
        gen = _sorted_images(os.path.join(out, "Data", name))
        real_dir = os.path.join(root, name) if root else None
        reals = [p for p in _sorted_images(real_dir) if p not in skip] if real_dir else []
        c = counts.get(name, {})
        made = _strip(gen[:PER_CLASS], res, channels, "stretch") or (
            f'<span class="{why_empty[name][1]}">none generated</span>: '
            f"{_e(why_empty[name][0])}" if name in why_empty else "none generated")
        rows.append([_e(name or "(all images)"),
                     f"{c.get('kept', '?')} of {c.get('found', '?')}", str(len(gen)),
                     '<div class="side">real</div>'
                     + (_strip(reals[:PER_CLASS], res, channels, resize) or "—")
                     + '<div class="side">generated</div>' + made])
    head = ["class", "real images used (in)", "generated (out)",
            f"first {PER_CLASS} real and first {PER_CLASS} generated images"]
    note = ("" if root and os.path.isdir(root) else
            f'<p class="note">the input folder {_e(root)} is not readable from here: no real '
            "images shown</p>")
    return note + _table(head, rows, escape=False)


def _why_empty(out: str, validation: dict) -> dict:
    """{class: (why it has no generated images, css class)}: quality.json's empty_classes (the
    class filter, balancing, collapsed classes) and validation.json's too_few_to_learn; a class
    that balancing asked no images for is no fault ("note")."""
    why = {}
    few = validation.get("too_few_to_learn") or {}
    for name, n in (few.get("classes") or {}).items():
        why[name] = (f"{n} real images, fewer than generate.min_class_images="
                     f"{few.get('min_class_images')}", "bad")
    empty = _read_json(os.path.join(out, "quality.json")).get("empty_classes") or {}
    for name, r in empty.items():
        if isinstance(r, dict) and r.get("why"):
            why[name] = (r["why"], "note" if r.get("reason") == "none_asked" else "bad")
    return why


def _samples_section(out: str, cfg: dict) -> str:
    """The newest fakes grid (fixed latents, one class per row) and progress.gif."""
    name = (cfg.get("model") or {}).get("name")
    spec = MODELS.get(name) if isinstance(name, str) else None
    if spec is not None and spec.task == "translate":
        return '<p class="note">shown above, next to the splits</p>'
    res = int((cfg.get("data") or {}).get("resolution") or 32)
    grids = sorted(glob.glob(os.path.join(out, "samples", "fakes*.png")))
    parts = []
    if grids:
        img = _upscaled(Image.open(grids[-1]), res)
        parts.append(f"<p>{_e(os.path.basename(grids[-1]))}, the newest (the same latents at "
                     f"every snapshot; one class per row, as samples/reals.png)</p>"
                     f'<img class="px" alt="newest samples" src="{_png_uri(img)}">')
    gif = os.path.join(out, "samples", "progress.gif")
    if os.path.isfile(gif):
        with Image.open(gif) as g:
            scale = _scale(res)
            size = f'width="{g.width * scale}" height="{g.height * scale}"'
        parts.append(f"<p>samples/progress.gif: the grid at each snapshot</p>"
                     f'<img class="px" alt="progress" {size} src="{_file_uri(gif)}">')
    return "\n".join(parts) or '<p class="note">no sample grids yet</p>'


def _curves_section(out: str, cfg: dict) -> str:
    losses = os.path.join(out, "samples", "losses.png")
    body = (f'<img alt="losses, D outputs and KID by kimg" src="{_file_uri(losses)}">'
            if os.path.isfile(losses) else '<p class="note">no samples/losses.png</p>')
    scored = [r for r in read_stats(os.path.join(out, "stats.jsonl")) if r.get("snapshot") and "kid" in r]   # scoring was on
    if scored:
        latest = {r["snapshot"]: r for r in scored}
        known = {n: r["kid"] for n, r in latest.items() if r.get("kid") is not None}
        best = min(known, key=known.get) if known else None
        rows = [[n + (" (lowest KID)" if n == best else ""), _num(r.get("kimg")),
                 _num(r.get("kid")), _num(r.get("fid")), _num(r.get("precision")),
                 _num(r.get("recall"))] for n, r in latest.items()]
        body += "<h3>Snapshot scores</h3>" + _table(
            ["snapshot", "kimg", "KID", "FID", "precision", "recall"], rows)
    return body


def _verdict_html(verdict: str) -> str:
    css = "bad" if "hurt" in verdict else "good" if "help" in verdict else ""
    return f'<span class="{css}">{_e(verdict)}</span>'


def _benefit_html(source: str, report: dict) -> str:
    """A benefit verdict with the numbers behind it: the fair baseline first (each class's reals
    repeated to the largest's count, for an imbalanced folder), then the reals as they are."""
    judged = ("reals the GAN never saw" if report.get("heldout_unseen")
              else "reals split from the training folder")
    comparisons = [("the reals as they are", report.get("verdict"), "real_only",
                    "real_plus_generated", report.get("balanced_accuracy_difference"))]
    if report.get("rebalanced_verdict"):
        comparisons.insert(0, ("each class's reals repeated up to the largest class's count "
                               "(the fair baseline for an imbalanced folder)",
                               report["rebalanced_verdict"], "real_rebalanced",
                               "rebalanced_plus_generated", report.get("rebalanced_difference")))
    first = comparisons[0]
    parts = [f"<p>{_e(source)}, judged on {judged}: {_verdict_html(str(first[1]))} against "
             f"{_e(first[0])}</p>"]
    rows = []
    for name, verdict, without, with_gen, d in comparisons:
        d = d if isinstance(d, dict) else {}
        rows.append([_e(name), _e(_num(_mean(report, without))), _e(_num(_mean(report, with_gen))),
                     _e(_points(d.get("mean"))), _e(_points(d.get("spread"), sign=False)),
                     _verdict_html(str(verdict))])
    parts.append(_table(["classifier trained on", "balanced accuracy without generated",
                         "with generated", "change (points)", "spread (points)", "verdict"],
                        rows, escape=False))
    gain = report.get("per_class_gain")
    if isinstance(gain, dict) and gain:
        parts.append("<p>change per class, reals as they are (points): " + _e(", ".join(
            f"{c} {_points(v)}" for c, v in gain.items())) + "</p>")
    rec = report.get("generated_recognised")
    if isinstance(rec, dict):
        held = _mean(report, "real_only", "accuracy")
        parts.append(f"<p>a classifier of the reals recognises "
                     f"{_e(_percent((rec.get('accuracy') or {}).get('mean')))} of the generated "
                     f"images as their class (held-out reals: {_e(_percent(held))})</p>")
    if report.get("seeds") is not None:
        parts.append(f'<p class="note">{len(report["seeds"])} classifier seeds, '
                     f"{_e(report.get('steps'))} steps each; rule: "
                     f"{_e(report.get('verdict_rule', ''))}</p>")
    return "\n".join(parts)


def _mean(report: dict, arm: str, metric: str = "balanced_accuracy"):
    value = ((report.get(arm) or {}).get(metric) or {})
    return value.get("mean") if isinstance(value, dict) else None


def _points(x, sign: bool = True) -> str:
    return "—" if x is None else f"{100 * x:+.1f}" if sign else f"{100 * x:.1f}"


def _percent(x) -> str:
    return "—" if x is None else f"{x:.0%}"


def _class_filter_html(f: dict) -> str:
    """quality.json's class_filter as a table per class."""
    per_class = f.get("per_class") or {}
    recall = f.get("classifier_recall_on_reals") or {}
    diversity = f.get("diversity_ratio") or {}
    notes = {c: "not filtered (its classifier misses its reals)" for c in f.get("unfiltered", [])}
    notes.update({c: "collapsed (one look)" for c in f.get("collapsed", [])})
    notes.update({c: "withheld: too alike" for c in f.get("not_written", [])})
    rows = [[c, t.get("asked"), t.get("kept"), t.get("tried"), _percent(recall.get(c)),
             _num(diversity.get(c)), notes.get(c, "")]
            for c, t in per_class.items() if isinstance(t, dict)]
    rule = ("an image is kept when a classifier of the reals sees its class in it"
            + (f" with at least {f['min_confidence']:g} probability"
               if f.get("min_confidence") else ""))
    return (f"<p>generate.filter: {_e(rule)}</p>"
            + _table(["class", "asked", "kept", "candidates tried",
                      "classifier recall on its reals", "diversity vs reals", "note"], rows))


def _plain(value) -> str:
    """A quality.json value as text without JSON's braces: "psnr 21.5, ssim 0.7"."""
    if isinstance(value, dict):
        return ", ".join(f"{k} {_plain(v)}" for k, v in value.items())
    if isinstance(value, list):
        return ", ".join(_plain(v) for v in value)
    return _num(value)


def _quality_section(out: str, cfg: dict) -> str:
    parts = []
    quality = _read_json(os.path.join(out, "quality.json"))
    for source, report in (("end of training (quality.json)", quality.get("augmentation_benefit")),
                           ("msgan evaluate --augmentation-benefit",
                            _read_json(os.path.join(out, "report", "augmentation.json")))):
        if isinstance(report, dict) and report.get("verdict"):
            parts.append(_benefit_html(source, report))
    if isinstance(quality.get("class_filter"), dict):
        parts.append(_class_filter_html(quality["class_filter"]))
    other = {k: v for k, v in quality.items()
             if k not in ("augmentation_benefit", "class_filter", "empty_classes")}
    if other:      # image-to-image: PSNR/SSIM of the held-out split
        rows = [[k, _plain(v)[:300]] for k, v in other.items()]
        parts.append(_table(["quality.json", "values"], rows))
    metrics = _read_json(os.path.join(out, "report", "metrics.json"))
    if metrics.get("overall"):
        parts.append(f"<p>msgan evaluate: KID {_num(metrics['overall'].get('kid'))}, FID "
                     f"{_num(metrics['overall'].get('fid'))} "
                     f"({_e(metrics.get('comparison', ''))})</p>")
    return "\n".join(parts) or ('<p class="note">no verdict: the augmentation-benefit check did '
                                "not run (msgan evaluate --augmentation-benefit runs it)</p>")


def _exports_section(out: str, cfg: dict) -> str:
    rows = []
    for sidecar in sorted(glob.glob(os.path.join(out, "model", "*.json"))):
        meta = _read_json(sidecar)
        for fmt, r in (meta.get("parity") or {}).items():
            ok = r.get("ok")
            status = ('<span class="good">ok</span>' if ok else
                      f'<span class="bad">failed</span> {_e(r.get("error", ""))}')
            rows.append([_e(os.path.splitext(os.path.basename(sidecar))[0] + "." + fmt),
                         _e(_num(meta.get("kimg"))), _e(_num(r.get("max_abs_diff"))), status])
    if not rows:
        return '<p class="note">no exports (train.export is empty, or no snapshot yet)</p>'
    return _table(["file", "kimg", "max |export − checkpoint|", "reproduces the checkpoint"],
                  rows, escape=False)


def _validation_section(out: str, cfg: dict) -> str:
    v = _read_json(os.path.join(out, "validation.json"))
    if not v:
        return '<p class="note">no validation.json</p>'
    parts = []
    s = v.get("summary") or {}
    if s:
        parts.append(f"<p>{s.get('kept')} of {s.get('found')} images usable, "
                     f"{s.get('problems')} with problems, {s.get('skipped')} other entries "
                     "ignored</p>")
    for kind in ("warnings", "notes"):
        items = v.get(kind) or []
        if items:
            parts.append(f"<p>{kind}:</p><ul>" + "".join(f"<li>{_e(w)}</li>" for w in items)
                         + "</ul>")
    few = v.get("too_few_to_learn")
    if few:
        parts.append(f"<p>no images generated for {_e(', '.join(few.get('classes', {})))}: "
                     f"fewer than {_e(few.get('min_class_images'))} real images</p>")
    problems = v.get("problems") or []
    if problems:
        parts.append(_table(["file", "problem", "detail"],
                            [[p.get("file"), p.get("problem"), p.get("detail")]
                             for p in problems[:MAX_LISTED]]))
    skipped = v.get("skipped") or []
    if skipped:
        parts.append(_table(["ignored", "why"], [[x.get("path"), x.get("reason")]
                                                 for x in skipped[:MAX_LISTED]]))
    if len(problems) > MAX_LISTED or len(skipped) > MAX_LISTED:
        parts.append(f'<p class="note">first {MAX_LISTED} listed; all are in '
                     "validation.json</p>")
    return "\n".join(parts) or "<p>no problems found</p>"


def _newest_samples(out: str) -> str:
    grids = sorted(glob.glob(os.path.join(out, "samples", "fakes*.png")))
    if not grids:
        return '<p class="note">no sample grids yet</p>'
    return (f"<p>{_e(os.path.basename(grids[-1]))} (rows of input | output | target)</p>"
            f'<img class="px" alt="newest samples" src="{_file_uri(grids[-1])}">')


# ----------------------------------------------------------------------------------------------
# Pieces

def _strip(paths: list, res: int, channels: int, resize: str) -> str:
    """One row of images (as the model sees them) as an embedded PNG; "" when none load."""
    from msgan.data.pipeline import load_image, make_grid

    images = []
    for p in paths:
        try:
            images.append(load_image(p, res, channels, resize))
        except Exception:     # a broken file was already reported by validation: skip it
            continue
    if not images:
        return ""
    grid = make_grid(np.stack(images), nrow=len(images))
    img = _upscaled(Image.fromarray(grid[..., 0] if channels == 1 else grid), res)
    return (f'<img class="px" alt="" width="{img.width}" height="{img.height}" '
            f'src="{_png_uri(img)}">')


def _scale(res: int) -> int:
    """Whole-pixel factor that shows a ``res``-px image at THUMB px or more (32 px digits or
    textures are unreadable at 1:1)."""
    return max(1, -(-THUMB // max(1, int(res))))


def _upscaled(img: Image.Image, res: int) -> Image.Image:
    """Nearest-neighbour upscaling in the PNG itself: every viewer shows sharp pixels (a CSS
    hint alone is ignored by some mail clients and image viewers)."""
    scale = _scale(res)
    return img if scale == 1 else img.resize((img.width * scale, img.height * scale),
                                             Image.NEAREST)


def _sorted_images(folder: str | None) -> list:
    if not folder or not os.path.isdir(folder):
        return []
    names = [n for n in os.listdir(folder)
             if n.lower().endswith(IMAGE_EXT) and not n.startswith(".")]

    def key(n):   # class_2 before class_10: by the number in the name
        m = re.search(r"(\d+)(?=\.[^.]+$)", n)
        return (int(m.group(1)) if m else -1, n)
    return [os.path.join(folder, n) for n in sorted(names, key=key)]


def _png_uri(img: Image.Image) -> str:
    buf = BytesIO()
    img.save(buf, format="PNG")
    return "data:image/png;base64," + base64.b64encode(buf.getvalue()).decode("ascii")


def _file_uri(path: str) -> str:
    kind = "gif" if path.lower().endswith(".gif") else "png"
    with open(path, "rb") as f:
        return f"data:image/{kind};base64," + base64.b64encode(f.read()).decode("ascii")


def _table(head: list, rows: list, escape: bool = True, header: bool = True) -> str:
    cell = _e if escape else str
    out = ["<table>"]
    if header:
        out.append("<tr>" + "".join(f"<th>{_e(h)}</th>" for h in head) + "</tr>")
    for r in rows:
        out.append("<tr>" + "".join(f"<td>{cell(x)}</td>" for x in r) + "</tr>")
    out.append("</table>")
    return "\n".join(out)


def _read_json(path: str) -> dict:
    if not os.path.isfile(path):
        return {}
    with open(path, encoding="utf-8") as f:
        data = json.load(f)
    return data if isinstance(data, dict) else {}


def _read_yaml(path: str) -> dict:
    try:
        with open(path, encoding="utf-8") as f:
            data = yaml.safe_load(f)
    except (OSError, yaml.YAMLError):
        return {}
    return data if isinstance(data, dict) else {}


def _num(x) -> str:
    if x is None:
        return "—"
    if isinstance(x, float):
        return f"{x:.4g}"
    return str(x)


def _e(x) -> str:
    return html.escape("" if x is None else str(x))
