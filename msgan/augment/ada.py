"""Adaptive discriminator augmentation (Karras et al. 2020), SG2A's 'bgc' pipeline.

``AugmentPipe`` is differentiable (G learns through the augmentation of its fakes), takes the
probability ``p`` as a Tensor (changing it never recompiles) and is exactly the identity at
p = 0: a sample that drew no transform keeps its original pixels bit for bit.
Geometric transforms (xflip, rotate90, integer translation, isotropic scale, rotation,
anisotropic scale, fractional translation) are composed into one inverse affine matrix and
applied once: reflect pad, 2× upsample with the sym6 wavelet, bilinear sampling, 2× downsample
(SG2A's alias-suppressing resampling; the pad is the fixed maximum of SG2A's data-dependent one
so shapes stay static). Colour transforms (brightness, contrast, luma flip, hue rotation,
saturation) are one 4×4 matrix per sample.

R1 is computed on the augmented reals (the images D actually sees) rather than through the
augmentation back to the raw reals as SG2A does; that keeps second-order gradients away from
grid sampling, whose double backward MindSpore does not provide on CPU.

``AdaController`` is the host side: it turns the sign of D's real logits into p.
"""
from __future__ import annotations

import math

import numpy as np
import mindspore as ms
from mindspore import Tensor, nn, ops

from msgan.ops.lowering import expand, zero_insert_2x

# Daubechies symlet 6 low-pass filter, SG2A's Hz_geom before normalisation.
SYM6 = [0.015404109327027373, 0.0034907120842174702, -0.11799011114819057, -0.048311742585633,
        0.4910559419267466, 0.787641141030194, 0.3379294217276218, -0.07263752278646252,
        -0.021060292512300564, 0.04472490177066578, 0.0017677118642428036, -0.007800708325034148]

# Columns of the random input: uniforms first, then standard normals.
_U = {"xflip_gate": 0, "xflip": 1, "rot90_gate": 2, "rot90": 3, "xint_gate": 4, "xint_x": 5,
      "xint_y": 6, "scale_gate": 7, "rot_gate": 8, "rot": 9, "aniso_gate": 10, "rot2_gate": 11,
      "rot2": 12, "xfrac_gate": 13, "bright_gate": 14, "contrast_gate": 15, "lumaflip_gate": 16,
      "lumaflip": 17, "hue_gate": 18, "hue": 19, "sat_gate": 20}
_N = {"scale": 0, "aniso": 1, "xfrac_x": 2, "xfrac_y": 3, "bright": 4, "contrast": 5, "sat": 6}
NUM_UNIFORM, NUM_NORMAL = len(_U), len(_N)
NUM_RANDOM = NUM_UNIFORM + NUM_NORMAL

# SG2A defaults for the 'bgc' set.
XINT_MAX, SCALE_STD, ROTATE_MAX, ANISO_STD, XFRAC_STD = 0.125, 0.2, 1.0, 0.2, 0.125
BRIGHTNESS_STD, CONTRAST_STD, HUE_MAX, SATURATION_STD = 0.2, 0.5, 1.0, 1.0


def draw_random(rng: np.random.Generator, batch: int) -> np.ndarray:
    """Host-side random input for ``AugmentPipe.apply``: (batch, NUM_RANDOM) float32."""
    u = rng.random((batch, NUM_UNIFORM), dtype=np.float32)
    n = rng.standard_normal((batch, NUM_NORMAL), dtype=np.float32)
    return np.concatenate([u, n], axis=1)


def _np_scale(sx, sy):
    return np.array([[sx, 0, 0], [0, sy, 0], [0, 0, 1]], np.float64)


def _np_translate(tx, ty):
    return np.array([[1, 0, tx], [0, 1, ty], [0, 0, 1]], np.float64)


def _mat(rows):
    """Stack a nested list of (B,) tensors into (B, n, m)."""
    return ops.stack([ops.stack(r, axis=-1) for r in rows], axis=-2)


