"""Distances between two sets of feature vectors: FID, KID and improved precision/recall.

Pure numpy/scipy so they can be checked against closed forms and reused with any extractor.
Features are float arrays of shape (N, D); the real set always comes first.
"""
from __future__ import annotations

import warnings

import numpy as np
import scipy.linalg

from msgan.errors import MsganError


def _check_pair(real: np.ndarray, fake: np.ndarray, min_n: int, what: str) -> tuple:
    real = np.asarray(real, dtype=np.float64)
    fake = np.asarray(fake, dtype=np.float64)
    if real.ndim != 2 or fake.ndim != 2 or real.shape[1] != fake.shape[1]:
        raise MsganError(f"{what} needs two feature arrays of shape (N, D) with the same D, got "
                         f"{real.shape} and {fake.shape} — extract both with the same extractor")
    if len(real) < min_n or len(fake) < min_n:
        raise MsganError(f"{what} needs at least {min_n} images on each side, got {len(real)} real "
                         f"and {len(fake)} generated — add images")
    return real, fake


def frechet_distance(mu1, sigma1, mu2, sigma2, eps: float = 1e-6) -> float:
    """||mu1 - mu2||² + Tr(S1 + S2 - 2 (S1 S2)^½) between two Gaussians."""
    mu1, mu2 = np.atleast_1d(mu1).astype(np.float64), np.atleast_1d(mu2).astype(np.float64)
    sigma1 = np.atleast_2d(sigma1).astype(np.float64)
    sigma2 = np.atleast_2d(sigma2).astype(np.float64)
    diff = mu1 - mu2
    with warnings.catch_warnings():
        # A singular product (fewer images than dimensions) warns; the check below handles it.
        warnings.simplefilter("ignore", scipy.linalg.LinAlgWarning)
        covmean = scipy.linalg.sqrtm(sigma1 @ sigma2)
    if not np.isfinite(covmean).all():
        # Near-singular products (few samples, D > N) make sqrtm blow up; a tiny ridge fixes it,
        # as in the reference TF and pytorch-fid implementations.
        offset = np.eye(sigma1.shape[0]) * eps
        covmean = scipy.linalg.sqrtm((sigma1 + offset) @ (sigma2 + offset))
    # Round-off gives sqrtm a small imaginary part; it carries no information.
    covmean = np.real(covmean)
    return float(diff @ diff + np.trace(sigma1) + np.trace(sigma2) - 2.0 * np.trace(covmean))


def fid(real_features, fake_features) -> float:
    """Fréchet Inception Distance (Heusel et al. 2017) between two feature sets."""
    real, fake = _check_pair(real_features, fake_features, 2, "FID")
    return frechet_distance(real.mean(0), np.cov(real, rowvar=False),
                            fake.mean(0), np.cov(fake, rowvar=False))


def kid(real_features, fake_features, num_subsets: int = 100, max_subset_size: int = 1000,
        seed: int = 0) -> tuple:
    """Kernel Inception Distance (Bińkowski et al. 2018), as SG2A's kid50k computes it.

    Unbiased MMD² with the cubic polynomial kernel k(x, y) = (x·y / d + 1)³, averaged over
    ``num_subsets`` random subsets of m = min(n_real, n_fake, max_subset_size) from each set.
    Unbiased means it can come out slightly negative when both sets share one distribution.
    Returns (mean, std over subsets).
    """
    real, fake = _check_pair(real_features, fake_features, 2, "KID")
    rng = np.random.default_rng(seed)
    d = real.shape[1]
    m = min(len(real), len(fake), max_subset_size)
    values = np.empty(num_subsets)
    for i in range(num_subsets):
        x = fake[rng.choice(len(fake), m, replace=False)]
        y = real[rng.choice(len(real), m, replace=False)]
        a = (x @ x.T / d + 1) ** 3 + (y @ y.T / d + 1) ** 3
        b = (x @ y.T / d + 1) ** 3
        values[i] = ((a.sum() - np.diag(a).sum()) / (m - 1) - b.sum() * 2 / m) / m
    return float(values.mean()), float(values.std())


def _pairwise_sq_dists(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    d = (a * a).sum(1)[:, None] - 2.0 * a @ b.T + (b * b).sum(1)[None, :]
    return np.maximum(d, 0.0)


def _knn_radii(features: np.ndarray, k: int, chunk: int) -> np.ndarray:
    """Squared distance from each point to its k-th nearest other point of the same set."""
    radii = np.empty(len(features))
    for s in range(0, len(features), chunk):
        d = _pairwise_sq_dists(features[s:s + chunk], features)
        # Column 0 after sorting is the point itself (distance 0), so the k-th neighbour is at k.
        radii[s:s + chunk] = np.partition(d, k, axis=1)[:, k]
    return radii


def _coverage(manifold: np.ndarray, radii: np.ndarray, probes: np.ndarray, chunk: int) -> float:
    """Fraction of ``probes`` inside at least one k-NN ball of ``manifold``."""
    inside = np.empty(len(probes), dtype=bool)
    for s in range(0, len(probes), chunk):
        d = _pairwise_sq_dists(probes[s:s + chunk], manifold)
        inside[s:s + chunk] = (d <= radii[None, :]).any(axis=1)
    return float(inside.mean())


def precision_recall(real_features, fake_features, k: int = 3, chunk: int = 1024) -> tuple:
    """Improved precision and recall (Kynkäänniemi et al. 2019) with k-NN manifolds.

    Precision: share of generated samples inside the real manifold (fidelity).
    Recall: share of real samples inside the generated manifold (coverage).
    """
    real, fake = _check_pair(real_features, fake_features, k + 1, "precision/recall")
    precision = _coverage(real, _knn_radii(real, k, chunk), fake, chunk)
    recall = _coverage(fake, _knn_radii(fake, k, chunk), real, chunk)
    return precision, recall
