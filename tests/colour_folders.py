"""Tiny class folders of coloured squares, and a tiny run on one, shared by the metrics, small-data
and class-filter tests."""
import numpy as np
from PIL import Image

from msgan_process import run_msgan

COLOURS = {"red": (220, 30, 30), "green": (30, 200, 30), "blue": (40, 40, 230)}


def shape_image(rng, colour, size=16):
    """A coloured square at a random place on a noisy dark background."""
    img = rng.integers(0, 40, size=(size, size, 3))
    s = rng.integers(size // 3, size // 2 + 1)
    y, x = rng.integers(0, size - s, size=2)
    img[y:y + s, x:x + s] = np.array(colour) + rng.integers(-20, 20, size=3)
    return np.clip(img, 0, 255).astype(np.uint8)


def write_folder(root, colours, n, seed):
    rng = np.random.default_rng(seed)
    for name, colour in colours.items():
        (root / name).mkdir(parents=True)
        for i in range(n):
            Image.fromarray(shape_image(rng, colour)).save(root / name / f"{i:03d}.png")
    return str(root)


def tiny_class_run(data, out, *extra):
    """``msgan train`` of a tiny MLP GAN (4 iterations) on a class folder, as a subprocess."""
    return run_msgan("train", "configs/gan_digits.yaml", f"data.path={data}",
                     "data.resolution=8", "data.channels=3", "model.g_hidden=[32]",
                     "model.d_hidden=[32]", "train.batch_size=8", "train.total_kimg=0.032",
                     "train.progress=false", "train.export=[]", "metrics.extractor=none",
                     f"output_dir={out}", *extra)
