"""Convert pytorch-fid's FID InceptionV3 weights into a MindSpore .ckpt for msgan.

msgan never downloads anything at run time. To use ``--extractor inception`` (FID/KID
comparable with published numbers), do this once:

1. On any machine with internet access, download pytorch-fid's port of the 2015-12-05 TF
   Inception graph that the original FID code uses (about 91 MB):

       wget https://github.com/mseitzer/pytorch-fid/releases/download/fid_weights/pt_inception-2015-12-05-6726825d.pth

2. Convert it (reading a .pth needs ``pip install torch``, for this step only):

       python scripts/convert_inception_weights.py pt_inception-2015-12-05-6726825d.pth inception_fid.ckpt

   Without torch here, turn the .pth into a .npz wherever torch is installed and convert that:

       python -c "import torch, numpy as np; sd = torch.load('pt_inception-2015-12-05-6726825d.pth', map_location='cpu'); np.savez('pt_inception.npz', **{k: v.numpy() for k, v in sd.items()})"
       python scripts/convert_inception_weights.py pt_inception.npz inception_fid.ckpt

3. Point msgan at the result: ``metrics.inception_checkpoint=inception_fid.ckpt``
   (``msgan evaluate REAL FAKE --extractor inception --inception-checkpoint inception_fid.ckpt``).

Parameter names are kept (``Mixed_5b.branch1x1.conv.weight``); BatchNorm's weight/bias/
running_mean/running_var become gamma/beta/moving_mean/moving_variance. ``fc.*`` (the ImageNet
classifier) is dropped: FID uses the 2048-d pool3 features. Every other tensor must be present
with the right shape, or nothing is written.
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path


def read_weights(path: str) -> dict:
    """name → numpy array from a torch state_dict (.pth/.pt) or a .npz of arrays."""
    from msgan.weights import read_torch_weights
    return read_torch_weights(path, "download pytorch-fid's pt_inception-2015-12-05-6726825d.pth "
                                    "first (see this script's docstring)")


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("src",
                        help="pt_inception-2015-12-05-6726825d.pth (or a .npz of its arrays)")
    parser.add_argument("dst", help="MindSpore checkpoint to write, e.g. inception_fid.ckpt")
    args = parser.parse_args(argv)
    try:
        from msgan.metrics import inception
    except ImportError:   # run from a source checkout without installing msgan
        sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
        from msgan.metrics import inception
    from msgan.errors import MsganError
    try:
        arrays = inception.convert_state_dict(read_weights(args.src))
        inception.save_inception_checkpoint(arrays, args.dst)
    except MsganError as e:
        print(f"convert_inception_weights: error: {e}", file=sys.stderr)
        return 2
    print(f"wrote {args.dst} ({len(arrays)} tensors)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
