"""Pictures of a run: losses.png from stats.jsonl and progress.gif from the snapshot grids."""
from __future__ import annotations

import glob
import os

from PIL import Image

from msgan.io import read_stats


def plot_losses(stats_path: str, out_path: str) -> None:
    import matplotlib
    matplotlib.use("Agg")       # no display on servers
    import matplotlib.pyplot as plt

    rows = read_stats(stats_path)
    if not rows:
        return
    kimg = [r["kimg"] for r in rows]
    seen = list(dict.fromkeys(k for r in rows for k in r))
    panels = [("loss", ["loss_G", "loss_D"])]
    if "D_real" in seen:
        panels.append(("D output (mean logit)", ["D_real", "D_fake"]))
    # the image-to-image models' loss terms (L1, cycle, identity, content, ...)
    parts = [k for k in seen if k.startswith("loss_") and k not in
             ("loss_G", "loss_D", "loss_r1", "loss_pl") and not k.startswith("loss_scale")]
    if parts:
        panels.append(("loss terms", parts))
    extra = [k for k in ("loss_r1", "loss_pl", "ada_p", "kid") if k in seen]
    panels += [(k, [k]) for k in extra]
    fig, axes = plt.subplots(len(panels), 1, figsize=(7, 2.4 * len(panels)), sharex=True)
    for ax, (title, keys) in zip(axes, panels):
        for k in keys:
            pts = [(x, r[k]) for x, r in zip(kimg, rows) if r.get(k) is not None]
            if pts:
                ax.plot([p[0] for p in pts], [p[1] for p in pts], label=k)
        ax.set_title(title, fontsize=9)
        ax.legend(fontsize=8)
        ax.grid(alpha=0.3)
    axes[-1].set_xlabel("kimg")
    fig.tight_layout()
    fig.savefig(out_path, dpi=90)
    plt.close(fig)


def make_progress_gif(samples_dir: str, out_path: str, ms_per_frame: int = 500) -> None:
    frames = sorted(glob.glob(os.path.join(samples_dir, "fakes*.png")))
    if not frames:
        return
    images = [Image.open(f).convert("RGB") for f in frames]
    images[0].save(out_path, save_all=True, append_images=images[1:], duration=ms_per_frame,
                   loop=0)
