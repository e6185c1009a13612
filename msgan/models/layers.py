"""Small Cells shared by the classic models (MLP GAN, DCGAN)."""
import mindspore as ms
from mindspore import nn, ops


class ClassEmbedding(nn.Cell):
    """Label embedding that is a no-op (zero width) for unconditional models.

    Keeping one code path for both cases avoids two generator classes; with ``num_classes == 0``
    ``construct`` is never reached because callers test ``self.num_classes`` (a Python constant
    that graph mode folds away).
    """

    def __init__(self, num_classes: int, dim: int):
        super().__init__()
        self.embed = nn.Embedding(max(num_classes, 1), dim)

    def construct(self, c):
        return self.embed(c)


def class_head(ac_weight: float, features: int, num_classes: int):
    """D's auxiliary classifier (AC-GAN's): a Dense from D's pooled features to class logits.

    Built only when its loss is on (``model.ac_weight > 0``) and there are 2+ classes, so runs
    without it keep their parameter set (and their snapshots keep loading).
    """
    if ac_weight > 0 and num_classes > 1:
        return nn.Dense(features, num_classes)
    return None


class ResizeConv2d(nn.Cell):
    """Nearest-neighbour 2x upsampling followed by a 3x3 conv (padding 1), run as one transposed
    conv: 16 multiply-adds per input pixel instead of the 36 of upsample-then-conv.

    Each output pixel of upsample-then-conv reads a 2x2 patch of the input whose taps are sums of
    the 3x3 kernel's taps, which is what a 4x4, stride-2, padding-1 transposed conv computes. The
    4x4 kernel is ``A @ weight @ A.T`` per (out, in) channel pair, so the parameter, its gradient
    and the images are those of upsample-then-conv (tests/test_models_classic.py checks forward
    and gradients against the two-op form); the shipped configs/dcgan.yaml's whole train step
    ran 1.6-1.9x faster than with the two ops (benchmarks/bench_resize_conv.py).
    """

    # _TAPS[k4, k3]: the 3x3 taps (rows -1, 0, +1) that land on tap k4 of the 4x4 kernel, in the
    # layout of MindSpore's transposed conv (the gradient of a cross-correlation, not flipped).
    _TAPS = ((0, 0, 1), (0, 1, 1), (1, 1, 0), (1, 0, 0))

    def __init__(self, in_channels: int, out_channels: int, weight_init):
        super().__init__()
        self.out_channels = out_channels
        self.weight = ms.Parameter(ms.common.initializer.initializer(
            weight_init, (out_channels, in_channels, 3, 3), ms.float32), name="weight")
        self.taps = ms.Tensor(self._TAPS, ms.float32)
        # A transposed conv's kernel is laid out (in, out, k, k); out_channel names the channels
        # of the conv it is the gradient of, i.e. this layer's input.
        self.deconv = ops.Conv2DTranspose(out_channel=in_channels, kernel_size=4, pad_mode="pad",
                                          pad=1, stride=2)

    def construct(self, x):
        # Two plain (rows, 3) @ (3, 4) MatMuls: one batched 4x3 @ 3x3 per channel pair took
        # longer than the convs it feeds.
        cout, cin = self.weight.shape[0], self.weight.shape[1]
        cols = ops.matmul(self.weight.reshape(-1, 3), self.taps.T).reshape(cout, cin, 3, 4)
        kernel = ops.matmul(cols.transpose(0, 1, 3, 2).reshape(-1, 3), self.taps.T)
        kernel = kernel.reshape(cout, cin, 4, 4).transpose(1, 0, 3, 2)
        n, _, h, w = x.shape
        return self.deconv(x, kernel, (n, self.out_channels, 2 * h, 2 * w))


class MinibatchDiscrimination(nn.Cell):
    """Salimans et al. 2016, sec. 3.2: lets D see how similar the samples of a batch are.

    Appends, per sample, sum_j exp(-||M_i - M_j||_1) over the other samples of the batch, for
    ``kernels`` learned projections M of size ``kernel_dim``. Mode collapse makes these large.
    """

    def __init__(self, in_features: int, kernels: int, kernel_dim: int):
        super().__init__()
        self.kernels, self.kernel_dim = kernels, kernel_dim
        init = ms.common.initializer.Normal(0.02)
        self.T = ms.Parameter(ms.common.initializer.initializer(
            init, (in_features, kernels * kernel_dim), ms.float32), name="T")

    def construct(self, x):
        m = ops.matmul(x, self.T).reshape(-1, self.kernels, self.kernel_dim)
        diff = ops.abs(m.expand_dims(0) - m.expand_dims(1)).sum(axis=3)   # (B, B, K)
        o = ops.exp(-diff).sum(axis=0) - 1.0                              # drop the self term
        return ops.concat((x, o), axis=1)


class _ExportUnconditional(nn.Cell):
    def __init__(self, G):
        super().__init__(auto_prefix=False)
        self.G = G

    def construct(self, z):
        return self.G(z, ops.zeros((z.shape[0],), ms.int32))


class _ExportConditional(nn.Cell):
    def __init__(self, G):
        super().__init__(auto_prefix=False)
        self.G = G

    def construct(self, z, c):
        return self.G(z, c)


def classic_export_net(G):
    """G as exported: ``construct(z)`` for unconditional models, ``construct(z, c)`` otherwise."""
    net = _ExportConditional(G) if G.num_classes > 0 else _ExportUnconditional(G)
    net.set_train(False)
    return net
