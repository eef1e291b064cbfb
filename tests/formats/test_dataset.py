import os
import shutil

import numpy as np
import pytest

from studio.formats import FormatError, read_clip, read_dataset, write_clip, write_dataset
from studio.formats.paths import OutsideFolderError, resolve_inside
from studio.motion import ARKIT_CHANNELS, MotionClip


def make_records(n=6):
    rng = np.random.default_rng(0)
    for i in range(n):
        clip = MotionClip(rng.random((10 + i, 61)) * 0.5, 30, "arkit", ARKIT_CHANNELS)
        split = ("train", "val", "test")[i % 3]
        yield (
            f"seq_{i:03d}",
            f"A person does thing {i}",
            clip,
            split,
            {"happiness": 0.5, "actions": ["smile"]},
        )


def test_write_then_read_dataset(tmp_path):
    root = write_dataset(tmp_path / "ds", make_records(), name="tiny")
    dataset = read_dataset(root)
    assert dataset.name == "tiny" and len(dataset) == 6
    assert [i.id for i in dataset.split("test")] == ["seq_002", "seq_005"]
    item = dataset.items[3]
    assert item.prompt == "A person does thing 3" and item.labels["actions"] == '["smile"]'
    assert read_clip(item.clip_path).clip.n_frames == 13


def test_live_link_csv_clips_are_accepted(tmp_path):
    root = write_dataset(tmp_path / "ds", make_records(2), clip_format="csv")
    dataset = read_dataset(root)
    assert all(item.clip_path.suffix == ".csv" for item in dataset.items)


@pytest.mark.parametrize(
    ("breakage", "message"),
    [
        (lambda r: (r / "prompts.csv").unlink(), "no prompts.csv"),
        (lambda r: (r / "clips" / "seq_001.npz").unlink(), "no clip file clips/seq_001"),
        (lambda r: (r / "splits" / "val.txt").write_text("seq_000\n"), "already in train"),
        (lambda r: (r / "splits" / "test.txt").write_text("ghost\n"), "not in prompts.csv"),
        (lambda r: (r / "prompts.csv").write_text("id,prompt\na,x\na,y\n"), "line 3.*twice"),
        (lambda r: (r / "prompts.csv").write_text("id,prompt\n../etc,x\n"), "bad id"),
        (lambda r: (r / "prompts.csv").write_text("id,text\na,x\n"), "'id' and 'prompt'"),
        (lambda r: (r / "dataset.json").write_text("{oops"), "not valid JSON"),
    ],
)
def test_broken_dataset_folders(tmp_path, breakage, message):
    root = write_dataset(tmp_path / "ds", make_records())
    breakage(root)
    with pytest.raises(FormatError, match=message):
        read_dataset(root)


# -- files lead nowhere outside the folder; index files are strict (security review) -------------


@pytest.fixture
def dataset_and_outside(tmp_path):
    root = write_dataset(tmp_path / "ds", make_records(3))
    outside = tmp_path / "outside"
    outside.mkdir()
    write_clip(MotionClip(np.zeros((4, 61)), 30, "arkit", ARKIT_CHANNELS), outside / "secret.npz")
    (outside / "prompts.csv").write_text("id,prompt\nseq_000,x\n")
    return root, outside


@pytest.mark.parametrize(
    ("entry", "target"),
    [
        ("clips/seq_001.npz", "secret.npz"),  # a clip symlinked out of the dataset
        ("prompts.csv", "prompts.csv"),
        ("dataset.json", "secret.npz"),
        ("splits/train.txt", "prompts.csv"),
        ("clips", "."),  # the whole clips folder
    ],
)
def test_symlinks_out_of_the_dataset_are_refused(dataset_and_outside, entry, target):
    root, outside = dataset_and_outside
    link = root / entry
    shutil.rmtree(link) if link.is_dir() else link.unlink()
    link.symlink_to(outside / target)
    with pytest.raises(FormatError, match="leads outside the folder") as info:
        read_dataset(root)
    assert entry in str(info.value) and str(outside) not in str(info.value)  # where it leads is not shown


def test_symlinks_inside_the_dataset_and_symlink_loops(dataset_and_outside):
    root, _ = dataset_and_outside
    (root / "clips" / "seq_002.npz").unlink()
    (root / "clips" / "seq_002.npz").symlink_to(root / "clips" / "seq_000.npz")  # inside: fine
    assert read_clip(read_dataset(root).items[2].clip_path).clip.n_frames == 10
    (root / "clips" / "seq_002.npz").unlink()
    (root / "clips" / "seq_002.npz").symlink_to("seq_002.npz")
    with pytest.raises(FormatError, match="cannot be resolved"):
        read_dataset(root)


def test_resolve_inside(tmp_path):
    (tmp_path / "root" / "sub").mkdir(parents=True)
    root = tmp_path / "root"
    (root / "link").symlink_to(tmp_path)
    assert resolve_inside(root, "sub/x.csv") == (root / "sub" / "x.csv").resolve()
    assert resolve_inside(root, root / "sub") == (root / "sub").resolve()
    for bad in ("../x.csv", "/etc/hostname", "link/root/../x", "sub/../../x"):
        with pytest.raises(OutsideFolderError):
            resolve_inside(root, bad)
    with pytest.raises(FormatError, match="cannot be resolved"):
        resolve_inside(root, "a\x00b")


@pytest.mark.parametrize(
    ("name", "data", "message"),
    [
        ("dataset.json", b"[" * 100_000, "nested 100000 levels deep"),
        ("dataset.json", b'{"name": "x", "space": "arkitx"}', "'space' must be 'arkit' or 'flame'"),
        ("dataset.json", b'{"name": ["x"]}', "'name' must be a text"),
        ("dataset.json", b'{"n": 1' + b"0" * 5000 + b"}", "integer with 5001 digits"),
        ("splits/train.txt", "seq_000\n".encode("utf-16"), "UTF-16 text"),
        ("splits/train.txt", "seq_000\ncafé\n".encode("latin-1"), r"not UTF-8 text \(byte 0xe9 at offset"),
        ("splits/train.txt", b"s" * 1_000_000 + b"\n", r"bad id 's+'\.\.\. \(1,000,000 characters\)"),
        ("prompts.csv", "id,prompt\nseq_000,café\n".encode("latin-1"), "not UTF-8 text"),
        ("prompts.csv", b"id,prompt\nseq_000," + b"x" * 200_000 + b"\n", "field larger than field limit"),
        ("prompts.csv", b"id,prompt\n\xd9\xa3,x\n", r"bad id '\u0663'"),  # a Unicode digit
    ],
)
def test_index_files_are_strict(tmp_path, name, data, message):
    root = write_dataset(tmp_path / "ds", make_records(3))
    (root / name).write_bytes(data)
    with pytest.raises(FormatError, match=message) as info:
        read_dataset(root)
    assert len(str(info.value)) < 500


def test_a_utf8_bom_is_fine_and_a_fifo_is_not_read(tmp_path):
    root = write_dataset(tmp_path / "ds", make_records(3))
    (root / "splits" / "train.txt").write_bytes(b"\xef\xbb\xbfseq_000\n")
    assert [i.id for i in read_dataset(root).split("train")] == ["seq_000"]
    (root / "dataset.json").unlink()
    os.mkfifo(root / "dataset.json")  # opening a FIFO would block for ever
    with pytest.raises(FormatError, match="not a regular file"):
        read_dataset(root)
