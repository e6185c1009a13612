"""Config strictness: every key checked, every bad value named, every shipped YAML loads."""
import dataclasses
import glob
import os

import pytest

from msgan.config import Config, dump_config, load_config, resolve_auto_values
from msgan.errors import MsganError

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def test_defaults_and_overrides():
    cfg = load_config(None, ["model.name=stylegan2", "data.resolution=64",
                             "train.G_opt.betas=[0, 0.99]", "train.total_kimg=1"])
    assert isinstance(cfg, Config)
    assert cfg.model.name == "stylegan2" and cfg.model.w_dim == 512
    assert cfg.data.resolution == 64 and cfg.train.total_kimg == 1.0
    assert cfg.train.G_opt.betas == [0.0, 0.99]


@pytest.mark.parametrize("overrides, fragment", [
    (["foo=1"], "unknown config key foo"),
    (["data.colour=3"], "unknown config key data.colour"),
    (["model.ngf=8", "model.name=gan"], "unknown config key model.ngf"),
    (["train.batch_size=x"], "train.batch_size must be an integer"),
    (["train.batch_size=1.5"], "train.batch_size must be an integer"),
    (["data.mirror=3"], "data.mirror must be true or false"),
    (["data.resolution=48"], "power of two"),
    (["data.resolution=16"], "dcgan needs a power of two from 32 to 256"),
    (["data.resolution=-32"], "power of two"),
    (["train.batch_size=0"], "train.batch_size must be > 0"),
    (["train.total_kimg=-1"], "train.total_kimg must be > 0"),
    (["data.channels=2"], "data.channels"),
    (["data.resize=zoom"], "data.resize"),
    (["model.name=biggan"], "unknown model 'biggan'"),
    (["device_target=TPU"], "device_target"),
    (["train.G_opt.betas=[0.5]"], "train.G_opt.betas"),
    (["generate.predict=true"], "generate.resume is empty"),
    (["train.total_kimg=.inf"], "finite"),
    (["justtext"], "not KEY=VALUE"),
])
def test_bad_values_are_named(overrides, fragment):
    with pytest.raises(MsganError) as e:
        load_config(None, overrides)
    assert fragment in str(e.value)
    assert "\n" not in str(e.value)


def test_numbers_in_exponent_notation(tmp_path):
    """PyYAML reads ``2e-4`` (no dot) as a string; a float key takes it as the number it is."""
    yaml_file = tmp_path / "lr.yaml"
    yaml_file.write_text("model: {name: dcgan}\ntrain:\n  G_opt: {lr: 2e-4}\n")
    assert load_config(str(yaml_file)).train.G_opt.lr == pytest.approx(2e-4)
    assert load_config(None, ["train.D_opt.lr=1e-3"]).train.D_opt.lr == pytest.approx(1e-3)
    for bad, fragment in (("train.D_opt.lr=2e-x", "must be a number"), ("train.D_opt.lr=inf",
                                                                         "finite")):
        with pytest.raises(MsganError, match=fragment):
            load_config(None, [bad])


def test_bad_yaml_files(tmp_path):
    bad = tmp_path / "bad.yaml"
    bad.write_text("model: {name: dcgan\ndata: [\n")
    with pytest.raises(MsganError, match="not valid YAML at line"):
        load_config(str(bad))
    lst = tmp_path / "list.yaml"
    lst.write_text("- a\n- b\n")
    with pytest.raises(MsganError, match="must be a mapping"):
        load_config(str(lst))
    with pytest.raises(MsganError, match="does not exist"):
        load_config(str(tmp_path / "missing.yaml"))
    with pytest.raises(MsganError, match="is a folder"):
        load_config(str(tmp_path))


@pytest.mark.parametrize("path", sorted(glob.glob(os.path.join(ROOT, "configs", "*.yaml"))))
def test_shipped_configs_load_and_round_trip(path, tmp_path):
    cfg = load_config(path)
    out = tmp_path / "config.yaml"
    dump_config(cfg, str(out))
    # the written config is cfg with its auto keys resolved to the values the run used
    resolved = cfg
    for (section, key), (value, _) in resolve_auto_values(cfg).items():
        part = dataclasses.replace(getattr(resolved, section), **{key: value})
        resolved = dataclasses.replace(resolved, **{section: part})
    assert load_config(str(out)) == resolved


