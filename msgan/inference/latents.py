"""Where latents come from: training draws (a host generator) and per-seed latents (generation,
snapshot scoring, sample grids), so every sampler of z in msgan draws the same way."""
from __future__ import annotations

import numpy as np


def sample_z(rng: np.random.Generator, n: int, z_dim: int,
             z_dist: str = "gaussian") -> np.ndarray:
    """``n`` latents from ``rng`` (float32 (n, z_dim)), Gaussian or uniform in [-1, 1]."""
    if z_dist == "uniform":
        return rng.uniform(-1.0, 1.0, (n, z_dim)).astype(np.float32)
    return rng.standard_normal((n, z_dim), dtype=np.float32)


def z_from_seeds(seeds, z_dim: int, z_dist: str = "gaussian") -> np.ndarray:
    """One latent per seed, each from its own RandomState so it does not depend on the others."""
    z = np.empty((len(seeds), z_dim), np.float32)
    for i, s in enumerate(seeds):
        rng = np.random.RandomState(int(s) % 2 ** 32)
        z[i] = rng.uniform(-1.0, 1.0, z_dim) if z_dist == "uniform" else rng.standard_normal(z_dim)
    return z
