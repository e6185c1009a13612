"""Convert torchvision's VGG19 ImageNet weights into a MindSpore .ckpt for SRGAN's VGG loss.

msgan never downloads anything at run time. To train SRGAN with ``model.content_loss=vgg``, do
this once:

1. On any machine with internet access, download torchvision's VGG19 weights (about 548 MB):

       wget https://download.pytorch.org/models/vgg19-dcbb9e9d.pth

2. Convert them (reading a .pth needs ``pip install torch``, for this step only):

       python scripts/convert_vgg19_weights.py vgg19-dcbb9e9d.pth vgg19.ckpt

   Without torch here, turn the .pth into a .npz wherever torch is installed and convert that:

       python -c "import torch, numpy as np; sd = torch.load('vgg19-dcbb9e9d.pth', map_location='cpu'); np.savez('vgg19.npz', **{k: v.numpy() for k, v in sd.items()})"
       python scripts/convert_vgg19_weights.py vgg19.npz vgg19.ckpt

3. Point msgan at the result: ``model.content_loss=vgg model.vgg_checkpoint=vgg19.ckpt``.

Names are kept (``features.0.weight`` ... ``features.34.bias``, about 80 MB); the ImageNet
classifier (``classifier.*``) is dropped. Every conv of ``features`` must be present with the
right shape (vgg19_bn's layout is refused), or nothing is written.
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("src", help="vgg19-dcbb9e9d.pth (or a .npz of its arrays)")
    parser.add_argument("dst", help="MindSpore checkpoint to write, e.g. vgg19.ckpt")
    args = parser.parse_args(argv)
    try:
        from msgan.models import vgg19
    except ImportError:   # run from a source checkout without installing msgan
        sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
        from msgan.models import vgg19
    from msgan.errors import MsganError
    from msgan.weights import read_torch_weights
    try:
        state = read_torch_weights(args.src, "download torchvision's vgg19-dcbb9e9d.pth first "
                                             "(see this script's docstring)")
        arrays = vgg19.convert_state_dict(state)
        vgg19.save_vgg19_checkpoint(arrays, args.dst)
    except MsganError as e:
        print(f"convert_vgg19_weights: error: {e}", file=sys.stderr)
        return 2
    print(f"wrote {args.dst} ({len(arrays)} tensors)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
