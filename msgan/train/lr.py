"""Changing an optimizer's learning rate after its step graph has compiled.

mint's Adam keeps each group's lr in a Parameter (``learning_rate_group_<i>``); ``copy_`` writes
it in place, so compiled steps see the new value without recompiling. That Parameter is not
among the optimizer's ``get_parameters()``, so checkpoints do not hold it: phases keep a changed
lr in their host state.
"""
from __future__ import annotations

import mindspore as ms
from mindspore import Tensor


def get_lr(opt) -> float:
    return float(opt.param_groups[0]["lr"].asnumpy())


def set_lr(opt, lr: float) -> None:
    for group in opt.param_groups:
        group["lr"].copy_(Tensor(lr, ms.float32))


def linear_decay(base_lr: float, progress_kimg: float, decay_start_kimg: float,
                 total_kimg: float) -> float:
    """CycleGAN/pix2pix schedule: constant lr, then linear to 0 at the end of training."""
    if progress_kimg <= decay_start_kimg or total_kimg <= decay_start_kimg:
        return base_lr
    left = (total_kimg - progress_kimg) / (total_kimg - decay_start_kimg)
    return base_lr * max(0.0, left)
