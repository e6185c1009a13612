"""InceptionV3 as used for FID (pytorch-fid's variant of the 2015 TF graph), in MindSpore.

Cell and attribute names follow pytorch-fid / torchvision (``Mixed_5b.branch1x1.conv.weight``),
so converted weights keep their names; only BatchNorm's tensors are renamed to MindSpore's
(weight→gamma, bias→beta, running_mean→moving_mean, running_var→moving_variance).
The FID blocks differ from torchvision's: average pools ignore padding (TF behaviour) and the
last block max-pools. Weights are never downloaded: the user converts pytorch-fid's file once
with ``scripts/convert_inception_weights.py`` and points ``metrics.inception_checkpoint`` at it.
"""
from __future__ import annotations

import os

import mindspore as ms
import numpy as np
from mindspore import nn, ops

from msgan import weights
from msgan.errors import MsganError

FEATURE_DIM = 2048
INPUT_SIZE = 299
HOW_TO_GET = ("convert pytorch-fid's pt_inception-2015-12-05-6726825d.pth with "
              "scripts/convert_inception_weights.py and set metrics.inception_checkpoint to the "
              ".ckpt it writes (or use the classifier extractor, which needs no download)")

_BN_RENAMES = {"weight": "gamma", "bias": "beta", "running_mean": "moving_mean",
               "running_var": "moving_variance"}


class BasicConv2d(nn.Cell):
    """Conv (no bias) + BatchNorm(eps=1e-3) + ReLU, named conv/bn like torchvision's."""

    def __init__(self, cin, cout, kernel_size, stride=1, padding=(0, 0)):
        super().__init__()
        ph, pw = padding
        # MindSpore's Conv2d defaults to "same" padding; torch's (and TF's here) is none.
        pad = ({"pad_mode": "pad", "padding": (ph, ph, pw, pw)} if (ph or pw)
               else {"pad_mode": "valid"})
        self.conv = nn.Conv2d(cin, cout, kernel_size, stride=stride, has_bias=False, **pad)
        self.bn = nn.BatchNorm2d(cout, eps=0.001, momentum=0.9)
        self.relu = nn.ReLU()

    def construct(self, x):
        return self.relu(self.bn(self.conv(x)))


def _avg3(x):
    # TF's average pool divides by the number of real (unpadded) inputs.
    return ops.avg_pool2d(x, 3, 1, 1, count_include_pad=False)


def _max3s2(x):
    return ops.max_pool2d(x, 3, 2)


class FIDInceptionA(nn.Cell):
    def __init__(self, cin, pool_features):
        super().__init__()
        self.branch1x1 = BasicConv2d(cin, 64, 1)
        self.branch5x5_1 = BasicConv2d(cin, 48, 1)
        self.branch5x5_2 = BasicConv2d(48, 64, 5, padding=(2, 2))
        self.branch3x3dbl_1 = BasicConv2d(cin, 64, 1)
        self.branch3x3dbl_2 = BasicConv2d(64, 96, 3, padding=(1, 1))
        self.branch3x3dbl_3 = BasicConv2d(96, 96, 3, padding=(1, 1))
        self.branch_pool = BasicConv2d(cin, pool_features, 1)

    def construct(self, x):
        b1 = self.branch1x1(x)
        b5 = self.branch5x5_2(self.branch5x5_1(x))
        b3 = self.branch3x3dbl_3(self.branch3x3dbl_2(self.branch3x3dbl_1(x)))
        bp = self.branch_pool(_avg3(x))
        return ops.cat((b1, b5, b3, bp), 1)


class InceptionB(nn.Cell):
    def __init__(self, cin):
        super().__init__()
        self.branch3x3 = BasicConv2d(cin, 384, 3, stride=2)
        self.branch3x3dbl_1 = BasicConv2d(cin, 64, 1)
        self.branch3x3dbl_2 = BasicConv2d(64, 96, 3, padding=(1, 1))
        self.branch3x3dbl_3 = BasicConv2d(96, 96, 3, stride=2)

    def construct(self, x):
        b3 = self.branch3x3(x)
        bd = self.branch3x3dbl_3(self.branch3x3dbl_2(self.branch3x3dbl_1(x)))
        return ops.cat((b3, bd, _max3s2(x)), 1)


