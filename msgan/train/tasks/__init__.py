"""What a run trains on and makes, per kind of model (``ModelSpec.task``), composed into
``train.run.Run``: ``load() -> cfg``, ``sampler(seed)``, ``prepare_outputs(run)``,
``save_samples(phases, path)``, ``score(phases)``, ``best_snapshot(rows)``,
``snapshot_weights(phases)``, ``export_nets(phases) -> {name: (net, meta)}``,
``final_outputs(run)``, and the attributes ``meta`` and ``num_classes``."""
from __future__ import annotations

from msgan.models import MODELS
from msgan.train.tasks.noise import NoiseTask
from msgan.train.tasks.translate import TranslationTask

TASKS = {"noise": NoiseTask, "translate": TranslationTask}


def make_task(cfg, out_dir: str, rank: int = 0, world_size: int = 1):
    return TASKS[MODELS[cfg.model.name].task](cfg, out_dir, rank, world_size)
