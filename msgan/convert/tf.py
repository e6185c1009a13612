"""TensorFlow-era StyleGAN2 / StyleGAN2-ADA pickles (placeholder until written)."""
from __future__ import annotations

from msgan.convert.unpickle import TFNetwork


def is_tf(data) -> bool:
    return isinstance(data, tuple) and len(data) == 3 and all(isinstance(n, TFNetwork) for n in data)


def read(data, notes):
    raise NotImplementedError
