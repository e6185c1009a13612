"""Command line: ``msgan train | generate | export | validate | evaluate | convert``.

The only module that parses arguments or decides exit codes. Bad input (MsganError) → one line
``msgan: error: ...`` on stderr and exit 2; ``--debug`` shows the traceback instead.
"""
from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import traceback

from msgan.errors import MsganError

EPILOG = """example (a 1-kimg smoke run on the embedded digits):
  msgan train configs/dcgan_digits.yaml train.total_kimg=1
docs: README.md; every option of a command: msgan COMMAND --help"""

TRAIN_EPILOG = """predict mode (the ModelArts operator's): no training, only images from a model:
  msgan train CONFIG generate.predict=true generate.resume=MODEL output_dir=OUT
resume: Ctrl-C or SIGTERM writes a snapshot and prints the command that continues the run:
  msgan train RUN/config.yaml train.resume=auto output_dir=RUN
  (the run's config.yaml is used: train.total_kimg, generate.* and metrics.* may change;
  model, data and training keys stay as the run was trained, and differing ones are listed)
the operator's flat names resolution, batch_size, total_kimg, generate_num, predict, resume and
do_validation are accepted too. Config keys by section (docs/config.md says what each does):
"""


class _Parser(argparse.ArgumentParser):
    def error(self, message):   # argparse's own errors follow the same one-line contract
        raise MsganError(f"{message} — run '{self.prog} --help' for usage")


