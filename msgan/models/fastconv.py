"""Convolutions as slices + one matrix multiply, for CPUs where MindSpore's conv kernels are slow.

MindSpore 2.10's CPU kernels for spatial (k > 1) convolutions and transposed convolutions run at
~0.5 GFLOP/s here, while its MatMul runs at tens of GFLOP/s. These Cells compute exactly the
functions of ``nn.Conv2d(pad_mode="pad")`` and ``nn.Conv2dTranspose(pad_mode="pad")`` with the
same Parameters (created by the built-in Cell, so shapes, names and initialisation are identical
and checkpoints are interchangeable), but lower them to strided slices, ``ops.Pad``, reshapes,
transposes and MatMul. Those ops have plain gradients in graph mode and export to MindIR and
ONNX as ordinary Slice/Pad/Reshape/Transpose/MatMul nodes.

Internally the batch is moved next to the spatial axes, ``(C, N, H, W)``, so that both
convolutions become one 2-D GEMM over all pixels of the batch: ``(Cout, C*k*k) @ (C*k*k, N*H*W)``.
"""
from mindspore import nn, ops


def _pad(p_top, p_bottom, p_left, p_right):
    # ops.Pad, not ops.pad(mode="constant"): the latter's backward is wrong from the second jit call.
    return ops.Pad(((0, 0), (0, 0), (p_top, p_bottom), (p_left, p_right)))


def _taps(xp, k, stride, ho, wo):
    """The k*k shifted, strided views of a padded (C, N, Hp, Wp) tensor, as (C*k*k, N*ho*wo)."""
    c, n = xp.shape[0], xp.shape[1]
    cols = []
    for i in range(k):
        for j in range(k):
            v = ops.strided_slice(xp, (0, 0, i, j),
                                  (c, n, i + stride * (ho - 1) + 1, j + stride * (wo - 1) + 1),
                                  (1, 1, stride, stride))
            cols.append(v.reshape(c, 1, n * ho * wo))
    return ops.concat(cols, axis=1).reshape(c * k * k, n * ho * wo)


class Conv2d(nn.Cell):
    """``nn.Conv2d(cin, cout, k, stride, pad_mode="pad", padding=padding)`` as im2col + MatMul.

    Square kernels, symmetric integer padding, no dilation or groups: what the classic models use.
    """

    def __init__(self, in_channels, out_channels, kernel_size, stride=1, padding=0,
                 has_bias=False, weight_init=None, bias_init=None):
        super().__init__()
        ref = nn.Conv2d(in_channels, out_channels, kernel_size, stride, pad_mode="pad",
                        padding=padding, has_bias=has_bias, weight_init=weight_init,
                        bias_init=bias_init)
        self.weight = ref.weight          # (cout, cin, k, k), as the built-in Cell
        self.bias = ref.bias if has_bias else None
        self.in_channels, self.out_channels = in_channels, out_channels
        self.kernel_size, self.stride, self.padding = kernel_size, stride, padding
        self.has_bias = has_bias
        self.pad = _pad(padding, padding, padding, padding)

    def construct(self, x):
        n, c, h, w = x.shape
        k, s, p = self.kernel_size, self.stride, self.padding
        ho, wo = (h + 2 * p - k) // s + 1, (w + 2 * p - k) // s + 1
        xc = ops.transpose(x, (1, 0, 2, 3))
        if p > 0:
            xc = self.pad(xc)
        if k == 1:
            cols = ops.strided_slice(xc, (0, 0, 0, 0), (c, n, s * (ho - 1) + 1, s * (wo - 1) + 1),
                                     (1, 1, s, s)).reshape(c, n * ho * wo)
        else:
            cols = _taps(xc, k, s, ho, wo)
        y = ops.matmul(self.weight.reshape(self.out_channels, c * k * k), cols)
        y = y.reshape(self.out_channels, n, ho, wo)
        if self.has_bias:
            y = y + self.bias.reshape(-1, 1, 1, 1)
        return ops.transpose(y, (1, 0, 2, 3))


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
                 has_bias=False, weight_init=None, bias_init=None):
        super().__init__()
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
        self.pad_w = _pad(0, self.k_pad, 0, self.k_pad)
        self.pad_a = _pad(self.q - 1, self.q - 1, self.q - 1, self.q - 1)

    def construct(self, x):
        n, c, h, w = x.shape
        k, s, p, q = self.kernel_size, self.stride, self.padding, self.q
        cout = self.out_channels
        ho, wo = (h - 1) * s - 2 * p + k, (w - 1) * s - 2 * p + k
        wgt = self.weight
        if self.k_pad > 0:
            wgt = self.pad_w(wgt)
        kk = q * s
        # (cin, cout, kk, kk) → (cout*kk*kk, cin): one row per (output channel, tap).
        wt = ops.transpose(wgt.reshape(c, cout * kk * kk), (1, 0))
        if h == 1 and w == 1:
            # 1×1 input (the z → 4×4 layer): the taps are the output pixels; no overlap to add.
            a = ops.matmul(x.reshape(n, c), ops.transpose(wt, (1, 0)))   # (n, cout*kk*kk)
            y = a.reshape(n, cout, kk, kk)
            y = ops.strided_slice(y, (0, 0, p, p), (n, cout, p + ho, p + wo), (1, 1, 1, 1))
        else:
            xc = ops.transpose(x, (1, 0, 2, 3)).reshape(c, n * h * w)
            a = ops.matmul(wt, xc).reshape(cout * kk * kk, n, h, w)
            if q > 1:
                a = self.pad_a(a)                       # room for shifts of 0..q-1 rows/cols
            a = a.reshape(cout, q, s, q, s, n, h + 2 * (q - 1), w + 2 * (q - 1))
            hz, wz = h + q - 1, w + q - 1               # rows/cols per phase before cropping
            z = None
            for qy in range(q):
                for qx in range(q):
                    # Z[m] += A_q[m - q]: in the padded plane that starts at row (q-1) - qy.
                    oy, ox = q - 1 - qy, q - 1 - qx
                    v = ops.strided_slice(a, (0, qy, 0, qx, 0, 0, oy, ox),
                                          (cout, qy + 1, s, qx + 1, s, n, oy + hz, ox + wz),
                                          (1, 1, 1, 1, 1, 1, 1, 1))
                    z = v if z is None else z + v
            # z: (cout, 1, ry, 1, rx, n, hz, wz) → (n, cout, hz, ry, wz, rx) = pixel shuffle.
            z = z.reshape(cout, s, s, n, hz, wz)
            y = ops.transpose(z, (3, 0, 4, 1, 5, 2)).reshape(n, cout, hz * s, wz * s)
            y = ops.strided_slice(y, (0, 0, p, p), (n, cout, p + ho, p + wo), (1, 1, 1, 1))
        if self.has_bias:
            y = y + self.bias.reshape(1, -1, 1, 1)
        return y
