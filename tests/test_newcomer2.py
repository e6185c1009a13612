"""A new user's second round (issue 35): what they type and what they are told back."""
import json
import os

import numpy as np
import pytest
from PIL import Image

from msgan.config import load_config
from msgan.errors import MsganError
from msgan_process import ROOT, assert_clean_error, run_msgan


# -- point 9: misspelt keys, the operator's flat names, --help --------------------------------

@pytest.mark.parametrize("override, suggestion", [
    ("train.total_kimgs=1", "did you mean train.total_kimg?"),
    ("generate.generate_nums=3", "did you mean generate.generate_num?"),
    ("seed=3", "did you mean generate.seed or train.seed?"),
])
def test_a_misspelt_key_gets_a_did_you_mean(override, suggestion):
    with pytest.raises(MsganError, match="unknown config key") as e:
        load_config(os.path.join(ROOT, "configs", "dcgan.yaml"), [override])
    assert suggestion in str(e.value)


def test_the_operators_flat_keys_land_in_their_sections(tmp_path):
    cfg = load_config(os.path.join(ROOT, "configs", "dcgan.yaml"),
                      ["generate_num=5", "total_kimg=2", "batch_size=16", "resolution=32",
                       "do_validation=false", "resume=auto"])
    assert (cfg.generate.generate_num, cfg.train.total_kimg, cfg.train.batch_size,
            cfg.data.resolution, cfg.data.do_validation) == (5, 2.0, 16, 32, False)
    assert cfg.train.resume == "auto" and cfg.generate.resume == ""   # not predicting
    cfg = load_config(os.path.join(ROOT, "configs", "dcgan.yaml"),
                      ["predict=true", "resume=/models/G.onnx"])
    assert cfg.generate.predict and cfg.generate.resume == "/models/G.onnx"
    both = tmp_path / "both.yaml"        # one key given both ways in one YAML: say which
    both.write_text("generate_num: 3\ngenerate:\n  generate_num: 4\n")
    with pytest.raises(MsganError, match="generate_num .*generate.generate_num is 4"):
        load_config(str(both))


def test_help_shows_the_example_on_one_line_and_train_help_the_modes_and_keys():
    env_cols = os.environ.get("COLUMNS")
    os.environ["COLUMNS"] = "80"       # argparse wraps to the terminal width
    try:
        top = run_msgan("--help")
        train = run_msgan("train", "--help")
    finally:
        if env_cols is None:
            del os.environ["COLUMNS"]
        else:
            os.environ["COLUMNS"] = env_cols
    assert top.returncode == 0 and train.returncode == 0
    assert "  msgan train configs/dcgan_digits.yaml train.total_kimg=1" in top.stdout.splitlines()
    text = train.stdout
    assert "generate.predict=true generate.resume=MODEL" in text
    assert "train.resume=auto" in text
    assert "total_kimg" in text and "generate_num" in text and "benefit_heldout" in text


# -- point 5: msgan validate ----------------------------------------------------------------------

def test_validate_writes_nothing_unless_asked_and_checks_at_the_config_default(tmp_path):
    data = tmp_path / "d"
    for cls in ("a", "b"):
        (data / cls).mkdir(parents=True)
        for i in range(3):
            Image.new("RGB", (40, 40), (i * 40, 0, 0)).save(data / cls / f"{i}.png")
    cwd = tmp_path / "work"
    cwd.mkdir()
    r = run_msgan("validate", str(data), cwd=str(cwd))
    assert r.returncode == 0, r.stderr
    assert os.listdir(cwd) == [] and "nothing was written" in r.stdout
    report = tmp_path / "v.json"
    r = run_msgan("validate", str(data), "--report", str(report), cwd=str(cwd))
    assert r.returncode == 0, r.stderr
    defaults = load_config(None)
    got = json.loads(report.read_text())
    assert (got["resolution"], got["channels"]) == (defaults.data.resolution,
                                                    defaults.data.channels)
    (data / "c").mkdir()          # a class too small: the error says how to get the details
    Image.new("RGB", (40, 40)).save(data / "c" / "only.png")
    r = run_msgan("validate", str(data), cwd=str(cwd))
    assert_clean_error(r, "'c'")
    assert os.listdir(cwd) == [] and "msgan-validate-" not in r.stderr


