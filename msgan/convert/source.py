"""What a converter hands the writer: msgan's config and every parameter, by msgan's names."""
from __future__ import annotations

import dataclasses
import math

import numpy as np

from msgan.errors import MsganError

# msgan's mapping networks run with SG2A's default lr multiplier; a source trained with another
# one is rescaled (the equalised-LR layer computes weight * lr_mul / sqrt(fan_in), bias * lr_mul).
MSGAN_MAPPING_LR = 0.01
RESAMPLE_TAPS = (1.0, 3.0, 3.0, 1.0)


@dataclasses.dataclass
class Converted:
    kind: str                  # sg2a-pytorch | sg2-tf
    model_cfg: dict            # StyleGAN2Config keys
    resolution: int
    channels: int
    num_classes: int
    nets: dict                 # {"G" | "D" | "G_ema": {msgan parameter name: float32 array}}
    notes: list = dataclasses.field(default_factory=list)
    kimg: float | None = None
    augment_p: float | None = None


class Unsupported(MsganError):
    """The network differs from what msgan's StyleGAN2 computes; the message names how."""


def refuse(what: str) -> Unsupported:
    return Unsupported(f"{what} — msgan's StyleGAN2 cannot compute this network the same way, "
                       "so it is not converted")


def resample_filter_ok(f) -> bool:
    """SG2A's setup_filter([1, 3, 3, 1]): the normalised 4x4 outer product (or 1-D taps)."""
    k = np.asarray(RESAMPLE_TAPS)
    if f is None:
        return True
    f = np.asarray(f, np.float64)
    if f.ndim == 1:
        return f.shape == (4,) and np.allclose(f / f.sum(), k / k.sum())
    return f.shape == (4, 4) and np.allclose(f, np.outer(k, k) / np.outer(k, k).sum(), atol=1e-6)


def block_index(res: int, top: int) -> int:
    """msgan's D ``blocks.<i>`` of SG2A's ``b<res>`` (i = 0 at the image resolution)."""
    return int(math.log2(top)) - int(math.log2(res))


def synthesis_index(res: int) -> str:
    """msgan's G ``synthesis.<...>`` of SG2A's ``synthesis.b<res>``."""
    return "b4" if res == 4 else f"blocks.{int(math.log2(res)) - 3}"


def f32(a) -> np.ndarray:
    return np.ascontiguousarray(np.asarray(a, dtype=np.float32))
