"""Data parallel on CPU with msrun: two workers end with identical weights, rank 0 writes."""
import os
import re
import shutil
import subprocess

import pytest

pytest.importorskip("mindspore")
ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


@pytest.mark.skipif(shutil.which("msrun") is None and not os.path.exists(
    os.path.join(ROOT, ".venv", "bin", "msrun")), reason="msrun not installed")
def test_two_workers_stay_identical(tmp_path):
    out, logs = tmp_path / "run", tmp_path / "logs"
    env = dict(os.environ, GLOG_v="3", PYTHONPATH=ROOT, MSGAN_LOG_DIR=str(logs),
               MASTER_PORT=str(8200 + os.getpid() % 500))
    r = subprocess.run(["bash", "scripts/run_distribute_cpu.sh", "2", "configs/dcgan_cpu.yaml",
                        f"output_dir={out}", "train.batch_size=16", "train.total_kimg=0.064",
                        "train.snapshot_kimg=0.032", "train.progress=false",
                        "generate.generate_num=1", "train.export=[]"],
                       cwd=ROOT, env=env, capture_output=True, text=True, timeout=600)
    assert r.returncode == 0, (r.stderr[-2000:], open(logs / "worker_1.log").read()[-2000:])
    sums = {}
    for rank in (0, 1):
        text = (logs / f"worker_{rank}.log").read_text()
        m = re.search(rf"rank {rank}: weights checksum (\S+)", text)
        assert m, text[-2000:]
        sums[rank] = m.group(1)
    assert sums[0] == sums[1]
    assert (out / "checkpoints" / "snapshot-000000064").is_dir()
    assert len(list((out / "Data").rglob("*.png"))) == 10
    assert "data parallel: 2 workers, 8 images per worker per step" in (out / "log.txt").read_text()