# -- point 2: the command printed at Ctrl-C continues the run ----------------------------------

def _fake_run(tmp_path, *overrides):
    """A run folder as training leaves it: its resolved config.yaml and a snapshot."""
    from msgan.config import dump_config
    run = tmp_path / "run"
    (run / "checkpoints" / "snapshot-000000016").mkdir(parents=True)
    data = tmp_path / "imgs"
    data.mkdir(exist_ok=True)
    cfg = load_config(os.path.join(ROOT, "configs", "dcgan.yaml"),
                      [f"data.path={data}", f"output_dir={run}", "train.total_kimg=5",
                       *overrides])
    dump_config(cfg, str(run / "config.yaml"))
    return run, data


def test_resume_takes_the_runs_config_and_lists_what_it_does_not_apply(tmp_path):
    from msgan.config import continue_run
    run, data = _fake_run(tmp_path, "model.ngf=16")
    # the shipped config again, with only some of the run's overrides, a longer schedule and a
    # different learning rate
    given = ["train.resume=auto", f"output_dir={run}", "train.total_kimg=8",
             "train.G_opt.lr=0.01", "generate.generate_num=7"]
    yaml_path = os.path.join(ROOT, "configs", "dcgan.yaml")
    cfg, notes = continue_run(load_config(yaml_path, given), yaml_path, given)
    assert cfg.data.path == str(data) and cfg.model.ngf == 16       # the run's, not the YAML's
    assert cfg.train.total_kimg == 8.0 and cfg.generate.generate_num == 7      # may change
    assert cfg.train.G_opt.lr == load_config(str(run / "config.yaml")).train.G_opt.lr
    assert set(notes["changed"]) == {"train.total_kimg", "generate.generate_num"}
    assert {"data.path", "model.ngf", "train.G_opt.lr"} <= set(notes["kept"])
    assert notes["kept"]["train.G_opt.lr"][0] == 0.01
    # the printed command: the run's own config.yaml, nothing else to repeat
    from msgan.train.run import resume_command
    words = resume_command(str(run)).split()
    assert words[:3] == ["msgan", "train", str(run / "config.yaml")]
    cfg, notes = continue_run(load_config(words[2], words[3:]), words[2], words[3:])
    assert notes["changed"] == {} and notes["kept"] == {} and cfg.data.path == str(data)
    # no snapshot yet: a fresh start takes the config as given
    (run / "checkpoints" / "snapshot-000000016").rmdir()
    cfg, notes = continue_run(load_config(yaml_path, given), yaml_path, given)
    assert notes is None and cfg.train.G_opt.lr == 0.01


def test_ctrl_c_prints_a_command_that_continues_the_run_verbatim(tmp_path, spawn):
    """Interrupt a run started with overrides, paste the printed command from another folder:
    it continues (no 'data path does not exist'), and no progress bar is drawn after the
    interrupt line."""
    import shlex
    import signal
    import subprocess
    import time
    from test_train_e2e import make_class_folder
    data = make_class_folder(tmp_path / "imgs")
    run = tmp_path / "run"
    args = ["configs/dcgan_cpu.yaml", "model.ngf=4", "model.ndf=4", "model.z_dim=8",
            "data.resolution=32", "train.batch_size=8", "train.total_kimg=10",
            "train.snapshot_kimg=0.016", "train.tick_kimg=0.008", "generate.generate_num=1",
            "metrics.extractor=none", "metrics.benefit_check=false", "train.export=[mindir]",
            "generate.filter=none", f"data.path={os.path.relpath(data, ROOT)}",
            f"output_dir={run}"]
    proc = spawn("-m", "msgan", "train", *args, stdout=subprocess.DEVNULL,
                 stderr=subprocess.PIPE)
    t0 = time.time()
    while not list((run / "checkpoints").glob("snapshot-*")) and time.time() - t0 < 300 \
            and proc.poll() is None:
        time.sleep(0.1)
    time.sleep(0.5)
    proc.send_signal(signal.SIGINT)
    _, err = proc.communicate(timeout=300)
    assert proc.returncode == 130, err[-2000:]
    hint = [ln for ln in err.splitlines() if "continue with:" in ln]
    assert len(hint) == 1, err[-2000:]
    after = err[err.index(hint[0]):]
    assert "kimg [" not in after, after          # the training bar was closed before it
    command = shlex.split(hint[0].split("continue with:", 1)[1])
    assert command[:2] == ["msgan", "train"]
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    r = run_msgan(*command[1:], "train.total_kimg=0.048", cwd=elsewhere)
    assert r.returncode == 0, r.stderr[-3000:]
    log = (run / "log.txt").read_text()
    assert "resumed from" in log and "train.total_kimg 10.0 → 0.048" in log
    assert load_config(str(run / "config.yaml")).model.ngf == 4     # the run's, not the YAML's


