"""What every family of compiled training phases shares: the ``Phases`` base class.

A family (classic.py, stylegan2.py, translate.py, srgan.py) hands the base its nets and keeps
only its losses, its compiled steps and ``step(batch, it, progress)``. The base holds the rest:
one parent Cell so every Parameter name is unique (``G.*``, ``D.*``, ``G_ema.*``, ``pl.*``,
``pool_A.*``), one Adam per side ("G", "D"), the gradient reducers over data-parallel ranks, the
loss scales and fp16 run copies of ``train.amp``, the guarded in-graph update, the eval-mode
generators, and the state a snapshot saves (cells + host state, the lr included).
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import mindspore as ms
from mindspore import Tensor, mint, nn
from mindspore.amp import all_finite

from msgan import losses
from msgan.config import Config
from msgan.models import MODELS
from msgan.train import amp
from msgan.train.lr import get_lr, set_lr

SIDES = ("G", "D")      # one optimizer, reducer and loss scale each


@dataclass(frozen=True)
class Progress:
    """Where the schedule stands when a step starts."""

    nimg: int          # images shown before this step
    total_nimg: int

    @property
    def kimg(self) -> float:
        return self.nimg / 1000

    @property
    def fraction(self) -> float:
        return self.nimg / self.total_nimg


class NamedCells(nn.Cell):
    """Holds cells under their dict names so every Parameter name is unique in a graph."""

    def __init__(self, cells: dict):
        super().__init__()
        for name, cell in cells.items():
            setattr(self, name, cell)


def make_adam(params, lr: float, betas, eps: float):
    # mint's Adam accepts beta1 = 0 (StyleGAN) where nn.Adam refuses it.
    return mint.optim.Adam(params, lr=lr, betas=tuple(betas), eps=eps)


def ema_beta(batch_size: int, cur_nimg: int, ema_kimg: float | None, ema_rampup: float | None):
    """SG2A's EMA decay per step: half-life ``ema_kimg`` (auto: batch*10/32), ramped up early."""
    ema_nimg = (batch_size * 10 / 32 if ema_kimg is None else ema_kimg) * 1000
    rampup = 0.05 if ema_rampup is None else ema_rampup
    if rampup > 0:
        ema_nimg = min(ema_nimg, cur_nimg * rampup)
    return 0.5 ** (batch_size / max(ema_nimg, 1e-8))


def grad_reducer(opt, world_size: int):
    """Mean of the gradients over data-parallel ranks (identity for a single process)."""
    if world_size > 1:
        return nn.DistributedGradReducer(opt.parameters, mean=True, degree=world_size)
    return None


def guarded_update(opt, reducer, scale=None):
    """In-graph update: average gradients over ranks (if any), apply them only when finite.

    A non-finite gradient skips the update instead of poisoning the weights and Adam's moments
    for the rest of the run; the returned flag lets the loop count skipped steps. With a
    ``LossScale`` (mixed precision) the gradients are unscaled before the check and the scale
    follows the outcome; every rank sees the same reduced gradients, so scales stay equal.
    """
    def apply(grads):
        if scale is not None:
            grads = scale.unscale(grads)
        if reducer is not None:
            grads = reducer(grads)
        ok = all_finite(grads)
        if ok:
            opt(grads)
        if scale is not None:
            scale.adjust(ok)
        return ok
    return apply


def scaled(scale, loss):
    """The objective to differentiate: the fp32 loss times the loss scale (if any)."""
    return loss if scale is None else scale.scale(loss)


def eval_copies(cfg: Config, nets: dict) -> dict:
    """Eval-mode copies of a translation model's generators (weights copied in by
    ``Phases.generators``): a graph compiled in train mode ignores a later set_train(False)."""
    spec = MODELS[cfg.model.name]
    return {name: spec.generator(cfg.model, nets[name].resolution, nets[name].channels)
            for name in spec.generators}