def _parser(key_listing: bool = False) -> argparse.ArgumentParser:
    """``key_listing``: ``train --help`` lists the config keys (reading them imports MindSpore
    through msgan.models, seconds that every other command and --version should not wait)."""
    p = _Parser(prog="msgan", description="Train GANs on image folders with MindSpore and "
                "generate new images per class.", epilog=EPILOG,
                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--debug", action="store_true",
                   help="show tracebacks and MindSpore's own warnings")
    p.add_argument("--version", action="version", version=_version())
    sub = p.add_subparsers(dest="command", metavar="COMMAND", parser_class=_Parser)

    if key_listing:
        from msgan.config import key_listing as keys
    t = sub.add_parser("train", help="train a model (or only generate with generate.predict=true)",
                       description="Train a model on data.path; writes the run (Data/, "
                       "output_0.manifest, model/, report.html) into output_dir.",
                       epilog=TRAIN_EPILOG + (keys() if key_listing else "  msgan train "
                                              "--help lists them"),
                       formatter_class=argparse.RawDescriptionHelpFormatter)
    t.add_argument("config", help="YAML config, e.g. configs/dcgan_digits.yaml")
    t.add_argument("overrides", nargs="*", metavar="KEY=VALUE",
                   help="dotted overrides, e.g. data.path=/imgs train.total_kimg=1")
    t.add_argument("--force", action="store_true",
                   help="overwrite the results of an earlier run in output_dir")

    g = sub.add_parser("generate", help="write images and a manifest from a trained model")
    g.add_argument("--model", required=True,
                   help="checkpoint snapshot folder, run folder (the snapshot that wrote its "
                   "Data/), .mindir or .onnx")
    g.add_argument("--num", type=int, default=100, help="images per class (default 100)")
    g.add_argument("--out", required=True, help="output folder (Data/ and output_0.manifest)")
    g.add_argument("--input", default=None, help="image-to-image models: translate (or "
                   "super-resolve) every image of this folder")
    g.add_argument("--generator", default=None, help="CycleGAN/DiscoGAN run folders: G_AB "
                   "(default) or G_BA")
    g.add_argument("--class", dest="class_name", default=None, help="only this class")
    g.add_argument("--seed", type=int, default=0, help="first seed: every class gets seeds "
                   "S..S+num-1, file <class>_<seed>; --class C --seed S --num 1 remakes C_S")
    g.add_argument("--truncation", type=float, default=1.0, help="psi for StyleGAN2 (1 = off)")
    g.add_argument("--format", choices=("png", "jpg"), default="png", help="image file format")
    g.add_argument("--reals", default=None, help="class folder the model was trained on: keep an "
                   "image only when a classifier of these reals sees its class in it (what a "
                   "training run's generate.filter does); without it images are unfiltered")
    g.add_argument("--filter-tries", type=int, default=4, help="with --reals: at most this many "
                   "candidates per image asked (default 4)")
    g.add_argument("--filter-confidence", type=float, default=None,
                   help="with --reals: also refuse an image the classifier gives its class less "
                   "than this probability, e.g. 0.9 (default: generate.filter_confidence's)")
    g.add_argument("--min-diversity", type=float, default=None,
                   help="with --reals: write no images for a class whose images vary less than "
                   "this times its reals, e.g. 0.5 (default: generate.min_diversity's, 0 = off; "
                   "below 0.5 a warning names the class either way)")
    g.add_argument("--force", action="store_true", help="replace the images and manifest an "
                   "earlier msgan generate wrote in --out (other files are kept)")

    e = sub.add_parser("export", help="export G_ema of a checkpoint to MindIR / ONNX")
    e.add_argument("--checkpoint", required=True, help="snapshot folder or run folder")
    e.add_argument("--format", choices=("mindir", "onnx", "both"), default="both",
                   help="export format (default both)")
    e.add_argument("--out", required=True, help="output folder")

    cv = sub.add_parser("convert", help="turn NVIDIA's StyleGAN2(-ADA) network pickle into a "
                        "msgan model folder (runs no code from the pickle)")
    cv.add_argument("pkl", help="stylegan2-ada-pytorch network-snapshot-*.pkl, one of NVIDIA's "
                    "published SG2A pickles, or a TensorFlow StyleGAN2(-ADA) pickle")
    cv.add_argument("--out", required=True, help="model folder to write (meta.json, G_ema.ckpt, "
                    "G.ckpt, D.ckpt), for generate --model, export, train.init_from")
    cv.add_argument("--class-names", default=None, metavar="A,B,...", help="names of a "
                    "conditional network's classes, in label order (default 0..N-1)")
    cv.add_argument("--force", action="store_true",
                    help="replace a model folder msgan convert wrote before in --out")

    v = sub.add_parser("validate", help="check an image folder without training")
    v.add_argument("data_dir", help="image folder (folder/*.png or folder/<class>/*.png)")
    v.add_argument("--resolution", type=int, default=32,
                   help="training resolution to check against (default 32, data.resolution's "
                   "default; give your config's)")
    v.add_argument("--channels", type=int, choices=(1, 3), default=3,
                   help="1 = greyscale, 3 = RGB (default 3)")
    v.add_argument("--min-size", type=int, default=8,
                   help="images with a shorter side below this are left out (default 8)")
    v.add_argument("--report", default=None,
                   help="also write the per-file JSON report here (default: write nothing)")

    ev = sub.add_parser("evaluate", help="FID/KID/precision/recall, or the augmentation report",
                        description="Score generated images against real ones. When FAKE_DIR "
                        "belongs to a run folder, its config.yaml gives the defaults below "
                        "(data.resolution, data.channels, train.seed, metrics.*), so the KID is "
                        "the same measurement as the run's snapshot KID in stats.jsonl.")
    ev.add_argument("real_dir", help="real images (folder/<class>/*.png, or folder/*.png)")
    ev.add_argument("fake_dir", help="generated images (e.g. a run's Data/ folder), or a model "
                    "(.onnx, .mindir, snapshot folder, or a run folder: the snapshot that "
                    "wrote its Data/) to generate them from")
    ev.add_argument("--num", type=int, default=100,
                    help="images per class generated when FAKE_DIR is a model (default 100)")
    ev.add_argument("--extractor", choices=("classifier", "inception"), default=None,
                    help="features for FID/KID: classifier (a small CNN trained on REAL_DIR, "
                    "no download; default) or inception (needs --inception-checkpoint)")
    ev.add_argument("--inception-checkpoint", default=None,
                    help="MindSpore .ckpt of the FID InceptionV3 (see docs/evaluate.md)")
    ev.add_argument("--resolution", type=int, default=None,
                    help="both folders are read at this size (default: the run's "
                    "data.resolution, else 64); use the generator's resolution")
    ev.add_argument("--channels", type=int, choices=(1, 3), default=None,
                    help="1 = greyscale, 3 = RGB (default: the run's data.channels, else 3)")
    ev.add_argument("--epochs", type=int, default=None, help="classifier training epochs "
                    "(default: the run's metrics.classifier_epochs, else 30)")
    ev.add_argument("--seeds", type=int, default=3,
                    help="classifier runs per arm for --augmentation-benefit (default 3)")
    ev.add_argument("--augmentation-benefit", action="store_true",
                    help="train a classifier with and without the generated images")
    ev.add_argument("--heldout", default=None, metavar="DIR",
                    help="--augmentation-benefit judges on these reals (folder/<class>/*.png, "
                    "images the GAN never trained on, e.g. your validation folder) and trains "
                    "on all of REAL_DIR; default: hold out 30%% of REAL_DIR")
    ev.add_argument("--mirror", type=_true_false, default=None, metavar="{true,false}",
                    help="--augmentation-benefit's classifier flips its training images "
                    "(default: the run's data.mirror, else false: a flip changes digits, text, "
                    "arrows)")
    ev.add_argument("--out", default=None, help="folder that gets report/ (default: the run "
                    "folder when FAKE_DIR is its Data/ or one of its models, else FAKE_DIR)")
    ev.add_argument("--seed", type=int, default=None, help="seeds the classifier, the images "
                    "generated from a model and the KID subsets (default: the run's "
                    "train.seed, else 0)")
    return p