class FIDInceptionC(nn.Cell):
    def __init__(self, cin, c7):
        super().__init__()
        self.branch1x1 = BasicConv2d(cin, 192, 1)
        self.branch7x7_1 = BasicConv2d(cin, c7, 1)
        self.branch7x7_2 = BasicConv2d(c7, c7, (1, 7), padding=(0, 3))
        self.branch7x7_3 = BasicConv2d(c7, 192, (7, 1), padding=(3, 0))
        self.branch7x7dbl_1 = BasicConv2d(cin, c7, 1)
        self.branch7x7dbl_2 = BasicConv2d(c7, c7, (7, 1), padding=(3, 0))
        self.branch7x7dbl_3 = BasicConv2d(c7, c7, (1, 7), padding=(0, 3))
        self.branch7x7dbl_4 = BasicConv2d(c7, c7, (7, 1), padding=(3, 0))
        self.branch7x7dbl_5 = BasicConv2d(c7, 192, (1, 7), padding=(0, 3))
        self.branch_pool = BasicConv2d(cin, 192, 1)

    def construct(self, x):
        b1 = self.branch1x1(x)
        b7 = self.branch7x7_3(self.branch7x7_2(self.branch7x7_1(x)))
        bd = self.branch7x7dbl_1(x)
        bd = self.branch7x7dbl_3(self.branch7x7dbl_2(bd))
        bd = self.branch7x7dbl_5(self.branch7x7dbl_4(bd))
        bp = self.branch_pool(_avg3(x))
        return ops.cat((b1, b7, bd, bp), 1)


class InceptionD(nn.Cell):
    def __init__(self, cin):
        super().__init__()
        self.branch3x3_1 = BasicConv2d(cin, 192, 1)
        self.branch3x3_2 = BasicConv2d(192, 320, 3, stride=2)
        self.branch7x7x3_1 = BasicConv2d(cin, 192, 1)
        self.branch7x7x3_2 = BasicConv2d(192, 192, (1, 7), padding=(0, 3))
        self.branch7x7x3_3 = BasicConv2d(192, 192, (7, 1), padding=(3, 0))
        self.branch7x7x3_4 = BasicConv2d(192, 192, 3, stride=2)

    def construct(self, x):
        b3 = self.branch3x3_2(self.branch3x3_1(x))
        b7 = self.branch7x7x3_2(self.branch7x7x3_1(x))
        b7 = self.branch7x7x3_4(self.branch7x7x3_3(b7))
        return ops.cat((b3, b7, _max3s2(x)), 1)


class FIDInceptionE(nn.Cell):
    def __init__(self, cin, max_pool):
        super().__init__()
        # pytorch-fid's Mixed_7c max-pools here (a quirk of the TF graph the weights come from).
        self.max_pool = max_pool
        self.branch1x1 = BasicConv2d(cin, 320, 1)
        self.branch3x3_1 = BasicConv2d(cin, 384, 1)
        self.branch3x3_2a = BasicConv2d(384, 384, (1, 3), padding=(0, 1))
        self.branch3x3_2b = BasicConv2d(384, 384, (3, 1), padding=(1, 0))
        self.branch3x3dbl_1 = BasicConv2d(cin, 448, 1)
        self.branch3x3dbl_2 = BasicConv2d(448, 384, 3, padding=(1, 1))
        self.branch3x3dbl_3a = BasicConv2d(384, 384, (1, 3), padding=(0, 1))
        self.branch3x3dbl_3b = BasicConv2d(384, 384, (3, 1), padding=(1, 0))
        self.branch_pool = BasicConv2d(cin, 192, 1)

    def construct(self, x):
        b1 = self.branch1x1(x)
        b3 = self.branch3x3_1(x)
        b3 = ops.cat((self.branch3x3_2a(b3), self.branch3x3_2b(b3)), 1)
        bd = self.branch3x3dbl_2(self.branch3x3dbl_1(x))
        bd = ops.cat((self.branch3x3dbl_3a(bd), self.branch3x3dbl_3b(bd)), 1)
        if self.max_pool:
            pooled = ops.max_pool2d(x, 3, 1, 1)
        else:
            pooled = _avg3(x)
        return ops.cat((b1, b3, bd, self.branch_pool(pooled)), 1)


