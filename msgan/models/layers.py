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


class UpsampleNearest2x(nn.Cell):
    """Nearest-neighbour x2 upsampling written with reshape + tile.

    It exports to plain ONNX Reshape/Tile and has exact gradients in graph mode, unlike the
    interpolate ops whose converters and second-order gradients vary by backend.
    """

    def construct(self, x):
        n, c, h, w = x.shape
        x = ops.tile(x.reshape(n, c, h, 1, w, 1), (1, 1, 1, 2, 1, 2))
        return x.reshape(n, c, h * 2, w * 2)


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