def _true_false(value: str) -> bool:
    if value.lower() not in ("true", "false"):
        raise argparse.ArgumentTypeError(f"{value!r} — use true or false")
    return value.lower() == "true"


def _version() -> str:
    """msgan's version and the MindSpore it would run on, without importing MindSpore (slow)."""
    from importlib import metadata

    from msgan import __version__
    try:
        ms_version = metadata.version("mindspore")
    except metadata.PackageNotFoundError:
        ms_version = "not installed"
    return f"msgan {__version__} (MindSpore {ms_version}, Python {sys.version.split()[0]})"


def _cmd_train(args) -> None:
    from msgan.config import load_config
    cfg = load_config(args.config, args.overrides)
    if cfg.generate.predict:
        from msgan.inference.predict import predict
        from msgan.metrics.class_filter import filter_for_model
        predict(cfg, make_filter=lambda reals, meta: filter_for_model(
            reals, meta, cfg.train.seed, cfg.data.mirror, cfg.generate.min_diversity,
            cfg.generate.filter_confidence))
    else:
        from msgan.train.run import train
        if cfg.train.resume == "auto":
            cfg = _continue_run(cfg, args)
        # the run's config.yaml names its data folder by absolute path, so the command that
        # continues the run (printed at Ctrl-C) works from any folder
        path = cfg.data.path
        if path and not path.startswith("builtin:") and not os.path.isabs(path):
            cfg.data.path = os.path.abspath(path)
        train(cfg, force=args.force)


