"""The compiled im2col/col2im kernels: exact against numpy, adjoint to each other, built once per
cache, and a clean fallback to the pure-MindSpore lowering when they cannot be built."""
import logging
import os
import stat
import tempfile

import numpy as np
import pytest
import mindspore as ms
from mindspore import Tensor

from msgan.ops import conv_kernels, fastconv

ms.set_context(mode=ms.GRAPH_MODE)


@pytest.fixture
def fresh_library(monkeypatch, tmp_path):
    """library() re-evaluated under this test's environment, with its own cache folder."""
    monkeypatch.setenv("MSGAN_CACHE_DIR", str(tmp_path / "cache"))
    conv_kernels.library.cache_clear()
    yield tmp_path
    conv_kernels.library.cache_clear()       # later tests see the real environment again


def _library():
    lib = conv_kernels.library()
    if lib is None:
        pytest.skip("no C++ compiler: the conv kernels cannot be built here")
    return lib


def _im2col_numpy(x, k, s, p):
    n, c, h, w = x.shape
    oh, ow = (h + 2 * p - k) // s + 1, (w + 2 * p - k) // s + 1
    xp = np.pad(x, ((0, 0), (0, 0), (p, p), (p, p)))
    cols = np.empty((c, k, k, n, oh, ow), x.dtype)
    for ky in range(k):
        for kx in range(k):
            tap = xp[:, :, ky:ky + s * (oh - 1) + 1:s, kx:kx + s * (ow - 1) + 1:s]
            cols[:, ky, kx] = tap.transpose(1, 0, 2, 3)
    return cols


GEOMETRIES = [  # k, s, p, input (n, c, h, w)
    (4, 2, 1, (3, 2, 8, 8)),
    (3, 1, 1, (2, 3, 5, 7)),
    (3, 2, 1, (2, 2, 9, 6)),      # floor division drops a row and a column
    (5, 3, 2, (1, 2, 11, 10)),
    (1, 1, 0, (2, 4, 3, 3)),
    (4, 1, 3, (1, 1, 2, 2)),      # padding wider than the image
]


@pytest.mark.parametrize("k,s,p,shape", GEOMETRIES)
def test_im2col_matches_numpy_and_col2im_is_its_adjoint(k, s, p, shape):
    lib = _library()
    rng = np.random.default_rng(0)
    x = rng.standard_normal(shape).astype(np.float32)
    im2col = conv_kernels.Im2Col(lib, k, s, p)
    cols = im2col(Tensor(x)).asnumpy()
    np.testing.assert_array_equal(cols, _im2col_numpy(x, k, s, p))

    # <im2col(x), c> == <x, col2im(c)>: the gradient the kernels give each other is exact.
    c = rng.standard_normal(cols.shape).astype(np.float32)
    back = im2col.col2im(Tensor(c), im2col.geom, Tensor(x)).asnumpy()
    assert back.shape == x.shape
    np.testing.assert_allclose((cols.astype(np.float64) * c).sum(),
                               (x.astype(np.float64) * back).sum(), rtol=1e-5)


def test_kernels_can_be_switched_off(fresh_library, monkeypatch):
    monkeypatch.setenv("MSGAN_CONV_KERNELS", "0")
    assert conv_kernels.library() is None
    conv = fastconv.Conv2d(3, 4, 4, 2, 1)
    assert conv.use_kernels is False
    assert conv(Tensor(np.ones((1, 3, 8, 8), np.float32))).shape == (1, 4, 4, 4)


@pytest.mark.parametrize("compiler", ["missing", "failing"])
def test_no_working_compiler_falls_back_with_one_log_line(fresh_library, monkeypatch, caplog,
                                                           compiler):
    if compiler == "missing":
        cxx = str(fresh_library / "no-such-g++")
    else:
        cxx = str(fresh_library / "broken-g++")
        with open(cxx, "w") as f:
            f.write("#!/bin/sh\necho 'fatal error: simulated' >&2\nexit 1\n")
        os.chmod(cxx, os.stat(cxx).st_mode | stat.S_IEXEC)
    monkeypatch.setenv("CXX", cxx)
    with caplog.at_level(logging.INFO, logger="msgan"):
        assert conv_kernels.library() is None
        assert conv_kernels.library() is None          # decided once per process
    lines = [r.getMessage() for r in caplog.records if "fastconv" in r.getMessage()]
    assert len(lines) == 1 and "pure-MindSpore" in lines[0]
    assert fastconv.ConvTranspose2d(4, 2, 4, 2, 1).use_kernels is False
    cache = fresh_library / "cache" / "kernels"
    assert not cache.exists() or not list(cache.iterdir())     # no half-built library left


def test_library_is_built_once_into_the_cache(fresh_library):
    path = _library()
    folder = fresh_library / "cache" / "kernels"
    assert os.path.dirname(path) == str(folder)
    assert [p.name for p in folder.iterdir()] == [os.path.basename(path)]   # no temp files
    built = os.stat(path).st_mtime_ns
    conv_kernels.library.cache_clear()                 # a new process, as far as the cache goes
    assert conv_kernels.library() == path
    assert os.stat(path).st_mtime_ns == built


def test_unwritable_cache_falls_back_to_a_temporary_folder(fresh_library, monkeypatch):
    blocker = fresh_library / "not-a-folder"
    blocker.write_text("a file where the cache folder would go")
    monkeypatch.setenv("MSGAN_CACHE_DIR", str(blocker / "cache"))
    monkeypatch.setattr(tempfile, "tempdir", str(fresh_library / "tmp"))
    path = _library()
    assert path.startswith(str(fresh_library / "tmp" / "msgan-kernels-"))
    assert fastconv.Conv2d(2, 3, 3, 1, 1).use_kernels is True


def test_pynative_keeps_each_geometry_apart():
    """PyNative caches a Custom op's inferred shape by function and input shapes; convs of
    different geometry on the same input must still get their own output shapes."""
    _library()
    x = Tensor(np.ones((2, 3, 8, 8), np.float32))
    ms.set_context(mode=ms.PYNATIVE_MODE)
    try:
        shapes = [fastconv.Conv2d(3, 4, k, s, p)(x).shape
                  for k, s, p in [(4, 2, 1), (3, 1, 1), (4, 2, 0), (3, 2, 1)]]
        back = [fastconv.ConvTranspose2d(3, 4, k, s, p)(x).shape
                for k, s, p in [(4, 2, 1), (3, 1, 1)]]
    finally:
        ms.set_context(mode=ms.GRAPH_MODE)
    assert shapes == [(2, 4, 4, 4), (2, 4, 8, 8), (2, 4, 3, 3), (2, 4, 4, 4)]
    assert back == [(2, 4, 16, 16), (2, 4, 8, 8)]
