"""A tiny generator and its export wrappers, shared by the export and generate tests."""
import mindspore as ms
import numpy as np
from mindspore import nn, ops

BATCH, Z_DIM, RES = 4, 8, 8
CLASSES = ["cat", "dog", "eel"]


class TinyG(nn.Cell):
    """Dense → 4×4 → ConvTranspose → 8×8 → BN → ReLU → Conv → Tanh; class embedding."""

    def __init__(self, num_classes=3, channels=3):
        super().__init__()
        self.num_classes = num_classes
        embed = 4 if num_classes else 0
        if num_classes:
            self.embed = nn.Embedding(num_classes, embed)
        self.fc = nn.Dense(Z_DIM + embed, 8 * 4 * 4)
        self.up = nn.Conv2dTranspose(8, 4, 4, 2, pad_mode="pad", padding=1, has_bias=True)
        self.bn = nn.BatchNorm2d(4)
        self.act = nn.ReLU()
        self.conv = nn.Conv2d(4, channels, 3, pad_mode="pad", padding=1, has_bias=True)
        self.tanh = nn.Tanh()
        # Non-trivial running stats, so an export in training mode would not match.
        rng = np.random.RandomState(1)
        self.bn.moving_mean.set_data(ms.Tensor(rng.randn(4).astype(np.float32) * 0.3))
        self.bn.moving_variance.set_data(ms.Tensor(rng.uniform(0.5, 2, 4).astype(np.float32)))

    def construct(self, z, c, psi):
        if self.num_classes:
            z = ops.concat((z, self.embed(c)), 1)
        h = self.fc(z) * psi.reshape(-1, 1)   # stands in for truncation: psi changes the output
        h = h.reshape(-1, 8, 4, 4)
        return self.tanh(self.conv(self.act(self.bn(self.up(h)))) * 3.0)


class ExportCond(nn.Cell):
    def __init__(self, G):
        super().__init__()
        self.G = G

    def construct(self, z, c, psi):
        return self.G(z, c, psi)


class ExportUncond(nn.Cell):
    def __init__(self, G):
        super().__init__()
        self.G = G

    def construct(self, z):
        n = z.shape[0]
        return self.G(z, ops.zeros(n, ms.int32), ops.ones(n, ms.float32))


def make_meta(conditional=True, channels=3):
    classes = CLASSES if conditional else []
    return {"model": "tiny", "model_cfg": {}, "z_dim": Z_DIM, "z_dist": "gaussian",
            "num_classes": len(classes), "classes": classes, "resolution": RES,
            "channels": channels, "batch": BATCH,
            "inputs": ["z", "c", "psi"] if conditional else ["z"], "kimg": 1.5}