def _continue_run(cfg, args):
    """train.resume=auto into a folder that holds a run: the run's config.yaml is the base;
    the keys given again that differ from it are listed, and only RESUME_MAY_CHANGE apply."""
    import logging

    from msgan import runtime
    from msgan.config import RESUME_MAY_CHANGE, continue_run
    cfg, notes = continue_run(cfg, args.config, args.overrides)
    if notes is None:
        return cfg
    runtime.setup_logging(cfg.output_dir)     # these lines belong in the run's log.txt too
    log = logging.getLogger("msgan")

    def pairs(d, fmt):
        return ", ".join(fmt.format(k=k, a=_short(a), b=_short(b)) for k, (a, b) in d.items())
    line = f"train.resume=auto: continuing with the run's own {notes['run_config']}"
    if notes["changed"]:
        line += "; changed: " + pairs(notes["changed"], "{k} {a} → {b}")
    log.info("%s", line)
    if notes["kept"]:
        log.warning("WARNING: not applied to the continued run, which keeps the values its "
                    "snapshots were trained with: %s — on resume only %s may change; to train "
                    "with other values start a new run (another output_dir); if the data folder "
                    "moved, edit data.path in %s",
                    pairs(notes["kept"], "{k} (given {a}, run {b})"),
                    ", ".join(k + "*" if k.endswith(".") else k for k in RESUME_MAY_CHANGE
                              if k != "train.resume"), notes["run_config"])
    return cfg


def _short(value) -> str:
    text = str(value)
    return text if len(text) <= 60 else text[:57] + "..."


def _cmd_generate(args) -> None:
    if args.num < 0:
        raise MsganError(f"--num is {args.num} — pass a number of images >= 0")
    if args.filter_tries < 1:
        raise MsganError(f"--filter-tries is {args.filter_tries} — pass 1 or more")
    from msgan.config import GenerateConfig
    if args.min_diversity is None:
        args.min_diversity = GenerateConfig.min_diversity
    if args.filter_confidence is None:
        args.filter_confidence = GenerateConfig.filter_confidence
    if not 0.0 <= args.min_diversity < 1.0:
        raise MsganError(f"--min-diversity is {args.min_diversity} — pass 0 (off) up to below 1")
    if not 0.0 <= args.filter_confidence < 1.0:
        raise MsganError(f"--filter-confidence is {args.filter_confidence} — pass 0 (the top "
                         "class is enough) up to below 1")
    from msgan import runtime
    from msgan.inference import generate, translate
    runtime.setup_logging(None)
    translating = translate.is_translation_model(args.model)
    if args.input and not translating:
        raise MsganError(f"{args.model} is not an image-to-image model — drop --input, or pass "
                         "a pix2pix/CycleGAN/DiscoGAN/SRGAN run or export")
    if translating and args.reals:
        raise MsganError(f"{args.model} is an image-to-image model: --reals filters the images "
                         "of class-conditional noise models — drop --reals")
    if translating and not args.input:
        raise MsganError(f"{args.model} is an image-to-image model — pass --input DIR, the "
                         "folder of images to translate")
    runtime.select_device("auto")
    if translating:
        translator = translate.load_translator(args.model, args.generator)
        _lock_out(args.out)
        paths, skipped = translate.translate_folder(translator, args.input,
                                                    os.path.abspath(args.out), fmt=args.format,
                                                    overwrite=args.force)
        print(f"wrote {_count(len(paths), 'image')} to "
              f"{os.path.join(os.path.abspath(args.out), 'Data')} and output_0.manifest "
              f"({_count(len(skipped), 'unreadable input')} skipped)")
        return
    sampler = generate.load_sampler(args.model)
    keep, tally = None, {}
    if args.reals:
        from msgan.metrics.class_filter import filter_for_model
        keep = filter_for_model(args.reals, sampler.meta, min_diversity=args.min_diversity,
                                min_confidence=args.filter_confidence)
    _lock_out(args.out)
    paths = generate.generate(sampler, os.path.abspath(args.out), args.num, seed=args.seed,
                              truncation=args.truncation, class_name=args.class_name,
                              fmt=args.format, overwrite=args.force,
                              accept=keep.accept if keep else None, tries=args.filter_tries,
                              tally=tally, keep_class=keep.keep_class if keep else None)
    if keep:
        from msgan.inference import empty_classes
        keep.report(tally, os.path.abspath(args.out), args.filter_tries)
        empty_classes.record(os.path.abspath(args.out), empty_classes.reasons(list(tally),
                                                                              tally=tally))
    print(f"wrote {_count(len(paths), 'image')} to "
          f"{os.path.join(os.path.abspath(args.out), 'Data')} and output_0.manifest")