class InceptionV3(nn.Cell):
    """construct(x float32 (N, 3, H, W) in [-1, 1], H, W >= 75) -> pool3 features (N, 2048)."""

    def __init__(self):
        super().__init__()
        self.Conv2d_1a_3x3 = BasicConv2d(3, 32, 3, stride=2)
        self.Conv2d_2a_3x3 = BasicConv2d(32, 32, 3)
        self.Conv2d_2b_3x3 = BasicConv2d(32, 64, 3, padding=(1, 1))
        self.Conv2d_3b_1x1 = BasicConv2d(64, 80, 1)
        self.Conv2d_4a_3x3 = BasicConv2d(80, 192, 3)
        self.Mixed_5b = FIDInceptionA(192, 32)
        self.Mixed_5c = FIDInceptionA(256, 64)
        self.Mixed_5d = FIDInceptionA(288, 64)
        self.Mixed_6a = InceptionB(288)
        self.Mixed_6b = FIDInceptionC(768, 128)
        self.Mixed_6c = FIDInceptionC(768, 160)
        self.Mixed_6d = FIDInceptionC(768, 160)
        self.Mixed_6e = FIDInceptionC(768, 192)
        self.Mixed_7a = InceptionD(768)
        self.Mixed_7b = FIDInceptionE(1280, max_pool=False)
        self.Mixed_7c = FIDInceptionE(2048, max_pool=True)

    def construct(self, x):
        x = self.Conv2d_2b_3x3(self.Conv2d_2a_3x3(self.Conv2d_1a_3x3(x)))
        x = _max3s2(x)
        x = _max3s2(self.Conv2d_4a_3x3(self.Conv2d_3b_1x1(x)))
        x = self.Mixed_5d(self.Mixed_5c(self.Mixed_5b(x)))
        x = self.Mixed_6a(x)
        x = self.Mixed_6e(self.Mixed_6d(self.Mixed_6c(self.Mixed_6b(x))))
        x = self.Mixed_7c(self.Mixed_7b(self.Mixed_7a(x)))
        return x.mean(axis=(2, 3))   # pool3: global average pool


def build_inception() -> InceptionV3:
    """An untrained FID InceptionV3 in inference mode."""
    net = InceptionV3()
    net.set_train(False)
    return net


# ----------------------------------------------------------------------------------------------
# Weights

def torch_name_to_mindspore(name: str):
    """pytorch-fid state_dict key → MindSpore parameter name; None for tensors FID does not use."""
    if name.startswith(("fc.", "AuxLogits.")) or name.endswith("num_batches_tracked"):
        return None
    head, _, last = name.rpartition(".")
    if head.endswith(".bn"):
        return f"{head}.{_BN_RENAMES.get(last, last)}"
    return name


def parameter_shapes(net) -> dict:
    return {p.name: tuple(p.shape) for p in net.get_parameters()}


def _check_arrays(arrays: dict, shapes: dict, source: str) -> None:
    weights.check_arrays(arrays, shapes, source, "FID InceptionV3 weights", HOW_TO_GET)