# -- point 4: predict mode records what it made ---------------------------------------------------

def test_predict_mode_config_records_the_models_resolution_and_channels(tmp_path):
    """configs/dcgan.yaml says 64² RGB; the model makes 32² greyscale: config.yaml says 32/1, the
    log names the manifest and ends with done."""
    pytest.importorskip("mindspore")
    from msgan.inference.export import export_generator
    from msgan.models import MODELS
    from msgan.train.tasks.noise import build_meta
    cfg = load_config(os.path.join(ROOT, "configs", "dcgan.yaml"),
                      ["data.resolution=32", "data.channels=1", "model.ngf=4", "model.ndf=4",
                       "model.z_dim=8"])
    G, _ = MODELS["dcgan"].build(cfg.model, 32, 1, 0)
    G.set_train(False)
    meta = build_meta(cfg, (), export_batch=4)
    stem = str(tmp_path / "model" / "G_ema")
    assert export_generator(MODELS["dcgan"].export_net(G), meta, stem,
                            formats=("onnx",))["onnx"]["ok"]
    out = tmp_path / "predicted"
    r = run_msgan("train", "configs/dcgan.yaml", "generate.predict=true",
                  f"generate.resume={stem}.onnx", "generate.generate_num=1",
                  "train.progress=false", f"output_dir={out}")
    assert r.returncode == 0, r.stderr[-3000:]
    written = load_config(str(out / "config.yaml"))
    assert (written.data.resolution, written.data.channels) == (32, 1)
    assert written.model.ngf == 4                   # the model's own keys, not the YAML's
    assert Image.open(next((out / "Data").glob("*.png"))).size == (32, 32)
    log = (out / "log.txt").read_text().splitlines()
    assert any(str(out / "output_0.manifest") in ln for ln in log)
    assert "generated 1 image in" in "\n".join(log)     # singular
    assert log[-1].endswith(f"done: {out}")


# -- point 6: the log file, plurals ----------------------------------------------------------------

def test_log_txt_names_a_warnings_level_once(tmp_path):
    import logging
    from msgan import runtime
    runtime.setup_logging(str(tmp_path))
    logging.getLogger("msgan").warning("WARNING: fewer images than asked for brick")
    logging.getLogger("msgan").warning("plain words")
    runtime.setup_logging(None)
    lines = (tmp_path / "log.txt").read_text().splitlines()
    assert lines[0].endswith(" WARNING: fewer images than asked for brick"), lines
    assert "WARNING WARNING" not in lines[0] and lines[1].endswith(" WARNING plain words")


def test_measured_eta_ignores_the_compiling_first_step():
    """The first update (a step that compiles) is left out of the rate: the ETA shows '?' until
    a second one, then the rate of the steps after the first."""
    import io
    import time
    from msgan.progress import Bar
    f = io.StringIO()
    bar = Bar(total=100, file=f, warmup=True, mininterval=0,
              bar_format="{n}/{total} <{remaining}, {rate_fmt}>")
    time.sleep(1.0)               # "compiling"
    bar.update(1)
    assert f.getvalue().split("\r")[-1].startswith("1/100 <?, ?")
    for _ in range(5):
        time.sleep(0.02)
        bar.update(1)
    rate = bar.format_dict["rate"]
    assert rate > 20, rate       # ~50 steps/s measured; tqdm's own average: < 6
    bar.close()


def test_a_bar_finished_by_its_one_compiling_update_shows_a_rate():
    """generate with one batch: the finished bar says its rate (the whole run's), not '?'."""
    import io
    import time
    from msgan.progress import Bar
    f = io.StringIO()
    bar = Bar(total=4, file=f, warmup=True, mininterval=0, unit="img",
              bar_format="{n}/{total} [{rate_fmt}]")
    time.sleep(0.5)
    bar.update(4)
    bar.close()
    last = f.getvalue().split("\r")[-1]
    assert last.startswith("4/4 [") and "?" not in last, last
    assert "img/s" in last or "s/img" in last, last      # tqdm inverts a rate below 1


