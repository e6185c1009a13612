"""Convolutions as slices + one matrix multiply, for CPUs where MindSpore's conv kernels are slow.

MindSpore 2.10's CPU kernels for spatial (k > 1) convolutions and transposed convolutions run at
~0.7 GFLOP/s here (oneDNN's reference kernel, benchmarks/probe_cpu_conv.py), while its MatMul
runs at tens of GFLOP/s. These Cells compute exactly the functions of
``nn.Conv2d(pad_mode="pad")`` and ``nn.Conv2dTranspose(pad_mode="pad")`` with the same Parameters (created by the built-in Cell, so shapes, names and initialisation are identical
and checkpoints are interchangeable), but lower them to contiguous slices, concatenation with
zeros, reshapes, transposes and MatMul. Those ops have plain gradients in graph mode and export to
MindIR and ONNX as ordinary Slice/Concat/Reshape/Transpose/MatMul nodes. StridedSlice and the Pad
kernel are avoided: on this CPU each is ~5-10x slower than Slice or Concat of the same size.

Internally the batch is moved next to the spatial axes, ``(C, N, H, W)``, so that both
convolutions become one 2-D GEMM over all pixels of the batch: ``(Cout, C*k*k) @ (C*k*k, N*H*W)``.

Where a C++ compiler is available the columns are built and folded back by compiled kernels
(``conv_kernels``: one pass over memory instead of many slices, concatenations and their
gradients), which leaves the GEMMs as most of the work. Exports must not depend on them: wrap an
export in ``portable(net)`` (this lowering, for MindIR files that MindSpore runs on CPU) or
``portable(net, native_ops=True)`` (plain Conv2D / Conv2DTranspose operators, for ONNX: its
runtimes have fast convolution kernels of their own).
"""
import contextlib

import mindspore as ms
from mindspore import nn, ops

from msgan.ops import conv_kernels, device

# Concat with zeros: ~10x faster than the Pad kernel on MindSpore 2.10 CPU and, unlike ops.pad's
# constant mode, its backward stays right over repeated jit calls.
from msgan.ops.lowering import zero_pad as _zero_pad


class _MatMul(nn.Cell):
    """``a @ b`` (or ``a.T @ b`` with ``transpose_a``) whose backward uses MatMul's transpose flags.

    MindSpore 2.10's own MatMul gradient for the weight side is ~4x slower on CPU than a MatMul
    with ``transpose_b=True`` (it materialises the transpose); for a (128, 1024) @ (1024, 4096)
    product the forward+backward went from 176 ms to 47 ms with this bprop.
    """

    def __init__(self, transpose_a: bool = False):
        super().__init__()
        self.transpose_a = transpose_a
        self.matmul = ops.MatMul(transpose_a=transpose_a)
        self.matmul_nn = ops.MatMul()
        self.matmul_ta = ops.MatMul(transpose_a=True)
        self.matmul_tb = ops.MatMul(transpose_b=True)

    def construct(self, a, b):
        return self.matmul(a, b)

    def bprop(self, a, b, out, dout):
        if self.transpose_a:      # out = a.T @ b
            return self.matmul_tb(b, dout), self.matmul_nn(a, dout)
        return self.matmul_tb(dout, b), self.matmul_ta(a, dout)


def _kernel_library():
    """The compiled im2col/col2im library on CPU, else None (other devices keep their convs)."""
    if not device.is_cpu():
        return None
    return conv_kernels.library()


def cells_of(net: nn.Cell) -> list:
    """The fastconv Cells inside ``net``."""
    return [c for _, c in net.cells_and_names() if isinstance(c, (Conv2d, ConvTranspose2d))]


@contextlib.contextmanager
def portable(net: nn.Cell, native_ops: bool = False):
    """Within the block, ``net``'s fastconv Cells use only standard MindSpore operators.

    For exports: MindIR and ONNX files must not depend on a library compiled on this machine.
    ``native_ops`` makes them plain Conv2D / Conv2DTranspose operators (same function, same
    Parameters) instead of this module's slices + MatMul.
    """
    cells = cells_of(net)
    saved = [(c.use_kernels, c.native_ops) for c in cells]
    for c in cells:
        c.use_kernels, c.native_ops = False, native_ops
    try:
        yield net
    finally:
        for c, (kernels, native) in zip(cells, saved):
            c.use_kernels, c.native_ops = kernels, native


