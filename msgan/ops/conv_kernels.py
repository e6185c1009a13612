"""im2col / col2im as compiled CPU kernels (MindSpore "aot" Custom operators) for fastconv.

fastconv's pure-MindSpore lowering spends 45-80 % of a layer outside the GEMM, in the slices,
concatenations, transposes and their gradients that build and fold the columns
(benchmarks/RESULTS.md). ``conv_cols.cc`` does each of those in one pass over memory. It is
compiled with the system's C++ compiler on first use into a per-user cache
(``$MSGAN_CACHE_DIR``, else ``$XDG_CACHE_HOME/msgan``, else ``~/.cache/msgan``), keyed by the
source, the compiler and the CPU, so a second process or run loads it at once.

Without a compiler, when compiling fails, or with ``MSGAN_CONV_KERNELS=0`` in the environment,
``library()`` returns None and fastconv keeps its pure-MindSpore path (same results, slower);
a single log line says so.
"""
import ctypes
import functools
import hashlib
import logging
import os
import platform
import shutil
import subprocess
import tempfile

import numpy as np
from mindspore import Tensor, nn, ops

log = logging.getLogger("msgan")

SOURCE = os.path.join(os.path.dirname(os.path.abspath(__file__)), "conv_cols.cc")
# -march=native is safe because the cache key includes the CPU's model and feature flags.
FLAGS = ["-O3", "-march=native", "-std=c++17", "-shared", "-fPIC", "-pthread"]


def cache_dir() -> str:
    root = (os.environ.get("MSGAN_CACHE_DIR")
            or os.path.join(os.environ.get("XDG_CACHE_HOME") or os.path.expanduser("~/.cache"),
                            "msgan"))
    return os.path.join(root, "kernels")


def _cpu_id() -> str:
    """The CPU model and feature flags (Linux), so a shared cache never runs another CPU's code."""
    try:
        with open("/proc/cpuinfo", encoding="utf-8", errors="replace") as f:
            lines = [ln for ln in f if ln.startswith(("model name", "flags", "Features"))]
        return "".join(sorted(set(lines)))
    except OSError:
        return platform.processor() or platform.machine()


def _compiler():
    return os.environ.get("CXX") or shutil.which("g++") or shutil.which("c++")


@functools.lru_cache(maxsize=None)
def library():
    """Path of the compiled kernel library, building it if needed; None when unavailable."""
    if os.environ.get("MSGAN_CONV_KERNELS", "1") == "0":
        return None
    cxx = _compiler()
    if cxx is None:
        log.info("fastconv: no C++ compiler (g++) found; convolutions use the slower "
                 "pure-MindSpore path. Install g++ for faster CPU training.")
        return None
    try:
        version = subprocess.run([cxx, "--version"], capture_output=True, text=True,
                                 timeout=60).stdout
        with open(SOURCE, "rb") as f:
            source = f.read()
        key = hashlib.sha256(b"\0".join([source, version.encode(), " ".join(FLAGS).encode(),
                                         _cpu_id().encode()])).hexdigest()[:16]
        return _build(cxx, key)
    except (OSError, subprocess.SubprocessError) as e:
        log.warning("fastconv: could not build the C++ conv kernels (%s); convolutions use the "
                    "slower pure-MindSpore path.", str(e).splitlines()[0] if str(e) else e)
        return None


def _folders():
    """The cache, then a per-user temporary folder for when the cache cannot be written."""
    user = os.getuid() if hasattr(os, "getuid") else "user"
    return [cache_dir(), os.path.join(tempfile.gettempdir(), f"msgan-kernels-{user}")]


def _build(cxx: str, key: str) -> str:
    name = f"conv_cols-{key}.so"
    for folder in _folders():
        if os.path.exists(os.path.join(folder, name)):
            return os.path.join(folder, name)
    for folder in _folders():
        try:
            os.makedirs(folder, exist_ok=True)
            fd, tmp = tempfile.mkstemp(suffix=".so", dir=folder)
        except OSError:
            continue
        os.close(fd)
        return _compile(cxx, tmp, os.path.join(folder, name))
    raise OSError(f"no writable folder for them (tried {', '.join(_folders())})")


