"""CLI error paths: one 'msgan: error:' line, exit 2, never a traceback."""
import os

import pytest

from msgan_process import assert_clean_error, run_msgan


@pytest.fixture
def bad_yaml(tmp_path):
    p = tmp_path / "bad.yaml"
    p.write_text("model:\n  name: dcgan\n   ngf: 3\n")
    return str(p)


def test_bad_yaml(bad_yaml):
    assert_clean_error(run_msgan("train", bad_yaml), "not valid YAML")


@pytest.mark.parametrize("override, fragment", [
    ("model.colour=3", "unknown config key model.colour"),
    ("train.batch_size=big", "train.batch_size must be an integer"),
    ("data.resolution=100", "power of two"),
    ("device_target=NPU", "device_target"),
])
def test_bad_config_values(override, fragment):
    assert_clean_error(run_msgan("train", "configs/dcgan_cpu.yaml", override), fragment)


def test_missing_config_file():
    assert_clean_error(run_msgan("train", "configs/nope.yaml"), "does not exist")


def test_bad_data_folders_and_their_retry(tmp_path):
    out = tmp_path / "out"
    r = run_msgan("train", "configs/dcgan_cpu.yaml", f"data.path={tmp_path}/missing",
                  f"output_dir={out}")
    assert_clean_error(r, "does not exist")
    assert (out / "log.txt").is_file() and (out / "config.yaml").is_file()
    # the failed start is not a run: retrying into the same output_dir is not refused
    (tmp_path / "data").mkdir()
    (tmp_path / "data" / "notes.txt").write_text("hello")
    r = run_msgan("train", "configs/dcgan_cpu.yaml", f"data.path={tmp_path}/data",
                  f"output_dir={out}")
    assert_clean_error(r, "no images")
    log = (out / "log.txt").read_text()
    assert f"{tmp_path}/missing" in log and "reusing it" in log      # old lines kept
    assert log.index(f"{tmp_path}/missing") < log.index("reusing it")


def test_output_inside_input_is_refused(tmp_path):
    data = tmp_path / "data"
    data.mkdir()
    r = run_msgan("train", "configs/dcgan_cpu.yaml", f"data.path={data}",
                  f"output_dir={data}/out")
    assert_clean_error(r, "inside the input folder")
    assert sorted(os.listdir(data)) == []


def test_bad_model_paths(tmp_path):
    r = run_msgan("generate", "--model", str(tmp_path / "x.onnx"), "--out", str(tmp_path / "o"),
                  quiet_env=False)
    assert_clean_error(r, "does not exist")
    # the device probe ran (MindSpore imported) without its WARNING lines reaching the user
    assert "device: " in r.stderr and "[WARNING]" not in r.stderr, r.stderr
    junk = tmp_path / "junk.pt"
    junk.write_text("x")
    assert_clean_error(run_msgan("generate", "--model", str(junk), "--out", str(tmp_path / "o")),
                       "unknown model type")
    assert_clean_error(run_msgan("export", "--checkpoint", str(tmp_path), "--out",
                                 str(tmp_path / "o")), "no snapshot")
    assert_clean_error(run_msgan("generate", "--model", str(junk), "--out", str(tmp_path / "o"),
                                 "--reals", str(tmp_path), "--filter-tries", "0"),
                       "--filter-tries is 0")
    assert_clean_error(run_msgan("generate", "--model", str(junk), "--out", str(tmp_path / "o"),
                                 "--reals", str(tmp_path), "--filter-confidence", "1"),
                       "--filter-confidence is 1.0")


def test_predict_without_resume():
    assert_clean_error(run_msgan("train", "configs/dcgan_cpu.yaml", "generate.predict=true"),
                       "generate.resume is empty")


def test_usage_errors():
    assert_clean_error(run_msgan("train"), "--help")
    assert_clean_error(run_msgan("frobnicate"), "--help")


def test_heldout_needs_the_augmentation_report(tmp_path):
    assert_clean_error(run_msgan("evaluate", str(tmp_path), str(tmp_path), "--heldout",
                                 str(tmp_path)), "add --augmentation-benefit")


def test_validate_command(tmp_path):
    from PIL import Image
    data = tmp_path / "d"
    (data / "a").mkdir(parents=True)
    (data / "b").mkdir()
    for cls in ("a", "b"):
        for i in range(3):
            Image.new("RGB", (16, 16), (i * 40, 0, 0)).save(data / cls / f"{i}.png")
    (data / "b" / "broken.png").write_bytes(b"")
    report = tmp_path / "report.json"
    r = run_msgan("validate", str(data), "--resolution", "16", "--report", str(report))
    assert r.returncode == 0, r.stderr
    assert report.is_file() and "6 of 7" in r.stdout
    (data / "c").mkdir()
    Image.new("RGB", (16, 16)).save(data / "c" / "only.png")
    r = run_msgan("validate", str(data), "--resolution", "16", "--report", str(report))
    assert_clean_error(r, "'c'")


def test_mindspore_log_level_is_set_before_import_unless_debug(monkeypatch, capsys):
    from msgan import __version__, cli
    for argv, expected in ((["--version"], "3"), (["--debug", "--version"], None)):
        monkeypatch.delenv("GLOG_v", raising=False)
        with pytest.raises(SystemExit) as e:
            cli.main(argv)
        assert e.value.code == 0 and os.environ.get("GLOG_v") == expected
        assert capsys.readouterr().out.startswith(f"msgan {__version__} (MindSpore ")
    monkeypatch.setenv("GLOG_v", "1")        # a level the user chose is kept
    with pytest.raises(SystemExit):
        cli.main(["--version"])
    assert os.environ["GLOG_v"] == "1"


def test_every_option_has_help():
    from msgan import cli
    parser = cli._parser()
    commands = parser._subparsers._group_actions[0].choices
    for name, sub in commands.items():
        for action in sub._actions:
            assert action.help, f"msgan {name} {action.dest} has no help text"


@pytest.mark.parametrize("message, fragment, out_of_memory", [
    # MindSpore's RuntimeError as the 256² StyleGAN2 run on a 24 GB host raised it
    ("----------------------------------------------------\n- Framework Error Message:\n"
     "----------------------------------------------------\nMemory not enough: kernel name: "
     "BroadcastTo-op409, alloc size: 268435456B.", "out of host memory", True),
    ("----------------------------------------------------\n- Kernel Execution Error:\n"
     "something else broke", "internal error RuntimeError: - Kernel Execution Error:", False),
])
def test_runtime_failures_are_one_line(monkeypatch, capsys, message, fragment, out_of_memory):
    from msgan import cli

    def fail(args):
        raise RuntimeError(message)

    monkeypatch.setitem(cli.COMMANDS, "validate", fail)
    monkeypatch.setattr(cli, "_to_log_file", lambda line: None)
    assert cli.main(["validate", "configs/dcgan.yaml"]) == 1
    err = capsys.readouterr().err
    lines = [line for line in err.splitlines() if line.startswith("msgan: error:")]
    assert len(lines) == 1 and fragment in lines[0] and "Traceback" not in err, err
    assert ("report it" in lines[0]) is not out_of_memory
