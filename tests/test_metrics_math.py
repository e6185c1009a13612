"""FID, KID and precision/recall checked against closed forms and brute-force references."""
import numpy as np
import pytest

from msgan.errors import MsganError
from msgan.metrics import stats


def _sqrtm_psd(a):
    w, v = np.linalg.eigh(a)
    return (v * np.sqrt(np.clip(w, 0, None))) @ v.T


def _frechet_reference(mu1, s1, mu2, s2):
    # Symmetric form Tr(S1 + S2 - 2 (S1^½ S2 S1^½)^½), computed with eigh only.
    r = _sqrtm_psd(s1)
    return float(((mu1 - mu2) ** 2).sum() + np.trace(s1) + np.trace(s2)
                 - 2 * np.trace(_sqrtm_psd(r @ s2 @ r)))


def _random_cov(rng, d):
    a = rng.normal(size=(d, d))
    return a @ a.T / d + 0.1 * np.eye(d)


def test_frechet_distance_closed_form_diagonal():
    mu1, mu2 = np.array([0.0, 1.0, 2.0]), np.array([1.0, 1.0, 0.0])
    v1, v2 = np.array([1.0, 4.0, 9.0]), np.array([4.0, 1.0, 1.0])
    expected = 1 + 0 + 4 + ((np.sqrt(v1) - np.sqrt(v2)) ** 2).sum()
    assert stats.frechet_distance(mu1, np.diag(v1), mu2, np.diag(v2)) == pytest.approx(expected)


def test_frechet_distance_matches_symmetric_form_for_full_covariances():
    rng = np.random.default_rng(1)
    mu1, mu2 = rng.normal(size=6), rng.normal(size=6)
    s1, s2 = _random_cov(rng, 6), _random_cov(rng, 6)
    assert stats.frechet_distance(mu1, s1, mu2, s2) == pytest.approx(
        _frechet_reference(mu1, s1, mu2, s2), rel=1e-6)


def test_fid_of_samples_approaches_closed_form():
    rng = np.random.default_rng(2)
    mu1, mu2 = np.zeros(4), np.array([1.0, 0.0, -1.0, 0.5])
    s1, s2 = _random_cov(rng, 4), _random_cov(rng, 4)
    a = rng.multivariate_normal(mu1, s1, size=20000)
    b = rng.multivariate_normal(mu2, s2, size=20000)
    expected = _frechet_reference(mu1, s1, mu2, s2)
    assert stats.fid(a, b) == pytest.approx(expected, rel=0.05)


def test_fid_identical_sets_is_zero_even_when_singular():
    rng = np.random.default_rng(3)
    a = rng.normal(size=(500, 8))
    assert abs(stats.fid(a, a)) < 1e-6
    few = rng.normal(size=(5, 32))          # D > N: singular covariance, sqrtm needs care
    assert abs(stats.fid(few, few)) < 1e-3
    assert np.isfinite(stats.fid(few, rng.normal(size=(6, 32))))


def _mmd2_unbiased_reference(x, y):
    d = x.shape[1]
    k = lambda a, b: (a @ b / d + 1) ** 3
    m = len(x)
    kxx = sum(k(x[i], x[j]) for i in range(m) for j in range(m) if i != j) / (m * (m - 1))
    kyy = sum(k(y[i], y[j]) for i in range(m) for j in range(m) if i != j) / (m * (m - 1))
    kxy = sum(k(x[i], y[j]) for i in range(m) for j in range(m)) / (m * m)
    return kxx + kyy - 2 * kxy


def test_kid_single_full_subset_equals_unbiased_mmd():
    rng = np.random.default_rng(4)
    real, fake = rng.normal(size=(12, 5)), rng.normal(0.5, 1.0, size=(12, 5))
    value, std = stats.kid(real, fake, num_subsets=1, max_subset_size=1000)
    assert value == pytest.approx(_mmd2_unbiased_reference(fake, real), rel=1e-9)
    assert std == 0.0


def test_kid_of_a_set_against_itself_is_the_small_negative_closed_form():
    rng = np.random.default_rng(8)
    a = rng.normal(size=(30, 6))
    k = (a @ a.T / 6 + 1) ** 3
    off = (k.sum() - np.trace(k)) / (30 * 29)
    # x and y are permutations of one set: MMD²_u = 2/m (mean off-diagonal - mean diagonal).
    expected = 2 / 30 * (off - np.trace(k) / 30)
    assert stats.kid(a, a, num_subsets=3)[0] == pytest.approx(expected, rel=1e-9)


def test_kid_is_unbiased_on_same_distribution_and_positive_when_shifted():
    rng = np.random.default_rng(5)
    same, biased = [], []
    d, n = 16, 40
    for i in range(300):
        a, b = rng.normal(size=(n, d)), rng.normal(size=(n, d))
        same.append(stats.kid(a, b, num_subsets=1, seed=i)[0])
        # The biased V-statistic keeps the diagonal; it sits clearly above zero.
        ka, kb, kab = ((a @ a.T / d + 1) ** 3, (b @ b.T / d + 1) ** 3, (a @ b.T / d + 1) ** 3)
        biased.append(ka.mean() + kb.mean() - 2 * kab.mean())
    same = np.array(same)
    stderr = same.std() / np.sqrt(len(same))
    assert abs(same.mean()) < 3 * stderr
    assert (same < 0).any()
    assert np.mean(biased) > 10 * stderr
    shifted = stats.kid(rng.normal(size=(n, d)), rng.normal(1.0, 1.0, size=(n, d)))[0]
    assert shifted > same.max()


def test_kid_subsets_are_seeded_and_capped():
    rng = np.random.default_rng(6)
    a, b = rng.normal(size=(50, 4)), rng.normal(0.3, 1.0, size=(70, 4))
    assert stats.kid(a, b, num_subsets=10, max_subset_size=20, seed=1) == \
        stats.kid(a, b, num_subsets=10, max_subset_size=20, seed=1)
    mean, std = stats.kid(a, b, num_subsets=10, max_subset_size=20, seed=1)
    assert std > 0 and mean > 0


def _pr_reference(real, fake, k):
    def inside(manifold, probe):
        radius = [sorted(np.linalg.norm(manifold - p, axis=1))[k] for p in manifold]
        return np.mean([any(np.linalg.norm(p - q) <= r for q, r in zip(manifold, radius))
                        for p in probe])
    return inside(real, fake), inside(fake, real)


def test_precision_recall_limits_and_reference():
    rng = np.random.default_rng(7)
    real = rng.normal(size=(30, 3))
    assert stats.precision_recall(real, real, k=3) == (1.0, 1.0)
    assert stats.precision_recall(real, real + 100.0, k=3) == (0.0, 0.0)
    # Mode dropping: fakes cover a third of the reals → high precision, low recall.
    fake = np.concatenate([real[:10] + rng.normal(0, 0.01, size=(10, 3)),
                           rng.normal(50.0, 1.0, size=(5, 3))])
    got = stats.precision_recall(real, fake, k=3, chunk=7)   # small chunk exercises the loop
    assert got == pytest.approx(_pr_reference(real, fake, 3))
    assert got[0] == pytest.approx(10 / 15)


def test_bad_shapes_and_too_few_images_raise_msgan_error():
    with pytest.raises(MsganError, match="same D"):
        stats.fid(np.zeros((5, 3)), np.zeros((5, 4)))
    with pytest.raises(MsganError, match="at least 4"):
        stats.precision_recall(np.zeros((3, 2)), np.zeros((10, 2)))