def _count(n: int, noun: str) -> str:
    """"1 image", "2 images"."""
    return f"{n} {noun}{'' if n == 1 else 's'}"


def _lock_out(out: str) -> None:
    """Not into a folder a training run or another msgan generate is writing (main releases)."""
    from msgan import runlock
    runlock.acquire(os.path.abspath(out), "wait for it to finish, or pass another --out")


def _cmd_export(args) -> None:
    from msgan import runtime
    from msgan.inference import export, samplers
    from msgan.models import MODELS
    runtime.setup_logging(None)
    runtime.select_device("auto")
    os.makedirs(args.out, exist_ok=True)
    formats = ("mindir", "onnx") if args.format == "both" else (args.format,)
    failed = []
    # G_ema of a noise-to-image run, every generator (G_AB, G_BA, ...) of an image-to-image run
    for name, net, meta in samplers.load_generators(args.checkpoint):
        result = export.export_generator(MODELS[meta["model"]].export_net(net), meta,
                                         os.path.join(args.out, name), formats=formats)
        failed += [f for f, r in result.items() if not r.get("ok")]
        for fmt, r in result.items():
            print(f"{fmt}: {r.get('path')} max_abs_diff={r.get('max_abs_diff')} "
                  f"{'ok' if r.get('ok') else 'FAILED ' + str(r.get('error', ''))}")
    if failed:
        raise MsganError(f"export to {', '.join(failed)} did not reproduce the checkpoint — "
                         "see the lines above; the MindIR export is usable if it passed")


def _cmd_convert(args) -> None:
    from msgan import runtime
    from msgan.convert import convert
    runtime.setup_logging(None)      # no device: converting runs no kernels
    meta = convert(args.pkl, args.out, args.class_names, args.force)
    classes = ", ".join(meta["classes"]) if meta["classes"] else "unconditional"
    res = meta["resolution"]
    print(f"{args.out}: StyleGAN2 {res}x{res}, {meta['channels']} channel(s), classes: {classes} "
          f"(from {meta['source']['kind']} {meta['source']['file']})")


def _cmd_validate(args) -> None:
    from msgan.data import folder, validate
    from msgan.models import MODELS
    r = args.resolution
    if r <= 0 or r & (r - 1):
        raise MsganError(f"--resolution {r} is not a power of two — use e.g. 64 or 256")
    image_set = folder.scan_folder(args.data_dir)
    ranges = {name: spec.resolution for name, spec in MODELS.items() if spec.task == "noise"}
    # a check writes nothing unless asked (--report): the report is read from a temporary file
    with tempfile.TemporaryDirectory(prefix="msgan-validate-") as tmp:
        report = args.report or os.path.join(tmp, "validation.json")
        try:
            validate.do_validation(image_set, r, args.channels, args.min_size,
                                   report_path=report, progress=True, ranges=ranges)
        except MsganError as e:
            if args.report:
                raise
            raise MsganError(str(e).replace(report, "add --report FILE")) from None
        with open(report, encoding="utf-8") as f:
            result = json.load(f)
    print(validate.validation_summary(result))
    print(f"report: {report}" if args.report else
          "per-file details: add --report FILE (nothing was written)")


