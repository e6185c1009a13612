"""How much reflect padding ADA's geometric transforms need: the fixed pad's cost, measured.

    python -m benchmarks.probe_ada_margin --resolution 256 --p 0.2 0.6 1.0

SG2A pads each batch by the margin its transforms need (the transformed image corners, plus
the sym6 filter's reach, clamped to R-1 per side); msgan's graph needs static shapes, so its
``AugmentPipe`` pads by a fixed ``margin``. Reflect padding by M and by the batch's own margin
give the same pixels wherever a sample reads within M, so a fixed margin is exact for every sample
whose own margin is <= M; a sample that needs more reads zeros past M where SG2A reads reflected
pixels. This draws the pipe's random input (``msgan.augment.ada.draw_random``), builds each
sample's inverse geometric matrix exactly as ``AugmentPipe._geometric`` does, applies SG2A's
margin formula per sample, and prints the share of samples that need more than each margin.
"""
import argparse
import math

import numpy as np

from msgan.augment.ada import (ANISO_STD, NUM_UNIFORM, ROTATE_MAX, SCALE_STD, XFRAC_STD,
                               XINT_MAX, _N, _U, draw_random)


def _rot(t):
    c, s = math.cos(t), math.sin(t)
    return np.array([[c, -s, 0], [s, c, 0], [0, 0, 1]])


def _tr(tx, ty):
    return np.array([[1, 0, tx], [0, 1, ty], [0, 0, 1]], np.float64)


def _sc(sx, sy):
    return np.diag([sx, sy, 1.0])


def inverse_matrix(r: np.ndarray, p: float, size: int) -> np.ndarray:
    """One sample's G_inv (centred pixel coordinates), as ``AugmentPipe._geometric`` builds it."""
    u, g = r[:NUM_UNIFORM], r[NUM_UNIFORM:]
    m = np.eye(3)
    if u[_U["xflip_gate"]] < p:
        m = m @ _sc(1 - 2 * math.floor(u[_U["xflip"]] * 2), 1)
    if u[_U["rot90_gate"]] < p:
        m = m @ _rot(math.floor(u[_U["rot90"]] * 4) * math.pi / 2)
    if u[_U["xint_gate"]] < p:
        m = m @ _tr(-round((u[_U["xint_x"]] * 2 - 1) * XINT_MAX * size),
                    -round((u[_U["xint_y"]] * 2 - 1) * XINT_MAX * size))
    if u[_U["scale_gate"]] < p:
        s = 2 ** (g[_N["scale"]] * SCALE_STD)
        m = m @ _sc(1 / s, 1 / s)
    p_rot = 1 - math.sqrt(max(1 - p, 0.0))
    if u[_U["rot_gate"]] < p_rot:
        m = m @ _rot((u[_U["rot"]] * 2 - 1) * math.pi * ROTATE_MAX)
    if u[_U["aniso_gate"]] < p:
        s = 2 ** (g[_N["aniso"]] * ANISO_STD)
        m = m @ _sc(1 / s, s)
    if u[_U["rot2_gate"]] < p_rot:
        m = m @ _rot((u[_U["rot2"]] * 2 - 1) * math.pi * ROTATE_MAX)
    if u[_U["xfrac_gate"]] < p:
        m = m @ _tr(-g[_N["xfrac_x"]] * XFRAC_STD * size, -g[_N["xfrac_y"]] * XFRAC_STD * size)
    return m


def needed_margin(m: np.ndarray, size: int) -> float:
    """SG2A's margin for one sample (largest of the four sides), before its clamp to R-1."""
    c = (size - 1) / 2
    corners = np.array([[-c, -c, 1], [c, -c, 1], [c, c, 1], [-c, c, 1]]).T
    xy = (m @ corners)[:2]
    return float(np.abs(xy).max() + 2 * 3 - c)          # Hz_pad = 3 for sym6


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--resolution", type=int, default=256)
    ap.add_argument("--p", type=float, nargs="+", default=[0.2, 0.6, 1.0])
    ap.add_argument("--samples", type=int, default=20000)
    a = ap.parse_args(argv)
    r = a.resolution
    fractions = (0.125, 0.25, 0.375, 0.5, 0.75)
    print(f"{r}²: share of samples whose transform needs more reflect padding than M "
          f"(M as a fraction of R; msgan pads R-1 = {r - 1}, SG2A's clamp, so it is exact)")
    print("p     " + "  ".join(f"M={f:g}R ({int(f * r)})" for f in fractions))
    rng = np.random.default_rng(0)
    for p in a.p:
        rand = draw_random(rng, a.samples)
        need = np.array([needed_margin(inverse_matrix(x.astype(np.float64), p, r), r)
                         for x in rand])
        cells = [f"{np.mean(need > int(f * r)):>{len(f'M={f:g}R ({int(f * r)})')}.2%}"
                 for f in fractions]
        print(f"{p:<5g} " + "  ".join(cells))


if __name__ == "__main__":
    main()