def _check_pad_mode(pad_mode, padding):
    # "valid" is accepted so these Cells drop in where nn.Conv2d(..., pad_mode="valid") was used.
    if pad_mode not in ("pad", "valid") or (pad_mode == "valid" and padding != 0):
        raise ValueError(f"fastconv supports pad_mode 'pad' or 'valid' (padding 0), "
                         f"got {pad_mode!r} with padding {padding}")


def _fit(x, axis, before, size):
    """``x`` padded with ``before`` zeros along ``axis`` and then padded or cut to ``size``."""
    x = _zero_pad(x, axis, before, max(0, size - before - x.shape[axis]))
    if x.shape[axis] > size:
        begin = [0] * x.ndim
        extent = list(x.shape)
        extent[axis] = size
        x = ops.slice(x, tuple(begin), tuple(extent))     # Slice: much faster than StridedSlice
    return x


class Conv2d(nn.Cell):
    """``nn.Conv2d(cin, cout, k, stride, pad_mode="pad", padding=padding)`` as im2col + MatMul.

    Square kernels, symmetric integer padding, no dilation or groups: what the classic models use.
    Strided taps are read without strided slices: the padded input is split into its ``s*s``
    sub-pixel planes (space-to-depth, a reshape + transpose), after which a ``k``-tap, stride-``s``
    conv is a ``ceil(k/s)``-tap, stride-1 conv over ``C*s*s`` channels, whose taps are plain
    contiguous slices. The weight is permuted (and zero-extended to a multiple of ``s``) to match.
    """

    def __init__(self, in_channels, out_channels, kernel_size, stride=1, padding=0,
                 has_bias=False, weight_init=None, bias_init=None, pad_mode="pad"):
        super().__init__()
        _check_pad_mode(pad_mode, padding)
        ref = nn.Conv2d(in_channels, out_channels, kernel_size, stride, pad_mode="pad",
                        padding=padding, has_bias=has_bias, weight_init=weight_init,
                        bias_init=bias_init)
        self.weight = ref.weight          # (cout, cin, k, k), as the built-in Cell
        self.bias = ref.bias if has_bias else None
        self.in_channels, self.out_channels = in_channels, out_channels
        self.kernel_size, self.stride, self.padding = kernel_size, stride, padding
        self.has_bias = has_bias
        self.q = -(-kernel_size // stride)          # taps per axis after space-to-depth
        self.matmul = _MatMul()
        lib = _kernel_library()
        self.use_kernels = lib is not None
        if lib is not None:
            self.im2col = conv_kernels.Im2Col(lib, kernel_size, stride, padding)
        self.native_ops = False
        # tuple attributes, as nn.Conv2d passes them: MindSpore's ONNX exporter needs tuples
        self.conv_op = ops.Conv2D(out_channels, (kernel_size,) * 2, mode=1, pad_mode="pad",
                                  pad=(padding,) * 4, stride=(stride,) * 2, dilation=(1, 1))

    def _matrix(self, wgt):
        """Weight as (cout, q*q*cin*s*s), rows ordered like the columns built in construct."""
        cout, cin, k, s, q = self.out_channels, self.in_channels, self.kernel_size, self.stride, self.q
        if q * s > k:
            wgt = _zero_pad(_zero_pad(wgt, 2, 0, q * s - k), 3, 0, q * s - k)
        wgt = wgt.reshape(cout, cin, q, s, q, s)                 # ky = s*a + ry, kx = s*b + rx
        return ops.transpose(wgt, (0, 2, 4, 1, 3, 5)).reshape(cout, q * q * cin * s * s)

    def construct(self, x):
        return self.forward_with(x, self.weight)

    def forward_with(self, x, weight):
        """This conv with another (cout, cin, k, k) weight, e.g. a spectrally normalised one."""
        if self.native_ops:
            y = self.conv_op(x, weight)
        elif self.use_kernels and x.dtype == ms.float32:
            y = self._construct_kernels(x, weight)
        else:
            y = self._construct_portable(x, weight)
        if self.has_bias:
            y = y + self.bias.reshape(1, -1, 1, 1)
        return y

    def _construct_portable(self, x, weight):
        n, c, h, w = x.shape
        k, s, p, q = self.kernel_size, self.stride, self.padding, self.q
        cout = self.out_channels
        ho, wo = (h + 2 * p - k) // s + 1, (w + 2 * p - k) // s + 1
        hh, wh = ho + q - 1, wo + q - 1             # sub-pixel plane size holding every tap
        x = _fit(_fit(x, 2, p, s * hh), 3, p, s * wh)
        # (n, c, hh, ry, wh, rx) → (c, ry, rx, n, hh, wh): space-to-depth, channel-major.
        x = ops.transpose(x.reshape(n, c, hh, s, wh, s), (1, 3, 5, 0, 2, 4))
        x = x.reshape(c * s * s, n, hh, wh)
        if q == 1:
            cols = x.reshape(c * s * s, n * ho * wo)
        else:
            taps = []
            for a in range(q):
                for b in range(q):
                    taps.append(ops.slice(x, (0, 0, a, b), (c * s * s, n, ho, wo)))
            cols = ops.concat(taps, 0).reshape(q * q * c * s * s, n * ho * wo)
        y = self.matmul(self._matrix(weight), cols).reshape(cout, n, ho, wo)
        return ops.transpose(y, (1, 0, 2, 3))

    def _construct_kernels(self, x, weight):
        cols = self.im2col(x)                                   # (c, k, k, n, ho, wo)
        c, k, _, n, ho, wo = cols.shape
        cout = self.out_channels
        # The weight's (cout, cin, k, k) layout is already the rows the columns need.
        y = self.matmul(weight.reshape(cout, c * k * k), cols.reshape(c * k * k, n * ho * wo))
        return ops.transpose(y.reshape(cout, n, ho, wo), (1, 0, 2, 3))


class ConvTranspose2d(nn.Cell):
    """``nn.Conv2dTranspose(cin, cout, k, stride, pad_mode="pad", padding=padding)`` as MatMul +
    overlap-add ("col2im"), without the zeros that zero-insertion would multiply.

    One GEMM gives every kernel tap's contribution ``A[o, ty, tx, n, i, j] = sum_c W[c, o, ty, tx]
    x[n, c, i, j]``. Output row ``s*i + t - p`` receives tap ``t`` of input row ``i``; writing
    ``t = s*q + r`` splits the output into ``s`` phases ``r`` (sub-pixel decomposition), each a sum
    over ``q`` of the tap planes shifted by ``q`` rows; the phases are then interleaved by a
    reshape/transpose (pixel shuffle) and the result is cropped by ``p``.
    """

    def __init__(self, in_channels, out_channels, kernel_size=4, stride=2, padding=1,
                 has_bias=False, weight_init=None, bias_init=None, pad_mode="pad"):
        super().__init__()
        if pad_mode == "valid":
            padding = 0
        _check_pad_mode(pad_mode, padding)
        ref = nn.Conv2dTranspose(in_channels, out_channels, kernel_size, stride, pad_mode="pad",
                                 padding=padding, has_bias=has_bias, weight_init=weight_init,
                                 bias_init=bias_init)
        self.weight = ref.weight          # (cin, cout, k, k), as the built-in Cell
        self.bias = ref.bias if has_bias else None
        self.in_channels, self.out_channels = in_channels, out_channels
        self.kernel_size, self.stride, self.padding = kernel_size, stride, padding
        self.has_bias = has_bias
        self.q = -(-kernel_size // stride)          # taps per phase along one axis
        # Kernels whose size is not a multiple of the stride get zero taps appended (exact).
        self.k_pad = self.q * stride - kernel_size
        self.matmul = _MatMul()
        lib = _kernel_library()
        self.use_kernels = lib is not None
        if lib is not None:
            self.matmul_ta = _MatMul(transpose_a=True)
            self.col2im = conv_kernels.Col2Im(lib, kernel_size, stride, padding)
        self.native_ops = False
        # as nn.Conv2dTranspose builds it: the backward-input op of a conv with in_channels outputs
        self.conv_transpose_op = ops.Conv2DTranspose(in_channels, (kernel_size,) * 2, mode=1,
                                                     pad_mode="pad", pad=(padding,) * 4,
                                                     stride=(stride,) * 2, dilation=(1, 1))

    def construct(self, x):
        n, c, h, w = x.shape
        if self.native_ops:
            k, s, p = self.kernel_size, self.stride, self.padding
            out_shape = (n, self.out_channels, (h - 1) * s - 2 * p + k, (w - 1) * s - 2 * p + k)
            y = self.conv_transpose_op(x, self.weight, out_shape)
        elif self.use_kernels and x.dtype == ms.float32 and not (h == 1 and w == 1):
            # every tap's products in one GEMM, (cout*k*k, n*h*w), then the compiled overlap-add
            cout, k = self.out_channels, self.kernel_size
            xc = ops.transpose(x, (1, 0, 2, 3)).reshape(c, n * h * w)
            a = self.matmul_ta(self.weight.reshape(c, cout * k * k), xc)
            y = self.col2im(a.reshape(cout, k, k, n, h, w))
        else:
            y = self._construct_portable(x)
        if self.has_bias:
            y = y + self.bias.reshape(1, -1, 1, 1)
        return y

    def _construct_portable(self, x):
        n, c, h, w = x.shape
        k, s, p, q = self.kernel_size, self.stride, self.padding, self.q
        cout = self.out_channels
        ho, wo = (h - 1) * s - 2 * p + k, (w - 1) * s - 2 * p + k
        wgt = self.weight
        if self.k_pad > 0:
            wgt = _zero_pad(_zero_pad(wgt, 2, 0, self.k_pad), 3, 0, self.k_pad)
        kk = q * s
        if h == 1 and w == 1:
            # 1×1 input (the z → 4×4 layer): the taps are the output pixels; no overlap to add.
            a = self.matmul(x.reshape(n, c), wgt.reshape(c, cout * kk * kk))
            y = a.reshape(n, cout, kk, kk)
            y = ops.slice(y, (0, 0, p, p), (n, cout, ho, wo))
        else:
            # (cin, cout, kk, kk) → (cout*kk*kk, cin): one row per (output channel, tap).
            wt = ops.transpose(wgt.reshape(c, cout * kk * kk), (1, 0))
            xc = ops.transpose(x, (1, 0, 2, 3)).reshape(c, n * h * w)
            a = self.matmul(wt, xc).reshape(cout * kk * kk, n, h, w)
            # room for shifts of 0..q-1 rows/cols
            a = _zero_pad(_zero_pad(a, 2, q - 1, q - 1), 3, q - 1, q - 1)
            a = a.reshape(cout, q, s, q, s, n, h + 2 * (q - 1), w + 2 * (q - 1))
            hz, wz = h + q - 1, w + q - 1               # rows/cols per phase before cropping
            z = None
            for qy in range(q):
                for qx in range(q):
                    # Z[m] += A_q[m - q]: in the padded plane that starts at row (q-1) - qy.
                    oy, ox = q - 1 - qy, q - 1 - qx
                    v = ops.slice(a, (0, qy, 0, qx, 0, 0, oy, ox),
                                  (cout, 1, s, 1, s, n, hz, wz))
                    z = v if z is None else z + v
            # z: (cout, 1, ry, 1, rx, n, hz, wz) → (n, cout, hz, ry, wz, rx) = pixel shuffle.
            z = z.reshape(cout, s, s, n, hz, wz)
            y = ops.transpose(z, (3, 0, 4, 1, 5, 2)).reshape(n, cout, hz * s, wz * s)
            y = ops.slice(y, (0, 0, p, p), (n, cout, ho, wo))
        return y