def _cmd_evaluate(args) -> None:
    import logging

    from msgan import runinfo, runtime
    runtime.setup_logging(None)
    log = logging.getLogger("msgan")
    fake = os.path.abspath(args.fake_dir.rstrip("/"))
    run = runinfo.find_run(fake)
    taken = runinfo.fill_defaults(args, run)
    if taken:
        log.info("evaluate: as the run's snapshot scoring (%s): %s",
                 os.path.join(run, "config.yaml"),
                 " ".join(f"--{k.replace('_', '-')} {v}" for k, v in taken.items()))
    if args.resolution <= 0 or args.epochs <= 0 or args.seeds <= 0:
        raise MsganError("--resolution, --epochs and --seeds must be positive")
    if args.heldout and not args.augmentation_benefit:
        raise MsganError("--heldout is the augmentation-benefit report's test set — add "
                         "--augmentation-benefit, or leave --heldout out")
    runtime.select_device("auto")
    as_run = run is not None and fake == run       # a run folder: the model that wrote Data/
    is_model = as_run or os.path.isfile(fake) or os.path.isfile(os.path.join(fake, "meta.json"))
    # reports go next to Data/ (the run folder) when given a run's Data/ or a model file
    out = args.out or (run if as_run else os.path.dirname(fake)
                       if os.path.basename(fake) == "Data" or is_model else fake)
    with tempfile.TemporaryDirectory(prefix="msgan-evaluate-") as tmp:
        if is_model:
            from msgan.inference import generate
            if args.num <= 0:
                raise MsganError(f"--num is {args.num} — pass a positive number of images")
            generate.generate(generate.load_sampler(fake), tmp, args.num, seed=args.seed)
        result = _evaluate(args, os.path.join(tmp, "Data") if is_model else fake, out,
                           run, fake)
    # a short summary: the whole result is in the JSON file named here
    report_dir = os.path.join(os.path.abspath(out), "report")
    if args.augmentation_benefit:
        from msgan.metrics.augmentation_benefit import verdict_line
        log.info("%s", verdict_line(result))
        log.info("wrote %s (every arm, per class and seed) and augmentation.png",
                 os.path.join(report_dir, "augmentation.json"))
    else:
        for line in _metrics_summary(result):
            log.info("%s", line)
        log.info("wrote %s (every figure, per class)", os.path.join(report_dir, "metrics.json"))
    if result.get("comparison"):
        log.info("%s", result["comparison"])
    if run and os.path.abspath(out) == run and os.path.isfile(os.path.join(run, "report.html")):
        from msgan.report import write_report      # the run's page shows these results too
        log.info("rewrote %s to show these results", write_report(run))


def _metrics_summary(result: dict) -> list:
    """msgan evaluate's console lines: the overall scores and the per-class KID."""
    def num(x):
        return "n/a" if x is None else f"{x:.4g}"
    o = result.get("overall") or {}
    kid = num(o.get("kid")) + (f" ± {num(o.get('kid_std'))}" if o.get("kid_std") is not None
                               else "")
    lines = [f"KID {kid}, FID {num(o.get('fid'))}, precision {num(o.get('precision'))}, "
             f"recall {num(o.get('recall'))} ({o.get('n_real')} real and {o.get('n_fake')} "
             f"generated images, {result.get('extractor')} features; lower KID/FID is closer)"]
    per_class = result.get("per_class") or {}
    if per_class:
        lines.append("KID per class: " + ", ".join(f"{c} {num(r.get('kid'))}"
                                                   for c, r in per_class.items()))
    return lines


def _evaluate(args, fake: str, out: str, run: str | None, given: str) -> dict:
    if args.augmentation_benefit:
        from msgan.metrics.augmentation_benefit import augmentation_benefit
        return augmentation_benefit(args.real_dir, fake, out,
                                    seeds=tuple(range(args.seed, args.seed + args.seeds)),
                                    epochs=args.epochs, resolution=args.resolution,
                                    channels=args.channels, mirror=bool(args.mirror),
                                    progress=True, heldout_dir=args.heldout)
    from msgan.metrics.evaluate import evaluate_folders
    result = evaluate_folders(args.real_dir, fake, extractor=args.extractor,
                              inception_checkpoint=args.inception_checkpoint,
                              resolution=args.resolution, channels=args.channels,
                              epochs=args.epochs, seed=args.seed, progress=True)
    if run:   # say whether this KID and the run's own snapshot KID are the same measurement
        from msgan import runinfo
        row, result["comparison"] = runinfo.compare_with_run(run, given, args.real_dir, args,
                                                             result)
        if row:
            result["run_snapshot"] = {k: row.get(k) for k in ("snapshot", "kimg", "kid",
                                                              "kid_std", "n_fake", "n_real")}
    from msgan.io import write_json
    write_json(os.path.join(out, "report", "metrics.json"), result, indent=1)
    return result