class AugmentPipe(nn.Cell):
    def __init__(self, resolution: int, channels: int):
        super().__init__()
        self.channels = channels
        taps = np.asarray(SYM6, np.float64)
        taps = taps / taps.sum()
        hz_pad = len(taps) // 4                                   # 3, as in SG2A
        self.margin = resolution - 1                              # SG2A's largest margin
        self.reflect = nn.Pad(((0, 0), (0, 0), (self.margin,) * 2, (self.margin,) * 2),
                              mode="REFLECT")
        # upsample2d: true convolution with gain 2 per axis, pad (6, 5); conv2d correlates, so flip.
        up = (taps[::-1] * 2.0).astype(np.float32)
        self.up_h = Tensor(up.reshape(1, 1, 1, -1))
        self.up_v = Tensor(up.reshape(1, 1, -1, 1))
        fw = len(taps)
        # SG2A pads by ((fw + 1) // 2, (fw - 2) // 2) = (6, 5); the convs pad 6 per side
        # themselves and the one surplus output row/column is dropped (no Pad kernel: see Blur).
        self.up_padding = (fw + 1) // 2
        # downsample2d(padding=-2*hz_pad, flip_filter=True): crop 1 per side, correlate, stride 2.
        down = taps.astype(np.float32)
        self.down_h = Tensor(down.reshape(1, 1, 1, -1))
        self.down_v = Tensor(down.reshape(1, 1, -1, 1))
        self.crop = 2 * hz_pad - (fw - 2 + 1) // 2                # 1
        out = (resolution + 2 * hz_pad) * 2                       # size of the sampled grid
        padded_up = (resolution + 2 * self.margin) * 2
        self.out_size = out
        # Output-normalised → output pixels → (G_inv) → input pixels → input-normalised.
        left = _np_scale(2 / padded_up, 2 / padded_up) @ _np_translate(-0.5, -0.5) @ _np_scale(2, 2)
        right = _np_scale(0.5, 0.5) @ _np_translate(0.5, 0.5) @ _np_scale(out / 2, out / 2)
        self.left = Tensor(left.astype(np.float32))
        self.right = Tensor(right.astype(np.float32))
        lin = (2 * np.arange(out) + 1) / out - 1                  # align_corners=False centres
        gx, gy = np.meshgrid(lin, lin)
        self.base = Tensor(np.stack([gx, gy, np.ones_like(gx)], -1).reshape(-1, 3)
                           .astype(np.float32))
        v = np.array([1, 1, 1, 0], np.float64) / math.sqrt(3)
        self.vv = Tensor(np.outer(v, v).astype(np.float32))
        self.eye4 = Tensor(np.eye(4, dtype=np.float32))
        self.uniform = ops.UniformReal()
        self.normal = ops.StandardNormal()

    def construct(self, images, p):
        n = images.shape[0]
        rand = ops.concat((self.uniform((n, NUM_UNIFORM)), self.normal((n, NUM_NORMAL))), 1)
        return self.apply(images, p, rand)

    # -- pieces ----------------------------------------------------------------------------------
    def apply(self, images, p, rand):
        """Augment with host- or graph-drawn ``rand`` (B, NUM_RANDOM); p is a float32 scalar."""
        return self._color(self._geometric(images, p, rand), p, rand)

    def _geometric(self, images, p, rand):
        n, c, h, w = images.shape
        u, g = rand[:, :NUM_UNIFORM], rand[:, NUM_UNIFORM:]
        one, zero = ops.ones((n,), ms.float32), ops.zeros((n,), ms.float32)

        def gate(name, prob):
            return u[:, _U[name]] < prob

        gates = []
        # xflip: x → -x with probability 1/2 when the gate opens.
        on = gate("xflip_gate", p)
        i = ops.where(on, ops.floor(u[:, _U["xflip"]] * 2), zero)
        m = _mat([[1 - 2 * i, zero, zero], [zero, one, zero], [zero, zero, one]])
        gates.append(on)
        # rotate90: k quarter turns.
        on = gate("rot90_gate", p)
        theta = ops.where(on, ops.floor(u[:, _U["rot90"]] * 4), zero) * (math.pi / 2)
        m = ops.matmul(m, _rot(theta, one, zero))
        gates.append(on)
        # integer translation by up to 1/8 of the image, whole pixels.
        on = gate("xint_gate", p)
        tx = ops.where(on, ops.round((u[:, _U["xint_x"]] * 2 - 1) * XINT_MAX * w), zero)
        ty = ops.where(on, ops.round((u[:, _U["xint_y"]] * 2 - 1) * XINT_MAX * h), zero)
        m = ops.matmul(m, _translate(-tx, -ty, one, zero))
        gates.append(on)
        # isotropic scale, lognormal.
        on = gate("scale_gate", p)
        s = ops.where(on, ops.exp2(g[:, _N["scale"]] * SCALE_STD), one)
        m = ops.matmul(m, _scale(1 / s, 1 / s, one, zero))
        gates.append(on)
        # rotation before and after anisotropic scaling share p_rot so P(any rotation) = p.
        p_rot = 1 - ops.sqrt(ops.maximum(1 - p, 0.0))
        on = gate("rot_gate", p_rot)
        theta = ops.where(on, (u[:, _U["rot"]] * 2 - 1) * math.pi * ROTATE_MAX, zero)
        m = ops.matmul(m, _rot(theta, one, zero))
        gates.append(on)
        on = gate("aniso_gate", p)
        s = ops.where(on, ops.exp2(g[:, _N["aniso"]] * ANISO_STD), one)
        m = ops.matmul(m, _scale(1 / s, s, one, zero))
        gates.append(on)
        on = gate("rot2_gate", p_rot)
        theta = ops.where(on, (u[:, _U["rot2"]] * 2 - 1) * math.pi * ROTATE_MAX, zero)
        m = ops.matmul(m, _rot(theta, one, zero))
        gates.append(on)
        # fractional translation, normal.
        on = gate("xfrac_gate", p)
        tx = ops.where(on, g[:, _N["xfrac_x"]] * XFRAC_STD * w, zero)
        ty = ops.where(on, g[:, _N["xfrac_y"]] * XFRAC_STD * h, zero)
        m = ops.matmul(m, _translate(-tx, -ty, one, zero))
        gates.append(on)

        any_on = ops.stack(gates, 1).any(axis=1)
        theta_full = ops.matmul(ops.matmul(ops.tile(self.left.expand_dims(0), (n, 1, 1)), m),
                                ops.tile(self.right.expand_dims(0), (n, 1, 1)))
        grid = ops.matmul(ops.tile(self.base.expand_dims(0), (n, 1, 1)),
                          theta_full[:, :2, :].transpose(0, 2, 1))
        grid = grid.reshape(n, self.out_size, self.out_size, 2)
        x = self._upsample(self.reflect(images))
        x = ops.grid_sample(x, grid, "bilinear", "zeros", False)
        x = self._downsample(x)
        return ops.where(expand(any_on.reshape(n, 1, 1, 1), x), x, images)

    def _upsample(self, x):
        n, c, h, w = x.shape
        x = zero_insert_2x(x.reshape(n * c, 1, h, w))
        pad = self.up_padding
        x = ops.conv2d(x, self.up_h, pad_mode="pad", padding=(0, pad))[:, :, :, :2 * w]
        x = ops.conv2d(x, self.up_v, pad_mode="pad", padding=(pad, 0))[:, :, :2 * h, :]
        return x.reshape(n, c, 2 * h, 2 * w)

    def _downsample(self, x):
        n, c, h, w = x.shape
        k = self.crop
        x = x.reshape(n * c, 1, h, w)[:, :, k:h - k, k:w - k]
        x = ops.conv2d(ops.conv2d(x, self.down_h, stride=(1, 2)), self.down_v, stride=(2, 1))
        return x.reshape(n, c, x.shape[2], x.shape[3])

    def _color(self, images, p, rand):
        n, c, h, w = images.shape
        u, g = rand[:, :NUM_UNIFORM], rand[:, NUM_UNIFORM:]
        one, zero = ops.ones((n,), ms.float32), ops.zeros((n,), ms.float32)
        gates = []
        on = u[:, _U["bright_gate"]] < p
        b = ops.where(on, g[:, _N["bright"]] * BRIGHTNESS_STD, zero)
        cm = _mat([[one, zero, zero, b], [zero, one, zero, b], [zero, zero, one, b],
                   [zero, zero, zero, one]])
        gates.append(on)
        on = u[:, _U["contrast_gate"]] < p
        s = ops.where(on, ops.exp2(g[:, _N["contrast"]] * CONTRAST_STD), one)
        cm = ops.matmul(_mat([[s, zero, zero, zero], [zero, s, zero, zero],
                              [zero, zero, s, zero], [zero, zero, zero, one]]), cm)
        gates.append(on)
        eye = ops.tile(self.eye4.expand_dims(0), (n, 1, 1))
        vv = ops.tile(self.vv.expand_dims(0), (n, 1, 1))
        on = u[:, _U["lumaflip_gate"]] < p
        i = ops.where(on, ops.floor(u[:, _U["lumaflip"]] * 2), zero).reshape(n, 1, 1)
        cm = ops.matmul(eye - 2 * vv * i, cm)
        gates.append(on)
        if self.channels > 1:
            on = u[:, _U["hue_gate"]] < p
            theta = ops.where(on, (u[:, _U["hue"]] * 2 - 1) * math.pi * HUE_MAX, zero)
            cm = ops.matmul(_rot3d_luma(theta, one, zero), cm)
            gates.append(on)
            on = u[:, _U["sat_gate"]] < p
            s = ops.where(on, ops.exp2(g[:, _N["sat"]] * SATURATION_STD), one).reshape(n, 1, 1)
            cm = ops.matmul(vv + (eye - vv) * s, cm)
            gates.append(on)
        any_on = ops.stack(gates, 1).any(axis=1)
        flat = images.reshape(n, c, h * w)
        if c == 3:
            out = ops.matmul(cm[:, :3, :3], flat)
            out = out + expand(cm[:, :3, 3:], out)
        else:
            cg = cm[:, :3, :].mean(axis=1, keep_dims=True)                  # (n, 1, 4)
            gain = cg[:, :, :3].sum(axis=2, keepdims=True)
            out = flat * expand(gain, flat) + expand(cg[:, :, 3:], flat)
        out = out.reshape(n, c, h, w)
        return ops.where(expand(any_on.reshape(n, 1, 1, 1), out), out, images)


