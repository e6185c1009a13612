"""The README's onnxruntime example, run as printed against a tiny export, so the README can't rot.

The example is the README's ```python block that imports onnxruntime. It reads
``runs/dcgan_digits/model/G_ema.onnx`` + ``.json`` (what the demo writes); here that path holds a
tiny class-conditional generator exported by msgan, and the PNG it saves must be the very image
``msgan generate --class 3 --seed 41 --num 1`` writes from the same export.
"""
import os
import re
import subprocess
import sys

import numpy as np
import pytest

ms = pytest.importorskip("mindspore")
pytest.importorskip("onnxruntime")
from PIL import Image  # noqa: E402

from msgan.inference.export import export_generator  # noqa: E402
from msgan.inference.generate import generate  # noqa: E402
from msgan.inference.samplers import OnnxSampler  # noqa: E402

from tiny_generator import ExportCond, TinyG, make_meta  # noqa: E402

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
DIGITS = [str(d) for d in range(10)]


def readme_example() -> str:
    with open(os.path.join(ROOT, "README.md"), encoding="utf-8") as f:
        blocks = re.findall(r"```python\n(.*?)```", f.read(), re.S)
    found = [b for b in blocks if "import onnxruntime" in b]
    assert len(found) == 1, "README.md must hold exactly one ```python block using onnxruntime"
    return found[0]


def test_readme_example_is_short_and_reads_the_demo_export():
    code = readme_example()
    assert len(code.strip().splitlines()) <= 25
    assert '"runs/dcgan_digits/model/G_ema"' in code


@pytest.fixture(scope="module")
def digits_export(tmp_path_factory):
    """cwd for the example: runs/dcgan_digits/model/G_ema.{onnx,json} of a 10-class grey G."""
    ms.set_context(mode=ms.GRAPH_MODE)
    root = tmp_path_factory.mktemp("service")
    ms.set_seed(3)
    net = ExportCond(TinyG(len(DIGITS), channels=1))
    meta = dict(make_meta(channels=1), classes=DIGITS, num_classes=len(DIGITS))
    stem = root / "runs" / "dcgan_digits" / "model" / "G_ema"
    result = export_generator(net, meta, str(stem), formats=("onnx",))
    assert result["onnx"]["ok"], result
    return root, str(stem) + ".onnx"


def test_readme_example_remakes_msgans_image(digits_export, tmp_path):
    root, onnx_path = digits_export
    r = subprocess.run([sys.executable, "-c", readme_example()], cwd=root,
                       capture_output=True, text=True, timeout=300)
    assert r.returncode == 0, r.stderr[-3000:]
    png = root / "3_41.png"
    assert png.is_file(), r.stdout
    got = np.asarray(Image.open(png))

    paths = generate(OnnxSampler(onnx_path), str(tmp_path), 1, seed=41, class_name="3",
                     progress=False)
    assert [os.path.basename(p) for p in paths] == ["3_41.png"]
    want = np.asarray(Image.open(paths[0]))
    assert got.shape == want.shape == (8, 8)
    assert got.dtype == np.uint8
    assert got.std() > 0                       # an image, not a constant
    np.testing.assert_array_equal(got, want)


def test_readme_and_docs_links_point_at_files():
    """The README → docs/ split keeps every relative link of README.md, docs/*.md and
    benchmarks/*.md pointing at a file of the repository."""
    import glob

    pages = [os.path.join(ROOT, "README.md")]
    for folder in ("docs", "benchmarks"):
        pages += sorted(glob.glob(os.path.join(ROOT, folder, "*.md")))
    broken = []
    for page in pages:
        with open(page, encoding="utf-8") as f:
            text = f.read()
        for target in re.findall(r"\]\(([^)\s]+)\)", text):
            path = target.split("#")[0]
            if not path or re.match(r"[a-z]+:", path):      # an anchor or a URL
                continue
            if not os.path.exists(os.path.join(os.path.dirname(page), path)):
                broken.append(f"{os.path.relpath(page, ROOT)} → {target}")
    assert len(pages) > 3
    assert not broken, broken
