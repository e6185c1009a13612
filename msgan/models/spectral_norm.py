"""Spectral normalisation of a layer's weight (Miyato et al. 2018), for discriminators.

MindSpore 2.10 has no spectral-norm wrapper, so this one follows torch.nn.utils.spectral_norm:
the weight is divided by its largest singular value, estimated by one power iteration per
training forward pass from a persistent vector ``u`` (a non-trainable Parameter, so it is
checkpointed and resumes exactly). Gradients flow through sigma as in the paper; ``u`` itself
is not differentiated. In eval mode ``u`` is left alone.
"""
import numpy as np
from mindspore import Parameter, Tensor, nn, ops

EPS = 1e-12


def _normalise(v):
    return v / (ops.sqrt((v * v).sum()) + EPS)


class _SpectralNorm(nn.Cell):
    """Computes ``layer``'s function with ``weight / sigma``; subclasses say how (``_apply``).

    The wrapped layer keeps its Parameters under its own name (``<name>.layer.weight``).
    """

    def __init__(self, layer: nn.Cell):
        super().__init__()
        self.layer = layer
        rows = layer.weight.shape[0]
        u = np.random.default_rng(rows).standard_normal(rows).astype(np.float32)
        self.u = Parameter(Tensor(u / np.linalg.norm(u)), name="sn_u", requires_grad=False)

    def normalised_weight(self):
        w = self.layer.weight
        mat = w.reshape(w.shape[0], -1)
        u = ops.stop_gradient(self.u)
        v = ops.stop_gradient(_normalise(ops.matmul(u, mat)))
        if self.training:
            u = ops.stop_gradient(_normalise(ops.matmul(mat, v)))
            ops.assign(self.u, u)
        return w / (u * ops.matmul(mat, v)).sum()


class SNConv2d(_SpectralNorm):
    """An ``nn.Conv2d`` computed with its normalised weight."""

    def construct(self, x):
        c = self.layer
        out = ops.conv2d(x, self.normalised_weight(), stride=c.stride, pad_mode=c.pad_mode,
                         padding=c.padding, dilation=c.dilation, groups=c.group)
        return out + c.bias.reshape(1, -1, 1, 1) if c.has_bias else out


class SNDense(_SpectralNorm):
    def __init__(self, layer: nn.Dense):
        if layer.activation_flag:
            raise ValueError("spectral norm wraps a Dense without activation")
        super().__init__(layer)

    def construct(self, x):
        out = ops.matmul(x, self.normalised_weight().T)
        return out + self.layer.bias if self.layer.has_bias else out