# -- point 7: a class with no images says why --------------------------------------------------

def test_an_empty_class_says_why_in_quality_json_the_log_and_the_report(tmp_path, caplog,
                                                                         monkeypatch):
    import logging
    from msgan.inference import empty_classes
    from msgan.report import write_report
    import shutil
    from test_report import make_run
    run = make_run(tmp_path)
    shutil.rmtree(run / "Data" / "dog")               # the filter kept none: no folder
    tally = {"cat": {"asked": 3, "kept": 3, "tried": 4}, "dog": {"asked": 3, "kept": 0,
                                                                "tried": 12}}
    reasons = empty_classes.reasons(["cat", "dog", "ä & b"], None, tally,
                                    {"cat": 3, "dog": 3, "ä & b": 3}, 0)
    assert set(reasons) == {"dog"} and reasons["dog"]["reason"] == "filtered_out"
    monkeypatch.setattr(logging.getLogger("msgan"), "propagate", True)
    with caplog.at_level(logging.WARNING, logger="msgan"):
        empty_classes.record(str(run), reasons)
    assert any("for dog:" in r.getMessage() and "dog: 12 tried" in r.getMessage()
               for r in caplog.records)
    quality = json.loads((run / "quality.json").read_text())
    assert quality["empty_classes"]["dog"]["reason"] == "filtered_out"
    assert quality["augmentation_benefit"]      # the other entries are kept
    with open(write_report(str(run)), encoding="utf-8") as f:
        text = f.read()
    row = text[text.index("<td>dog</td>"):]
    row = row[:row.index("</tr>")]
    assert "none generated" in row and "kept none of the 12 images" in row


# -- point 8: report.html ----------------------------------------------------------------------

def _benefit_report():
    """quality.json's augmentation_benefit as the imbalanced digits gave it (issue 35)."""
    def arm(bal, acc=0.9):
        return {"balanced_accuracy": {"mean": bal, "std": 0.01, "per_seed": [bal, bal]},
                "accuracy": {"mean": acc, "std": 0.0, "per_seed": [acc, acc]}}
    return {"verdict": "generated images helped",
            "balanced_accuracy_difference": {"mean": 0.308, "std": 0.01, "spread": 0.02},
            "rebalanced_verdict": "generated images hurt",
            "rebalanced_difference": {"mean": -0.008, "std": 0.001, "spread": 0.005},
            "real_only": arm(0.659), "real_plus_generated": arm(0.967),
            "real_rebalanced": arm(0.967), "rebalanced_plus_generated": arm(0.959),
            "generated_recognised": {"accuracy": {"mean": 0.97}},
            "per_class_gain": {"cat": 0.01, "dog": 0.6, "ä & b": 0.3},
            "n_heldout": {"cat": 4, "dog": 4, "ä & b": 4}, "heldout_unseen": False,
            "seeds": [0, 1], "steps": 300, "verdict_rule": "d = ..."}