def _compile(cxx: str, tmp: str, path: str) -> str:
    """Build into ``tmp``, then rename it to ``path``: processes starting together
    (data-parallel ranks, test workers) never load a half-written library."""
    try:
        done = subprocess.run([cxx, *FLAGS, "-o", tmp, SOURCE], capture_output=True, text=True,
                              timeout=300)
        if done.returncode != 0:
            lines = (done.stderr or done.stdout).strip().splitlines()
            raise OSError(f"{os.path.basename(cxx)} failed: "
                          f"{lines[-1] if lines else f'exit code {done.returncode}'}")
        ctypes.CDLL(tmp)                     # loads, and exports what MindSpore will look up
        os.replace(tmp, path)
    finally:
        if os.path.exists(tmp):
            os.remove(tmp)
    return path


def _same_dtype(*dtypes):
    return dtypes[0]


def _columns_shape(k: int, s: int, p: int):
    """out_shape of Im2Col: the columns of an (N, C, H, W) input."""
    def shape(x_shape, geom_shape):
        n, c, h, w = x_shape
        return [c, k, k, n, (h + 2 * p - k) // s + 1, (w + 2 * p - k) // s + 1]
    return shape


def _custom(lib: str, func: str, out_shape, k: int, s: int, p: int):
    op = ops.Custom(f"{lib}:{func}", out_shape=out_shape, out_dtype=_same_dtype, func_type="aot")
    # PyNative mode caches a Custom op's inferred shape per function and input shapes, not per
    # out_shape callable: without an attribute naming the geometry, a k=3 conv after a k=4 one
    # on the same input would get the k=4 output shape.
    op.add_prim_attr("geometry", f"k{k}s{s}p{p}")
    return op


class Im2Col(nn.Cell):
    """``x (N, C, H, W)`` → columns ``(C, k, k, N, OH, OW)`` of a k×k, stride s, padding p conv.

    Its gradient is the overlap-add ``Col2Im`` onto ``x``'s shape. float32 only.
    """

    def __init__(self, lib: str, kernel_size: int, stride: int, padding: int):
        super().__init__()
        k, s, p = kernel_size, stride, padding
        self.geom = Tensor(np.array([s, p], np.int32))

        def like_shape(cols_shape, geom_shape, like_shape_):
            return list(like_shape_)

        self.im2col = _custom(lib, "Im2Col", _columns_shape(k, s, p), k, s, p)
        self.col2im = _custom(lib, "Col2Im", like_shape, k, s, p)

    def construct(self, x):
        return self.im2col(x, self.geom)

    def bprop(self, x, out, dout):
        return (self.col2im(dout, self.geom, x),)


class Col2Im(nn.Cell):
    """Columns ``(C, k, k, N, H, W)`` → the image ``(N, C, (H-1)s - 2p + k, ...)`` they add up to.

    This is a transposed convolution's output from its per-tap products. Its gradient is
    ``Im2Col`` of the output gradient. float32 only.
    """

    def __init__(self, lib: str, kernel_size: int, stride: int, padding: int):
        super().__init__()
        k, s, p = kernel_size, stride, padding
        self.geom = Tensor(np.array([s, p], np.int32))

        def image_shape(cols_shape, geom_shape):
            c, _, _, n, h, w = cols_shape
            return [n, c, (h - 1) * s - 2 * p + k, (w - 1) * s - 2 * p + k]

        self.col2im = _custom(lib, "Col2Im", image_shape, k, s, p)
        self.im2col = _custom(lib, "Im2Col", _columns_shape(k, s, p), k, s, p)

    def construct(self, cols):
        return self.col2im(cols, self.geom)

    def bprop(self, cols, out, dout):
        return (self.im2col(dout, self.geom),)
