import numpy as np
import pytest

from studio.formats import FormatError, read_clip, read_dataset, write_dataset
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
