"""Regenerate tests/fixtures/sg2a_*.pkl / .npz from a stylegan2-ada-pytorch checkout.

Run with a Python that has torch (msgan's own environment needs none):
  /path/to/torch-venv/bin/python scripts/make_sg2a_fixture.py --reference /path/to/stylegan2-ada-pytorch

Two tiny networks built with SG2A's own code (random weights, fp32):
  sg2a_cond    16x16 RGB, 3 classes, conv_clamp 0.5 (small enough that the clamps act)
  sg2a_uncond  16x16 grey, unconditional, conv_clamp 256, 3 mapping layers, mbstd group 2
  sg2a_tf      8x8 RGB, unconditional, as a TensorFlow-era StyleGAN2 pickle (G, D, Gs) made by
               inverting SG2A's legacy.py; expected: what legacy.py's networks compute from it
Each .pkl is what SG2A's training loop writes, with the Python source SG2A pickles replaced by
a placeholder (the repository keeps numbers and names only, none of NVIDIA's code); each .npz
holds SG2A's generate.py images (const noise) and D's logits for it (benchmarks/sg2a_reference.py).
"""
from __future__ import annotations

import argparse
import os
import subprocess
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
TINY = ["--z-dim", "16", "--w-dim", "16", "--channel-max", "16", "--seeds", "0,1,2",
        "--psis", "1,0.5", "--placeholder-src"]
FIXTURES = {
    "sg2a_cond": ["--resolution", "16", "--channel-base", "128", "--c-dim", "3",
                  "--classes", "0,2", "--conv-clamp", "0.5", "--map", "2", "--weight-seed", "1"],
    "sg2a_uncond": ["--resolution", "16", "--channel-base", "128", "--c-dim", "0",
                    "--channels", "1", "--conv-clamp", "256", "--map", "3", "--mbstd", "2",
                    "--weight-seed", "2"],
    # D's batch of 4 is one mbstd group both in TF (group 4) and in legacy.py (whole batch)
    "sg2a_tf": ["--tf", "--resolution", "8", "--channel-base", "64", "--c-dim", "0",
                "--conv-clamp", "256", "--map", "2", "--weight-seed", "3", "--d-batch", "4"],
}


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--reference", required=True, help="stylegan2-ada-pytorch checkout")
    p.add_argument("--out", default=os.path.join(ROOT, "tests", "fixtures"))
    a = p.parse_args(argv)
    os.makedirs(a.out, exist_ok=True)
    for name, extra in FIXTURES.items():
        subprocess.run([sys.executable, os.path.join(ROOT, "benchmarks", "sg2a_reference.py"),
                        "--reference", a.reference, "--out", os.path.join(a.out, f"{name}.pkl"),
                        "--expected", os.path.join(a.out, f"{name}.npz"), *TINY, *extra],
                       check=True)


if __name__ == "__main__":
    main()