def _rot(theta, one, zero):
    """Inverse of a rotation by ``-theta`` in SG2A's convention, i.e. rotate2d(theta)."""
    cs, sn = ops.cos(theta), ops.sin(theta)
    return _mat([[cs, -sn, zero], [sn, cs, zero], [zero, zero, one]])


def _translate(tx, ty, one, zero):
    return _mat([[one, zero, tx], [zero, one, ty], [zero, zero, one]])


def _scale(sx, sy, one, zero):
    return _mat([[sx, zero, zero], [zero, sy, zero], [zero, zero, one]])


def _rot3d_luma(theta, one, zero):
    """Rotation by theta about the luma axis (1, 1, 1)/√3 (Rodrigues), as a 4×4 matrix."""
    v = 1.0 / math.sqrt(3)
    cs, sn = ops.cos(theta), ops.sin(theta)
    cc = 1 - cs
    a = v * v * cc + cs                 # diagonal
    b = v * v * cc - v * sn             # above the diagonal pattern (x,y), (y,z), (z,x)
    d = v * v * cc + v * sn
    return _mat([[a, b, d, zero], [d, a, b, zero], [b, d, a, zero], [zero, zero, zero, one]])


class AdaController:
    """Host-side ADA heuristic: r_t = E[sign(D(real))]; every ``interval`` steps
    p += sign(r_t − target) · batch·interval / (ada_kimg·1000), clamped to [0, p_max]."""

    def __init__(self, target: float = 0.6, interval: int = 4, ada_kimg: float = 500.0,
                 batch_size: int = 8, p_init: float = 0.0, p_max: float = 1.0):
        self.target, self.interval, self.ada_kimg = target, interval, ada_kimg
        self.batch_size, self.p_max = batch_size, p_max
        self._p = float(p_init)
        self._pending: list = []           # device scalars, summed only at adjustment time
        self._steps = 0
        self.last_rt: float | None = None

    @property
    def p(self) -> float:
        return self._p

    @property
    def p_tensor(self) -> Tensor:
        return Tensor(self._p, ms.float32)

    def observe(self, sign_mean) -> bool:
        """Record one step's mean sign of D's real logits (float or Tensor); True if p moved."""
        self._pending.append(sign_mean)
        self._steps += 1
        if self._steps % self.interval:
            return False
        values = [float(v.asnumpy()) if hasattr(v, "asnumpy") else float(v) for v in self._pending]
        self._pending = []
        rt = sum(values) / len(values)
        self.last_rt = rt
        step = self.batch_size * self.interval / (self.ada_kimg * 1000)
        self._p = float(min(max(self._p + np.sign(rt - self.target) * step, 0.0), self.p_max))
        return True

    def state_dict(self) -> dict:
        pending = [float(v.asnumpy()) if hasattr(v, "asnumpy") else float(v)
                   for v in self._pending]
        return {"p": self._p, "pending": pending, "steps": self._steps, "last_rt": self.last_rt}

    def load_state_dict(self, state: dict) -> None:
        self._p = float(state["p"])
        self._pending = [float(v) for v in state.get("pending", [])]
        self._steps = int(state.get("steps", 0))
        self.last_rt = state.get("last_rt")
