"""Pretrained weights the user supplies (msgan never downloads): read, check and write them.

Shared by the FID Inception (metrics) and the VGG19 content loss (models): both take a
MindSpore .ckpt converted once from a torch state_dict by a script under scripts/.
"""
from __future__ import annotations

import os
from pathlib import Path

import mindspore as ms
import numpy as np

from msgan.errors import MsganError


def check_arrays(arrays: dict, shapes: dict, source: str, what: str, how_to: str) -> None:
    """Raise unless ``arrays`` has exactly the names of ``shapes`` with those shapes."""
    missing = sorted(set(shapes) - set(arrays))
    unexpected = sorted(set(arrays) - set(shapes))
    wrong = sorted(n for n in shapes if n in arrays and tuple(arrays[n].shape) != shapes[n])
    if missing or unexpected or wrong:
        parts = []
        if missing:
            parts.append(f"{len(missing)} missing (e.g. {missing[0]})")
        if unexpected:
            parts.append(f"{len(unexpected)} unexpected (e.g. {unexpected[0]})")
        if wrong:
            n = wrong[0]
            parts.append(f"{len(wrong)} with wrong shapes (e.g. {n}: {tuple(arrays[n].shape)} "
                         f"instead of {shapes[n]})")
        raise MsganError(f"{source} does not hold {what}: {'; '.join(parts)} — {how_to}")


def save_checkpoint_atomic(arrays: dict, path: str, example_name: str) -> None:
    """Write {name: array} as a MindSpore .ckpt (atomically: a half-written file never appears)."""
    if not str(path).endswith(".ckpt"):
        raise MsganError(f"{path}: MindSpore checkpoints must end in .ckpt — choose a name such "
                         f"as {example_name}")
    tmp = str(path)[:-len(".ckpt")] + ".tmp.ckpt"
    ms.save_checkpoint([{"name": n, "data": ms.Tensor(a)} for n, a in sorted(arrays.items())], tmp)
    os.replace(tmp, path)


def read_checkpoint(path: str, source: str, how_to: str) -> dict:
    """name → float32 array from a MindSpore .ckpt; MsganError when it cannot be read."""
    try:
        loaded = ms.load_checkpoint(path)
    except Exception as e:  # MindSpore raises ValueError/RuntimeError for corrupt files
        raise MsganError(f"{source} is not a readable MindSpore checkpoint "
                         f"({str(e).splitlines()[0][:100]}) — {how_to}") from None
    return {n: p.asnumpy() for n, p in loaded.items()}


def read_torch_weights(path: str, missing_hint: str) -> dict:
    """name → numpy array from a torch state_dict (.pth/.pt) or a .npz of arrays."""
    if not Path(path).is_file():
        raise MsganError(f"{path} does not exist — {missing_hint}")
    if path.endswith(".npz"):
        with np.load(path) as data:
            return {k: data[k] for k in data.files}
    try:
        import torch
    except ImportError:
        raise MsganError("reading a .pth needs torch, which is not installed — pip install torch "
                         "for this one-off step, or convert the .pth to .npz elsewhere "
                         "(see this script's docstring)") from None
    state = torch.load(path, map_location="cpu", weights_only=True)
    if isinstance(state, dict) and "state_dict" in state:
        state = state["state_dict"]
    return {k: v.detach().cpu().numpy() for k, v in state.items()}
