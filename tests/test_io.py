"""Atomic writes keep the umask's mode; Data/ replacement deletes only what msgan wrote."""
import json
import os

import pytest

from msgan import io
from msgan.inference import generated
from msgan.errors import MsganError


@pytest.fixture
def umask_027():
    old = os.umask(0o027)
    yield
    os.umask(old)


def test_atomic_writes_get_the_umask_mode(tmp_path, umask_027):
    assert io.umask() == 0o027 and io.file_mode() == 0o640
    io.write_json(str(tmp_path / "a" / "x.json"), {"k": "ä"}, ensure_ascii=False)
    io.write_bytes(str(tmp_path / "b.bin"), b"\x00\x01")
    for p in (tmp_path / "a" / "x.json", tmp_path / "b.bin"):
        assert os.stat(p).st_mode & 0o777 == 0o640
    assert json.loads((tmp_path / "a" / "x.json").read_text(encoding="utf-8")) == {"k": "ä"}
    # a file some library wrote read-only (MindSpore: 0400) is fixed in place
    ro = tmp_path / "ro.ckpt"
    ro.write_bytes(b"x")
    os.chmod(ro, 0o400)
    io.fix_mode(str(ro))
    assert os.stat(ro).st_mode & 0o777 == 0o640


def test_failed_write_keeps_the_old_file_and_no_temp(tmp_path):
    target = tmp_path / "stats.json"
    io.write_text(str(target), "old")
    with pytest.raises(ZeroDivisionError):
        with io.atomic_path(str(target)) as tmp:
            with open(tmp, "w") as f:
                f.write("half")
            1 / 0
    assert target.read_text() == "old" and os.listdir(tmp_path) == ["stats.json"]


def _old_run(out):
    """Data/ as an older msgan left it: an empty marker, images listed in the manifest."""
    (out / "Data" / "cat").mkdir(parents=True)
    (out / "Data" / generated.MARKER).write_text("")
    lines = []
    for name in ("cat_0", "cat_1"):
        path = out / "Data" / "cat" / f"{name}.png"
        path.write_bytes(b"png")
        lines.append(json.dumps({"id": name, "source": str(path)}))
    (out / "output_0.manifest").write_text("\n".join(lines) + "\n")
    (out / "Data" / "cat" / "mine.png").write_bytes(b"a user's image")


def test_replacing_old_output_removes_only_listed_files(tmp_path):
    _old_run(tmp_path)
    with pytest.raises(MsganError, match="--force"):
        generated.start(str(tmp_path), overwrite=False)
    assert len(os.listdir(tmp_path / "Data" / "cat")) == 3
    data = generated.start(str(tmp_path), overwrite=True)
    assert os.listdir(tmp_path / "Data" / "cat") == ["mine.png"]
    assert not (tmp_path / "output_0.manifest").exists()
    # the new marker lists what is claimed next, relative to Data/
    generated.claim(data, [os.path.join(data, "dog", "dog_3.png")])
    marker = (tmp_path / "Data" / generated.MARKER).read_text()
    assert marker == os.path.join("dog", "dog_3.png") + "\n"


def test_a_data_folder_msgan_did_not_write_is_refused(tmp_path):
    (tmp_path / "Data").mkdir()
    (tmp_path / "Data" / "photo.jpg").write_bytes(b"x")
    for overwrite in (False, True):
        with pytest.raises(MsganError, match="did not write"):
            generated.start(str(tmp_path), overwrite=overwrite)
    assert (tmp_path / "Data" / "photo.jpg").read_bytes() == b"x"


def test_snapshot_lookup(tmp_path):
    ckpts = tmp_path / "run" / "checkpoints"
    for nimg, files in ((2000, ("meta.json", "G_ema.ckpt")), (10000, ("meta.json",)),
                        (500, ("meta.json", "G_ema.ckpt"))):
        snap = ckpts / io.snapshot_name(nimg)
        snap.mkdir(parents=True)
        for f in files:
            (snap / f).write_text("{}")
    (ckpts / ".tmp-snapshot-000020000-1").mkdir()       # a snapshot being written
    (ckpts / "snapshot-old").mkdir()
    names = [os.path.basename(p) for p in io.list_snapshots(str(ckpts))]
    assert names == ["snapshot-000000500", "snapshot-000002000", "snapshot-000010000"]
    assert io.list_snapshots(str(tmp_path / "missing")) == []
    full = ("meta.json", "G_ema.ckpt")
    newest = str(ckpts / "snapshot-000002000")
    # a run folder, its checkpoints folder, a snapshot itself
    assert io.newest_snapshot(str(tmp_path / "run"), full) == newest
    assert io.newest_snapshot(str(ckpts), full) == newest
    assert io.newest_snapshot(newest, full) == newest
    assert io.newest_snapshot(str(tmp_path / "run")) == str(ckpts / "snapshot-000010000")
    assert io.newest_snapshot(str(tmp_path)) is None


def test_read_json_errors_are_one_line(tmp_path):
    with pytest.raises(MsganError, match="meta.json of x not found at .* — do this"):
        io.read_json(str(tmp_path / "nope.json"), "meta.json of x", "do this")
    (tmp_path / "bad.json").write_text("{not json")
    with pytest.raises(MsganError, match="is not valid JSON .* — do this") as e:
        io.read_json(str(tmp_path / "bad.json"), "x", "do this")
    assert "\n" not in str(e.value)
    io.write_json(str(tmp_path / "good.json"), {"a": [1]})
    assert io.read_json(str(tmp_path / "good.json"), "x", "y") == {"a": [1]}
    assert io.one_line(RuntimeError("first\n----\nC++ context")) == "first"
    assert io.one_line(ValueError()) == "ValueError"
