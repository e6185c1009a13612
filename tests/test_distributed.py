"""Data parallel on CPU with msrun: two workers end with identical weights, rank 0 writes, and a
step of the 2-worker run equals one process stepping on the same global batch."""
import json
import os
import re
import shutil
import subprocess

import numpy as np
import pytest

from msgan_process import ROOT, msgan_env

ms = pytest.importorskip("mindspore")
ARGS = ["configs/dcgan_cpu.yaml", "train.batch_size=16", "train.total_kimg=0.048",
        "train.snapshot_kimg=0.016", "train.tick_kimg=0.016", "train.progress=false",
        "generate.generate_num=1", "train.export=[]", "metrics.benefit_check=false",
        "generate.filter=none",       # one image per class whatever 48 images of training make
        # the one-process replay below is the plain D/G step: no augmentation draws in between
        "model.augment=none"]


@pytest.mark.skipif(shutil.which("msrun") is None and not os.path.exists(
    os.path.join(ROOT, ".venv", "bin", "msrun")), reason="msrun not installed")
def test_two_workers_stay_identical_and_match_one_process(tmp_path):
    out, logs = tmp_path / "run", tmp_path / "logs"
    env = dict(msgan_env(), MSGAN_LOG_DIR=str(logs), MASTER_PORT=str(8200 + os.getpid() % 500))
    r = subprocess.run(["bash", "scripts/run_distribute_cpu.sh", "2", *ARGS, f"output_dir={out}"],
                       cwd=ROOT, env=env, capture_output=True, text=True, timeout=600)
    assert r.returncode == 0, (r.stderr[-2000:], open(logs / "worker_1.log").read()[-2000:])
    sums = {}
    for rank in (0, 1):
        text = (logs / f"worker_{rank}.log").read_text()
        m = re.search(rf"rank {rank}: weights checksum (\S+)", text)
        assert m, text[-2000:]
        sums[rank] = m.group(1)
    assert sums[0] == sums[1]
    for nimg in (16, 32, 48):       # one snapshot per step
        assert (out / "checkpoints" / f"snapshot-{nimg:09d}").is_dir()
    assert len(list((out / "Data").rglob("*.png"))) == 10
    assert "data parallel: 2 workers, 8 images per worker per step" in (out / "log.txt").read_text()
    check_step_matches_one_process(out)


def check_step_matches_one_process(out):
    """Step 2 of the 2-worker run against one process fed both shards' batches and latents.

    Start: the run's own snapshot after step 1 (so initial weights need not be re-created).
    Each worker computes BatchNorm statistics over its own 8 images, like any data-parallel run
    without SyncBN, so the single process evaluates the networks per shard ("ghost batches")
    and differentiates the mean of the two shard losses: for equal shards that is the
    global-batch loss, whose gradient is what DistributedGradReducer's mean must produce.
    """
    from mindspore import Tensor, ops

    from msgan import losses, runtime
    from msgan.config import load_config
    from msgan.data import pipeline
    from msgan.train import checkpoint
    from msgan.train.phases import build_phases
    from msgan.train.tasks.noise import load_data
    from msgan.inference.latents import sample_z

    cfg = load_config(os.path.join(ROOT, ARGS[0]), ARGS[1:] + [f"output_dir={out}"])
    runtime.select_device("CPU")
    image_set, images, labels = load_data(cfg, str(out), write_report=False)
    ph = build_phases(cfg, len(image_set.classes))
    checkpoint.load_snapshot(str(out / "checkpoints" / "snapshot-000000016"), ph.state_cells())
    seed, m, half = cfg.train.seed, cfg.model, cfg.train.batch_size // 2
    shards = []
    for rank in (0, 1):     # what worker `rank` drew for step 2 (Run._shard_sampler, phases.rng)
        sampler = pipeline.BatchSampler(images[rank::2], labels[rank::2], half,
                                        seed=seed + 1000 * rank, mirror=cfg.data.mirror,
                                        balanced=cfg.data.sampling == "balanced")
        rng = np.random.default_rng([seed + 1, rank])
        zs = [sample_z(rng, half, m.z_dim, m.z_dist) for _ in range(4)]   # z_D, z_G per step
        next(sampler)
        x, c = next(sampler)
        shards.append((Tensor(x), Tensor(c), Tensor(zs[2]), Tensor(zs[3])))
    G, D = ph.G, ph.D

    def shard_d_loss(x, c, z):
        fakes = ops.stop_gradient(G(z, c))
        return losses.d_bce(D(x, c), D(fakes, c), m.label_smoothing)

    def d_loss(x0, c0, z0, x1, c1, z1):
        loss0 = shard_d_loss(x0, c0, z0)
        return (loss0 + shard_d_loss(x1, c1, z1)) / 2, loss0

    def g_loss(c0, z0, c1, z1):
        loss0 = losses.g_nonsaturating(D(G(z0, c0), c0))
        return (loss0 + losses.g_nonsaturating(D(G(z1, c1), c1))) / 2, loss0

    d_grad = ms.value_and_grad(d_loss, None, ph.opt_D.parameters, has_aux=True)
    g_grad = ms.value_and_grad(g_loss, None, ph.opt_G.parameters, has_aux=True)

    def d_step(x0, c0, z0, x1, c1, z1):
        (_, loss0), grads = d_grad(x0, c0, z0, x1, c1, z1)
        ph.opt_D(grads)
        return loss0

    def g_step(c0, z0, c1, z1):
        (_, loss0), grads = g_grad(c0, z0, c1, z1)
        ph.opt_G(grads)
        return loss0

    (x0, c0, zd0, zg0), (x1, c1, zd1, zg1) = shards
    loss_D = float(ms.jit(d_step)(x0, c0, zd0, x1, c1, zd1).asnumpy())
    loss_G = float(ms.jit(g_step)(c0, zg0, c1, zg1).asnumpy())
    # rank 0's losses of step 2 (one step per tick): same inputs, same weights → same value
    tick2 = [json.loads(s) for s in (out / "stats.jsonl").read_text().splitlines()][1]
    assert tick2["kimg"] == pytest.approx(0.032)
    assert tick2["loss_D"] == pytest.approx(loss_D, rel=1e-5)
    assert tick2["loss_G"] == pytest.approx(loss_G, rel=1e-5)
    # Weights after step 2. Only summation order differs (all-reduce vs one graph), ~1e-7
    # relative in the gradients; Adam then moves each weight by about lr = 2e-4, so a missing
    # shard or an unreduced gradient would be off by ~1e-4, far outside 1e-6.
    state = ms.load_checkpoint(str(out / "checkpoints" / "snapshot-000000032" / "state.ckpt"))
    for key, cell in (("G", G), ("D", D)):
        for p in cell.trainable_params():
            np.testing.assert_allclose(p.asnumpy(), state[f"{key}/{p.name}"].asnumpy(),
                                       rtol=0, atol=1e-6, err_msg=p.name)
