"""VGG19 conv features for SRGAN's perceptual content loss, with weights only from a user file.

Layers follow torchvision's ``vgg19().features`` exactly, so parameter names are torchvision's
(``features.34.weight``) and a converted state_dict loads unchanged. The default layer is
``relu5_4``: SRGAN's φ5,4, "the feature map obtained by the 4th convolution (after activation)
before the 5th max-pooling layer" (Ledig et al. 2017, sec. 2.2.2). Inputs in [-1, 1] are mapped
to [0, 1] and normalised with ImageNet's mean/std as torchvision's weights expect; one-channel
images are repeated to RGB. The weights are frozen: ``requires_grad`` is off, so no optimizer
sees them, while gradients still flow through the features to the generator.

Weights are never downloaded: the user converts torchvision's ``vgg19-dcbb9e9d.pth`` once with
``scripts/convert_vgg19_weights.py`` and sets ``model.vgg_checkpoint`` to the .ckpt it writes.
"""
from __future__ import annotations

import os

import numpy as np
from mindspore import Tensor, nn, ops

from msgan import weights
from msgan.errors import MsganError

DEFAULT_LAYER = "relu5_4"
HOW_TO_GET = ("convert torchvision's vgg19-dcbb9e9d.pth with scripts/convert_vgg19_weights.py "
              "and set model.vgg_checkpoint to the .ckpt it writes (or use "
              "model.content_loss=mse, which needs no weights)")
_WIDTHS = ((64, 64), (128, 128), (256, 256, 256, 256), (512, 512, 512, 512), (512, 512, 512, 512))
_MEAN = (0.485, 0.456, 0.406)
_STD = (0.229, 0.224, 0.225)


def layout() -> list:
    """[(layer name, cin, cout)] in torchvision's ``features`` order; cin/cout None off convs."""
    out, cin = [], 3
    for block, widths in enumerate(_WIDTHS, start=1):
        for j, cout in enumerate(widths, start=1):
            out += [(f"conv{block}_{j}", cin, cout), (f"relu{block}_{j}", None, None)]
            cin = cout
        out.append((f"pool{block}", None, None))
    return out


LAYERS = tuple(name for name, _, _ in layout())


def full_shapes() -> dict:
    """Every parameter of torchvision's vgg19 ``features`` → shape."""
    shapes = {}
    for i, (_, cin, cout) in enumerate(layout()):
        if cin is not None:
            shapes[f"features.{i}.weight"] = (cout, cin, 3, 3)
            shapes[f"features.{i}.bias"] = (cout,)
    return shapes


class VGG19Features(nn.Cell):
    """construct(x float32 (B, 1|3, H, W) in [-1, 1]) -> features of ``layer`` (B, C', H', W')."""

    def __init__(self, layer: str = DEFAULT_LAYER):
        super().__init__()
        if layer not in LAYERS:
            raise MsganError(f"unknown VGG19 layer {layer!r} — use one of {', '.join(LAYERS)}")
        self.layer = layer
        cells = []
        for name, cin, cout in layout()[:LAYERS.index(layer) + 1]:
            if name.startswith("conv"):
                cells.append(nn.Conv2d(cin, cout, 3, 1, pad_mode="pad", padding=1,
                                       has_bias=True))
            elif name.startswith("relu"):
                cells.append(nn.ReLU())
            else:
                cells.append(nn.MaxPool2d(kernel_size=2, stride=2))
        self.features = nn.SequentialCell(cells)
        self.mean = Tensor(np.array(_MEAN, np.float32).reshape(1, 3, 1, 1))
        self.inv_std = Tensor(1.0 / np.array(_STD, np.float32).reshape(1, 3, 1, 1))
        for p in self.get_parameters():
            p.requires_grad = False
        self.set_train(False)

    def construct(self, x):
        if x.shape[1] == 1:
            x = ops.tile(x, (1, 3, 1, 1))
        x = ((x + 1.0) * 0.5 - self.mean) * self.inv_std
        return self.features(x)


def parameter_shapes(net) -> dict:
    return {p.name: tuple(p.shape) for p in net.get_parameters()}


def convert_state_dict(state: dict) -> dict:
    """torchvision vgg19 state_dict (name → array) → {name: float32 array} of ``features``, checked.

    The ImageNet classifier (``classifier.*``) is dropped; every conv must be present.
    """
    arrays = {n: np.asarray(v, dtype=np.float32) for n, v in state.items()
              if not n.startswith("classifier.")}
    weights.check_arrays(arrays, full_shapes(), "the input weights", "torchvision VGG19 weights",
                         HOW_TO_GET)
    return arrays


def save_vgg19_checkpoint(arrays: dict, path: str) -> None:
    weights.save_checkpoint_atomic(arrays, path, "vgg19.ckpt")


def check_checkpoint_path(path) -> None:
    """Fail early (before training starts) when the VGG19 weights cannot be there."""
    if not path:
        raise MsganError("model.content_loss is vgg but model.vgg_checkpoint is not set — "
                         f"{HOW_TO_GET}")
    if not os.path.isfile(path):
        raise MsganError(f"model.vgg_checkpoint {path} does not exist — {HOW_TO_GET}")
    if not str(path).endswith(".ckpt"):
        raise MsganError(f"model.vgg_checkpoint {path} is not a .ckpt file — {HOW_TO_GET}")


def load_vgg19(path, layer: str = DEFAULT_LAYER) -> VGG19Features:
    """Frozen VGG19 features up to ``layer`` with weights from a MindSpore .ckpt.

    The file may hold all of vgg19's ``features`` (as the converter writes) or only those up to
    ``layer``; a name that is not a vgg19 feature weight, a missing one or a wrong shape is an
    error naming the path.
    """
    check_checkpoint_path(path)
    source = f"model.vgg_checkpoint {path}"
    arrays = weights.read_checkpoint(path, source, HOW_TO_GET)
    net = VGG19Features(layer)
    needed = parameter_shapes(net)
    deeper = set(full_shapes()) - set(needed)
    weights.check_arrays({n: a for n, a in arrays.items() if n not in deeper}, needed, source,
                         "torchvision VGG19 weights", HOW_TO_GET)
    # Copied in before any compiled call, so graph mode sees them (see DESIGN.md).
    for p in net.get_parameters():
        p.set_data(Tensor(arrays[p.name].astype(np.float32)))
    return net
