"""report.html: valid HTML, nothing loaded from elsewhere, every class shown, damage contained."""
import json
from html.parser import HTMLParser

import numpy as np
import yaml
from PIL import Image

from msgan.report import write_report

CLASSES = ["cat", "dog", "ä & b"]     # a name that must be escaped
VOID = {"meta", "img", "br", "hr", "link", "input"}


class Checker(HTMLParser):
    """Records nesting errors, every attribute that could load something, and cell texts."""

    def __init__(self):
        super().__init__()
        self.stack, self.errors, self.refs, self.cells, self.tags = [], [], [], [], []
        self.in_cell = False

    def handle_starttag(self, tag, attrs):
        self.tags.append(tag)
        for name, value in attrs:
            if name in ("src", "href", "srcset", "poster", "data", "action"):
                self.refs.append(value or "")
        if tag not in VOID:
            self.stack.append(tag)
        self.in_cell = tag in ("td", "th")

    def handle_endtag(self, tag):
        if not self.stack or self.stack.pop() != tag:
            self.errors.append(f"unexpected </{tag}>")

    def handle_data(self, data):
        if self.in_cell and data.strip():
            self.cells.append(data.strip())


def _png(path, value=0, size=8):
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(np.full((size, size), value, np.uint8), "L").save(path)


def make_run(tmp_path):
    reals, run = tmp_path / "reals", tmp_path / "run"
    for k, name in enumerate(CLASSES):
        for i in range(3):
            _png(reals / name / f"{i}.png", 40 * k)
            _png(run / "Data" / name / f"{name}_{i}.png", 200)
    (run / "config.yaml").write_text(yaml.safe_dump({
        "model": {"name": "dcgan"}, "data": {"path": str(reals), "resolution": 8, "channels": 1},
        "train": {"total_kimg": 0.05}, "generate": {"use_snapshot": "best"}}))
    (run / "validation.json").write_text(json.dumps({
        "root": str(reals), "counts": {c: {"found": 3, "kept": 3} for c in CLASSES},
        "problems": [{"file": str(reals / "cat" / "x.png"), "problem": "corrupt",
                      "detail": "<truncated>"}],
        "skipped": [], "warnings": ["class 'cat' has 3 usable images"], "notes": [],
        "summary": {"found": 10, "kept": 9, "problems": 1, "skipped": 0}}))
    # one row per tick; a snapshot's name and scores in the row of the tick it closed (the
    # first snapshot unscored, as with metrics.extractor=none: not in the scores table)
    rows = [{"tick": 1, "kimg": 0.02, "loss_G": 1.0, "loss_D": 1.2,
             "snapshot": "snapshot-000000020"},
            {"tick": 2, "kimg": 0.05, "loss_G": 0.9, "loss_D": 1.1,
             "snapshot": "snapshot-000000050", "kid": 0.01, "fid": 3.0}]
    (run / "stats.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
    _png(run / "samples" / "losses.png", 90, size=20)
    (run / "model").mkdir()
    (run / "model" / "G_ema.json").write_text(json.dumps({"kimg": 0.05, "parity": {
        "mindir": {"ok": True, "max_abs_diff": 0.0},
        "onnx": {"ok": False, "max_abs_diff": 0.3, "error": "differs"}}}))
    (run / "quality.json").write_text(json.dumps({"augmentation_benefit": {
        "verdict": "generated images hurt", "rebalanced_verdict": "no measurable benefit"}}))
    return run


def parse(path):
    text = path.read_text(encoding="utf-8")
    checker = Checker()
    checker.feed(text)
    checker.close()
    return text, checker


def test_report_is_self_contained_valid_html_with_every_class(tmp_path):
    run = make_run(tmp_path)
    path = write_report(str(run))
    assert path == str(run / "report.html")
    text, page = parse(run / "report.html")
    assert text.startswith("<!DOCTYPE html>")
    assert page.errors == [] and page.stack == []
    assert page.refs and all(r.startswith("data:image/png;base64,") for r in page.refs)
    assert "<script" not in text and "<link" not in text and "url(" not in text
    for name in CLASSES:
        assert name in page.cells, name                      # a row per class, name escaped
    assert "ä &amp; b" in text and "&lt;truncated&gt;" in text
    # real and generated images of each class, the curves, and the findings
    assert page.tags.count("img") == 2 * len(CLASSES) + 1
    assert "generated images hurt" in text and "snapshot-000000050 (lowest KID)" in text
    assert "judged on reals split from the training folder" in text
    # the fair baseline's verdict is the one the section leads with (issue 35, point 10)
    lead = text.index("judged on reals split")
    assert text.index("no measurable", lead) < text.index("generated images hurt", lead)
    assert "snapshot-000000020" not in text
    assert "G_ema.onnx" in page.cells and "failed" in text


def test_a_damaged_file_costs_only_its_section(tmp_path):
    run = make_run(tmp_path)
    (run / "model" / "G_ema.json").write_text("{not json")
    (run / "stats.jsonl").write_text("{\n")
    write_report(str(run))
    text, page = parse(run / "report.html")
    # a cut line of stats.jsonl is skipped (as every reader does), not a lost section
    assert page.errors == [] and text.count("could not read this part") == 2
    assert all(name in page.cells for name in CLASSES)


def test_image_to_image_run_shows_splits_samples_and_quality(tmp_path):
    run = tmp_path / "run"
    _png(run / "samples" / "fakes0000.010.png", 100, size=24)
    (run / "config.yaml").write_text(yaml.safe_dump({"model": {"name": "pix2pix"},
                                                     "data": {"resolution": 8}}))
    (run / "validation.json").write_text(json.dumps({
        "root": str(tmp_path), "counts": {"train/A": {"found": 5, "kept": 4}},
        "problems": [], "skipped": [], "summary": {"found": 5, "kept": 4}}))
    (run / "quality.json").write_text(json.dumps({"G": {"psnr": 21.5, "ssim": 0.7}}))
    write_report(str(run))
    text, page = parse(run / "report.html")
    assert page.errors == [] and "train/A" in page.cells and "fakes0000.010.png" in text
    assert page.tags.count("img") == 1 and "psnr" in text