def test_dumped_config_holds_the_auto_values_used(tmp_path):
    from msgan.losses import r1_gamma
    from msgan.train.phases.base import ema_beta

    cfg = load_config(None, ["model.name=stylegan2", "data.resolution=64",
                             "train.batch_size=8", "train.total_kimg=2", "train.tick_kimg=0.5"])
    path = tmp_path / "config.yaml"
    dump_config(cfg, str(path))
    text = path.read_text()
    assert "tick_kimg: 0.5\n" in text                       # set by the user: no auto mark
    assert "snapshot_kimg: 0.4  # auto: total_kimg / 5" in text
    assert "ema_kimg: 2.5  # auto: batch_size * 10 / 32" in text
    assert "  # auto: 0.0002 * resolution^2 / batch_size" in text
    again = load_config(str(path))                          # still a valid config, no nulls
    assert again.model.r1_gamma == pytest.approx(r1_gamma(None, 64, 8))
    assert again.train.ema_rampup == 0.05 and again.train.snapshot_kimg == 0.4
    # the written values are the ones training would use for auto
    for nimg in (0, 500, 3000):
        assert ema_beta(8, nimg, again.train.ema_kimg, again.train.ema_rampup) == \
            pytest.approx(ema_beta(8, nimg, None, None))


@pytest.mark.parametrize("overrides, fragment", [
    (["model.name=gan", "model.z_dist=normal"], "model.z_dist is 'normal' — use one of gaussian"),
    (["model.name=gan", "model.g_hidden=[]"], "model.g_hidden must be a non-empty list"),
    (["model.label_smoothing=0.2"], "model.label_smoothing is 0.2 — use a target in [0.5, 1]"),
    (["model.loss=hinge", "model.label_smoothing=0.9"], "only applies to loss=bce"),
    (["model.ndf=0"], "model.ndf must be > 0, got 0"),
    (["model.upsample=bilinear"], "model.upsample is 'bilinear'"),
    (["model.name=stylegan2", "model.augment=bgc"], "model.augment is 'bgc'"),
    (["model.name=stylegan2", "model.ada_p_max=2"], "model.ada_p_max must lie in [0, 1]"),
    (["model.name=pix2pix", "model.norm=group"], "model.norm is 'group'"),
    (["model.name=pix2pix", "model.dropout=1"], "model.dropout is 1.0 — use 0 <= p < 1"),
    (["model.name=cyclegan", "model.pool_size=-1"], "model.pool_size must be >= 0, got -1"),
    (["model.name=cyclegan", "model.ngf=0"], "model.ngf must be > 0, got 0"),
    (["model.name=discogan", "model.lambda_feature=2"], "lambda_feature is 2.0 — use 0..1"),
    (["model.name=srgan", "model.scale=3"], "model.scale is 3 — use one of 2, 4"),
    (["model.name=srgan", "model.content_loss=vgg"], "model.vgg_checkpoint is empty"),
])
def test_each_models_own_checks(overrides, fragment):
    with pytest.raises(MsganError) as e:
        load_config(None, ["data.resolution=32"] + overrides)
    assert fragment in str(e.value)
    assert "\n" not in str(e.value)


def test_the_registry_is_the_only_list_of_models():
    from msgan.data.pairs import LAYOUTS
    from msgan.models import MODELS
    from msgan.models.config_base import ModelConfig

    for name, spec in MODELS.items():
        assert dataclasses.is_dataclass(spec.config) and issubclass(spec.config, ModelConfig)
        assert spec.config().name == name
        assert (spec.task == "translate") == (spec.layout in LAYOUTS)
        assert spec.task == "translate" or spec.layout == "classes"
        lo, hi = spec.resolution
        cfg = load_config(None, [f"model.name={name}", f"data.resolution={hi}"])
        assert type(cfg.model) is spec.config
        with pytest.raises(MsganError, match=f"{name} needs a power of two from {lo} to {hi}"):
            load_config(None, [f"model.name={name}", f"data.resolution={hi * 2}"])
    assert type(Config().model) is MODELS["dcgan"].config