def _to_log_file(line: str) -> None:
    """A run's log.txt also says why it stopped (the console line alone is easily lost)."""
    import logging
    log = logging.getLogger("msgan")
    for h in log.handlers:
        if isinstance(h, logging.FileHandler):
            h.handle(log.makeRecord(log.name, logging.ERROR, __file__, 0, line, None, None))


COMMANDS = {"train": _cmd_train, "generate": _cmd_generate, "export": _cmd_export,
            "convert": _cmd_convert,
            "validate": _cmd_validate, "evaluate": _cmd_evaluate}


def _out_of_memory(e: BaseException) -> bool:
    """MemoryError, or MindSpore's runtime failing to allocate ("Memory not enough")."""
    text = str(e)
    return isinstance(e, MemoryError) or "Memory not enough" in text or \
        "alloc failed" in text


def main(argv=None) -> int:
    argv = sys.argv[1:] if argv is None else list(argv)
    debug = "--debug" in argv
    if not debug:
        # Before MindSpore is imported: it prints ~20 WARNING lines per command that a user
        # cannot act on (its own deprecated calls, probes for Ascend/GPU plugins on a CPU
        # machine). Errors still show; a GLOG_v the user set wins; --debug keeps them all.
        from msgan.runtime import quiet_mindspore
        quiet_mindspore()
    try:
        parser = _parser(key_listing="train" in argv and ("-h" in argv or "--help" in argv))
        # KEY=VALUE overrides may come after options (train cfg --force a=1): argparse stops
        # collecting the positional list at the first option, so gather the rest here.
        args, extra = parser.parse_known_args(argv)
        if args.command == "train":
            args.overrides += [e for e in extra if "=" in e and not e.startswith("-")]
            extra = [e for e in extra if not ("=" in e and not e.startswith("-"))]
        if extra:
            parser.error(f"unrecognized arguments: {' '.join(extra)}")
        if not args.command:
            _parser().print_help()
            return 2
        from msgan import runlock
        locks = runlock.held()
        try:
            COMMANDS[args.command](args)
        finally:
            runlock.release_to(locks)     # what the command locked (msgan generate --out)
        return 0
    except MsganError as e:
        if debug:
            traceback.print_exc()
        print(f"msgan: error: {e}", file=sys.stderr)
        _to_log_file(f"msgan: error: {e}")
        return 2
    except KeyboardInterrupt:
        print("msgan: interrupted", file=sys.stderr)
        return 130
    except Exception as e:  # a bug, not bad input: still one line unless --debug
        if debug:
            traceback.print_exc()
        if _out_of_memory(e):
            line = ("out of host memory (MindSpore could not allocate a buffer) — lower "
                    "data.resolution, train.batch_size or the model's widths, or start from the "
                    "model's *_cpu.yaml config; snapshots already written are kept")
            print(f"msgan: error: {line}", file=sys.stderr)
            _to_log_file(f"msgan: error: {line}")
            return 1
        # MindSpore's messages open with a rule of dashes: show the first line with words
        lines = [ln.strip() for ln in str(e).splitlines() if any(ch.isalpha() for ch in ln)]
        first = (lines or [""])[0][:300]
        print(f"msgan: error: internal error {type(e).__name__}: {first} — rerun with --debug "
              "and report it", file=sys.stderr)
        return 1