def convert_state_dict(state: dict, net=None) -> dict:
    """pytorch-fid state_dict (name → array) → {MindSpore name: float32 array}, checked."""
    net = net if net is not None else build_inception()
    arrays = {}
    for name, value in state.items():
        ms_name = torch_name_to_mindspore(name)
        if ms_name is not None:
            arrays[ms_name] = np.asarray(value, dtype=np.float32)
    _check_arrays(arrays, parameter_shapes(net), "the input weights")
    return arrays


def save_inception_checkpoint(arrays: dict, path: str) -> None:
    """Write {name: array} as a MindSpore .ckpt (atomically: a half-written file never appears)."""
    weights.save_checkpoint_atomic(arrays, path, "inception_fid.ckpt")


def check_checkpoint_path(path) -> None:
    """Fail early, before any image is read, when the Inception weights cannot be there."""
    if not path:
        raise MsganError("metrics.inception_checkpoint (--inception-checkpoint) is not set — "
                         f"{HOW_TO_GET}")
    if not os.path.isfile(path):
        raise MsganError(f"metrics.inception_checkpoint {path} does not exist — {HOW_TO_GET}")
    if not str(path).endswith(".ckpt"):
        raise MsganError(f"metrics.inception_checkpoint {path} is not a .ckpt file — {HOW_TO_GET}")


def load_inception(path) -> object:
    """FID InceptionV3 with weights from a MindSpore .ckpt, in inference mode."""
    check_checkpoint_path(path)
    arrays = weights.read_checkpoint(path, f"metrics.inception_checkpoint {path}", HOW_TO_GET)
    net = build_inception()
    _check_arrays(arrays, parameter_shapes(net), f"metrics.inception_checkpoint {path}")
    # Copied in before any compiled call, so graph mode sees them (see DESIGN.md).
    for p in net.get_parameters():
        p.set_data(ms.Tensor(arrays[p.name].astype(np.float32)))
    return net


# ----------------------------------------------------------------------------------------------
# Features

def prepare_images(images: np.ndarray, size: int = INPUT_SIZE) -> np.ndarray:
    """uint8 (N, C, H, W), C in {1, 3} → float32 (N, 3, size, size) in [-1, 1].

    Resized bilinearly with PIL on the host (pytorch-fid resizes with F.interpolate; for the
    small images GANs make here both upsample, where the two agree closely).
    """
    from PIL import Image
    images = np.asarray(images)
    if images.ndim != 4 or images.shape[1] not in (1, 3) or images.dtype != np.uint8:
        raise MsganError(f"Inception features need uint8 images shaped (N, 1|3, H, W), got "
                         f"{images.dtype} {images.shape} — load images with msgan's loaders")
    out = np.empty((len(images), 3, size, size), dtype=np.float32)
    for i, img in enumerate(images):
        hwc = img.transpose(1, 2, 0)
        pil = Image.fromarray(hwc[:, :, 0] if hwc.shape[2] == 1 else hwc)
        if pil.size != (size, size):
            pil = pil.resize((size, size), Image.BILINEAR)
        arr = np.asarray(pil.convert("RGB"), dtype=np.float32)
        out[i] = arr.transpose(2, 0, 1) / 127.5 - 1.0
    return out


def inception_features(net, images: np.ndarray, batch_size: int = 32,
                       size: int = INPUT_SIZE, progress: bool = False) -> np.ndarray:
    """uint8 images (N, C, H, W) → float64 pool3 features (N, 2048)."""
    from msgan.progress import Bar

    n = len(images)
    batch_size = max(1, min(batch_size, n))
    feats = []
    for s in Bar(range(0, n, batch_size), desc="inception features", unit="batch",
                 disable=not progress):
        x = prepare_images(images[s:s + batch_size], size)
        real = len(x)
        if real < batch_size:
            # One fixed batch shape, so graph mode compiles once.
            x = np.concatenate([x, np.repeat(x[-1:], batch_size - real, axis=0)])
        feats.append(net(ms.Tensor(x)).asnumpy()[:real])
    return np.concatenate(feats).astype(np.float64)