class Phases:
    """The shared half of every family; a family adds its graphs and ``step``.

    ``nets``: the trained cells; those named in ``g_names`` are optimised by ``opt_G``, the others
    by ``opt_D``. ``held``: other cells whose state a snapshot keeps (G_ema, pl, image pools);
    ``frozen``: cells held only for unique names (VGG19). ``eval_nets``: what ``generators()``
    returns; an entry named like a trained net is an eval copy, refreshed from it on each call
    and held apart, so its names are a freshly built generator's. ``lazy``: the regularisation
    interval per side (0: none), for Adam's lazy-regularisation correction. ``run_cells``: the
    cells the graphs call, cast for ``train.amp`` into ``self.runs`` (default: ``nets``).
    """

    def __init__(self, cfg: Config, nets: dict, world_size: int = 1, *, g_names=("G",),
                 held: dict | None = None, frozen: dict | None = None,
                 eval_nets: dict | None = None, lazy: dict | None = None,
                 run_cells: dict | None = None, rng: np.random.Generator | None = None):
        t = cfg.train
        self.cfg = cfg
        self.nets = dict(nets)
        self.held = dict(held or {})
        self.rng = rng
        self.holder = NamedCells({**self.nets, **self.held, **(frozen or {})})
        lazy = lazy or {}
        params = {"G": [p for name in g_names for p in self.nets[name].trainable_params()],
                  "D": [p for name, cell in self.nets.items() if name not in g_names
                        for p in cell.trainable_params()]}
        self.opts = {}
        for side, opt_cfg in zip(SIDES, (t.G_opt, t.D_opt)):
            lr, betas = losses.lazy_adam_params(opt_cfg.lr, opt_cfg.betas, lazy.get(side, 0))
            self.opts[side] = make_adam(params[side], lr, betas, opt_cfg.eps)
        self.opt_G, self.opt_D = self.opts["G"], self.opts["D"]
        self.reducers = {side: grad_reducer(opt, world_size) for side, opt in self.opts.items()}
        # after the holder named the Parameters (amp.cast_network); eval nets stay fp32
        self.scales = amp.loss_scales(t.amp)
        self.runs = {name: amp.cast_network(cell, t.amp)
                     for name, cell in (self.nets if run_cells is None else run_cells).items()}
        self._zero = Tensor(0.0, ms.float32)
        self.eval_nets = dict(eval_nets or {})
        copies = {name: cell for name, cell in self.eval_nets.items() if name in self.nets}
        self._eval_holder = NamedCells(copies) if copies else None
        for cell in self.nets.values():
            cell.set_train(True)
        for cell in self.eval_nets.values():
            cell.set_train(False)
        self.jit_level = t.jit_level

    # -- for the families' graphs ----------------------------------------------------------------
    def jit(self, fn):
        return ms.jit(fn, jit_level=self.jit_level)

    def grad(self, loss_fn, side: str):
        """Gradients of ``loss_fn``'s first output (the scaled loss) for opt_<side>; the rest
        of its outputs is aux."""
        return ms.value_and_grad(loss_fn, None, self.opts[side].parameters, has_aux=True)

    def update(self, side: str):
        """In-graph ``grads -> (ok, scale)`` for opt_<side> ("G" | "D"): ``ok`` whether the
        update was applied, ``scale`` the loss scale after it (0.0 when training in fp32)."""
        scale, zero = self.scales.get(side), self._zero
        apply = guarded_update(self.opts[side], self.reducers[side], scale)

        def update(grads):
            ok = apply(grads)
            return ok, (zero if scale is None else scale.scale_value * 1.0)
        return update

    def scale_stats(self, stats: dict, **scales) -> dict:
        """``stats`` with ``loss_scale_<side>`` added, in the order given, under mixed precision."""
        if self.scales:
            stats.update({f"loss_scale_{side}": v for side, v in scales.items()})
        return stats

    # -- the interface the run uses --------------------------------------------------------------
    def generators(self) -> dict:
        """{name: eval-mode generator holding the current weights (BatchNorm statistics too)}.

        Eval copies get the trained weights with ``copy_`` (in place: graphs compiled around a
        copy see the values); G_ema is current already.
        """
        for name, cell in self.eval_nets.items():
            if name in self.nets:
                for pe, p in zip(cell.get_parameters(), self.nets[name].get_parameters()):
                    pe.copy_(p)
        return dict(self.eval_nets)

    def state_cells(self) -> dict:
        # the nets first: a snapshot names each Parameter by the first cell that lists it, and
        # the optimizers list the weights they update too
        cells = {**self.nets, **self.held, "opt_G": self.opt_G, "opt_D": self.opt_D}
        cells.update({f"scale_{k}": v for k, v in self.scales.items()})
        return cells

    def optimizers(self) -> dict:
        return dict(self.opts)

    def host_state(self) -> dict:
        # mint Adam's lr Parameter is not among the optimizer's parameters, so a checkpoint of
        # state_cells() does not hold it: a decayed or rolled-back lr is kept here
        state = {"lr": {side: get_lr(opt) for side, opt in self.opts.items()}}
        if self.rng is not None:
            state["rng"] = self.rng.bit_generator.state
        return state

    def load_host_state(self, state: dict) -> None:
        """Restore ``host_state()``; states without "lr" (noise models before the redesign kept
        it outside the phases) leave the lr as it is."""
        if self.rng is not None:
            self.rng.bit_generator.state = state["rng"]
        for side, lr in state.get("lr", {}).items():
            set_lr(self.opts[side], lr)

    def step(self, batch: tuple, it: int, progress: Progress) -> dict:
        raise NotImplementedError
