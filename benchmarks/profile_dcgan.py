"""Where a msgan DCGAN train iteration spends its time, per MindSpore operator type.

    python -m benchmarks.profile_dcgan --resolution 32 --width 64 --threads 2
    python -m benchmarks.profile_dcgan --leaky-relu mindspore     # MindSpore's nn.LeakyReLU in D

Runs bench_dcgan's msgan runner under MindSpore's Profiler for ``--iterations`` iterations after
two warm-up ones, and prints each operator type's summed compute time per iteration and its share
of all operator time. Profiled times run longer than plain ones; compare shares, or two runs of
this script.
"""
import argparse
import csv
import glob
import os
import tempfile

import mindspore as ms

from benchmarks.options import add_model_args, add_thread_args, use_threads
from benchmarks.bench_dcgan import MsganRunner
from msgan.config import load_config
from msgan.models import dcgan


def op_times(folder: str) -> dict:
    """{op type: summed compute ms} from the Profiler's CPU op-type table."""
    tables = glob.glob(os.path.join(folder, "*", "FRAMEWORK", "cpu_op_type_info_*.csv"))
    if not tables:
        raise SystemExit(f"no profiler output under {folder}")
    with open(tables[0], newline="", encoding="utf-8") as f:
        return {row["op_type"]: float(row["total_compute_time"]) for row in csv.DictReader(f)}


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    add_model_args(ap)
    add_thread_args(ap)
    ap.add_argument("--iterations", type=int, default=4)
    ap.add_argument("--leaky-relu", default="msgan", choices=("msgan", "mindspore"),
                    help="D's activation: msgan.ops.lowering.LeakyReLU (one-Select gradient) or "
                         "MindSpore's nn.LeakyReLU")
    ap.add_argument("--top", type=int, default=15, help="operator types to list")
    a = ap.parse_args(argv)

    ms.set_context(mode=ms.GRAPH_MODE)
    use_threads(a.threads)
    ms.set_seed(0)
    if a.leaky_relu == "mindspore":
        dcgan.LeakyReLU = ms.nn.LeakyReLU
    cfg = load_config(None, [f"model.ngf={a.width}", f"model.ndf={a.width}",
                             f"train.batch_size={a.batch}"])
    run = MsganRunner(cfg, a.resolution, a.channels, a.batch, ema=True)
    run()
    run()
    with tempfile.TemporaryDirectory(prefix="msgan-profile-") as folder:
        prof = ms.Profiler(output_path=folder)
        for _ in range(a.iterations):
            run()
        prof.stop()
        prof.analyse()
        times = op_times(folder)
    total = sum(times.values())
    print(f"DCGAN {a.resolution}² ch={a.channels} ngf=ndf={a.width} batch={a.batch} "
          f"threads={a.threads} LeakyReLU={a.leaky_relu}: {total / a.iterations:.1f} ms of "
          f"operator time per iteration ({a.iterations} profiled)")
    for op, ms_total in sorted(times.items(), key=lambda kv: -kv[1])[:a.top]:
        print(f"  {op:22s} {ms_total / a.iterations:8.1f} ms/it  {100 * ms_total / total:5.1f} %")


if __name__ == "__main__":
    main()