def test_report_shows_readable_thumbnails_numbers_tables_and_samples(tmp_path):
    import base64
    import io
    import re
    from msgan.report import write_report
    from test_report import make_run, parse
    run = make_run(tmp_path)       # 8 px greyscale images
    quality = {"augmentation_benefit": _benefit_report(), "class_filter": {
        "filter": "classifier", "tries": 4, "min_confidence": 0.0,
        "classifier_recall_on_reals": {"cat": 0.95, "dog": 0.4},
        "unfiltered": ["dog"], "diversity_ratio": {"cat": 0.81, "dog": None},
        "collapsed": [], "not_written": [],
        "per_class": {"cat": {"asked": 3, "kept": 3, "tried": 7},
                      "dog": {"asked": 3, "kept": 3, "tried": 3}}}}
    (run / "quality.json").write_text(json.dumps(quality))
    grid = np.zeros((3 * 10, 8 * 10), np.uint8)
    Image.fromarray(grid).save(run / "samples" / "fakes0000.050.png")
    Image.fromarray(grid).save(run / "samples" / "fakes0000.020.png")
    Image.fromarray(grid).save(run / "samples" / "progress.gif")
    write_report(str(run))
    text, page = parse(run / "report.html")
    assert page.errors == []
    # thumbnails: 8 px images upscaled (nearest neighbour, in the PNG) to >= 96 px
    strips = [r for r in page.refs if r.startswith("data:image/png")]
    sizes = [Image.open(io.BytesIO(base64.b64decode(r.split(",", 1)[1]))).size for r in strips]
    assert all(h >= 96 for _, h in sizes[:6]), sizes
    # the verdict's numbers, the fair baseline first, no raw JSON
    quality_html = text[text.index("Does the generated data help?"):text.index("Exports")]
    assert quality_html.index("generated images hurt") < quality_html.index(
        "generated images helped")
    for number in ("0.967", "0.959", "-0.8", "+30.8", "0.659", "97%"):
        assert number in quality_html, number
    assert not re.search(r'\{\s*&quot;|\{"', quality_html)
    assert "candidates tried" in quality_html and "<td>7</td>" in quality_html
    # the newest sample grid and progress.gif
    assert "fakes0000.050.png, the newest" in text
    assert any(r.startswith("data:image/gif;base64,") for r in page.refs)


# -- point 10: the first verdict is against the fair baseline -------------------------------------

def test_the_first_verdict_of_an_imbalanced_folder_is_against_repeated_reals():
    from msgan.metrics.augmentation_benefit import verdict_line, warning_for
    report = _benefit_report()
    line = verdict_line(report)
    first = line.split(";")[0]
    assert first.startswith("generated images hurt against each class's reals repeated")
    assert "0.967 → 0.959 (-0.8 points" in first and "+30.8" not in first
    assert "+30.8 points" in line            # still there, second
    warning = warning_for(report, "/run/Data")
    assert warning.startswith("WARNING: generated images hurt against each class's reals")
    assert "WORSE than repeating" in warning


# -- point 6: msgan evaluate's console ---------------------------------------------------------

def test_evaluate_prints_a_summary_names_its_json_and_says_it_rewrote_the_report(
        tmp_path, monkeypatch, capsys):
    from msgan import cli
    from msgan.report import write_report
    from test_report import make_run
    run = make_run(tmp_path)
    (run / "checkpoints").mkdir()          # a run folder: evaluate's figures go into it
    write_report(str(run))
    result = {"extractor": "classifier", "overall": {"kid": 0.0123, "kid_std": 0.002,
                                                     "fid": 4.5, "precision": 0.8,
                                                     "recall": 0.6, "n_real": 9, "n_fake": 9},
              "per_class": {"cat": {"kid": 0.01}, "dog": {"kid": 0.02}}}

    def fake_evaluate(args, fake, out, run_dir, given):
        from msgan.io import write_json
        write_json(os.path.join(out, "report", "metrics.json"), result)
        return result
    monkeypatch.setattr(cli, "_evaluate", fake_evaluate)
    monkeypatch.setattr(cli, "_to_log_file", lambda line: None)
    assert cli.main(["evaluate", str(tmp_path / "reals"), str(run / "Data")]) == 0
    captured = capsys.readouterr()
    text = captured.out + captured.err
    assert "{" not in text, text                   # no JSON dump
    assert "KID 0.0123 ± 0.002, FID 4.5" in text and "KID per class: cat 0.01, dog 0.02" in text
    assert str(run / "report" / "metrics.json") in text
    assert f"rewrote {run / 'report.html'}" in text


def test_a_line_logged_under_a_bar_gets_its_own_line_and_100_percent_shows_once(capsys):
    """'snapshot at ...' was glued to the training bar's line; the bar's 100% came twice."""
    import logging
    from msgan import runtime
    from msgan.progress import Bar
    runtime.setup_logging(None)
    try:
        bar = Bar(total=7, desc="train", mininterval=0)
        for i in range(7):
            bar.update(1)
            if i in (2, 4):
                logging.getLogger("msgan").info("snapshot at %d", i)
        bar.close()
    finally:
        runtime.setup_logging(None)
    lines = [ln.strip() for ln in capsys.readouterr().err.replace("\r", "\n").splitlines()]
    assert "snapshot at 2" in lines and "snapshot at 4" in lines     # lines of their own
    assert sum(ln.startswith("train: 100%") for ln in lines) == 1, lines
