import json

import numpy as np
import pytest

from studio.formats import FormatError, write_clip
from studio.models import ModelError, ModelSpec, load_model, run_model
from studio.models.results import read_manifest
from studio.motion import FlameLayout, MotionClip
from tests.models.conftest import STORED_PROMPTS


def stored_model(folder, space="arkit"):
    return load_model(ModelSpec("stored", "results", space, path=folder))


def test_prompt_and_seed_select_the_stored_file(results_folder):
    model = stored_model(results_folder)
    a = run_model(model, STORED_PROMPTS[1], seed=0, duration_s=2).clip
    b = run_model(model, "  a PERSON frowns and shakes their head ", seed=1, duration_s=2).clip
    assert a.meta["source"].endswith("p1_s0.csv") and b.meta["source"].endswith("p1_s1.npz")


def test_missing_seed_falls_back_with_a_notice(results_folder):
    result = run_model(stored_model(results_folder), STORED_PROMPTS[0], seed=5, duration_s=2)
    assert result.clip is not None and "seed 5 is not stored; showing seed 0" in result.notices[0]


def test_unknown_prompt_is_a_state_not_an_error(results_folder):
    result = run_model(stored_model(results_folder), "A person sneezes", seed=0, duration_s=2)
    assert result.no_output and result.clip is None and "no stored output for this prompt" in result.error


def test_flame_results_folder_via_jsonl(tmp_path):
    folder = tmp_path / "flame"
    folder.mkdir()
    np.save(folder / "a.npy", np.zeros((10, 53)))
    write_clip(MotionClip.zeros(1, 25, "flame", FlameLayout(50, "6d")), folder / "b.npz")
    lines = [{"prompt": "joy", "seed": 0, "file": "a.npy"}, {"prompt": "calm", "seed": 0, "file": "b.npz"}]
    (folder / "manifest.jsonl").write_text("\n".join(json.dumps(x) for x in lines))
    model = stored_model(folder, "flame")
    assert run_model(model, "joy", seed=0, duration_s=2).clip.n_frames == 10
    assert run_model(model, "calm", seed=0, duration_s=2).clip.is_static


def test_space_mismatch_between_config_and_files(results_folder):
    result = run_model(stored_model(results_folder, "flame"), STORED_PROMPTS[0], seed=0, duration_s=2)
    assert result.clip is None and "holds a arkit clip" in result.error


@pytest.mark.parametrize(
    ("manifest", "message"),
    [
        ("prompt,seed,file\nsmile,0,missing.csv\n", "does not exist"),
        ("prompt,seed,file\nsmile,zero,a.csv\n", "integer seed"),
        ("prompt,seed,file\nsmile,0,../../etc/passwd\n", "outside the results folder"),
        ("prompt,file\nsmile,a.csv\n", "needs columns"),
        ("prompt,seed,file\n", "lists no outputs"),
    ],
)
def test_bad_manifests(tmp_path, manifest, message):
    (tmp_path / "manifest.csv").write_text(manifest)
    with pytest.raises(FormatError, match=message):
        read_manifest(tmp_path)


def test_corrupt_stored_file_is_reported_for_that_prompt_only(results_folder):
    (results_folder / "p0_s0.csv").write_text("garbage")
    model = stored_model(results_folder)
    broken = run_model(model, STORED_PROMPTS[0], seed=0, duration_s=2)
    assert broken.clip is None and "p0_s0.csv" in broken.error
    assert run_model(model, STORED_PROMPTS[1], seed=0, duration_s=2).clip is not None


def test_every_stored_format_side_by_side(tmp_path):
    """Live Link CSV, KeyframeFace answer JSON; CTEG (T, 53), EmoteGPT static (56,), FLAME by keys."""
    from studio.formats.keyframeface import answer_json
    from tests.models.conftest import arkit_clip

    arkit = tmp_path / "arkit"
    arkit.mkdir()
    write_clip(arkit_clip(1), arkit / "take.csv")
    keys = np.zeros((2, 61))
    keys[1, 23] = 0.8  # mouthSmileLeft at the second keyframe
    (arkit / "answer.json").write_text(answer_json(keys))
    (arkit / "manifest.csv").write_text("prompt,seed,file\nsmile,0,take.csv\nsmile twice,0,answer.json\n")
    model = stored_model(arkit)
    assert run_model(model, "smile", seed=0, duration_s=2).clip.n_frames == 60
    answer = run_model(model, "smile twice", seed=0, duration_s=2).clip
    assert answer.channel("mouthSmileLeft").max() == pytest.approx(0.8) and answer.fps == 30

    flame = tmp_path / "flame"
    flame.mkdir()
    t = np.linspace(0, 1, 50)[:, None]
    np.save(flame / "cteg.npy", np.hstack([np.sin(6 * t) * np.ones((1, 50)), 0.1 * t * np.ones((1, 3))]))
    np.save(flame / "emotegpt.npy", np.r_[np.full(50, 0.5), [1, 0, 0, 0, 1, 0]])  # 50 expr + identity 6D jaw
    np.savez(
        flame / "keys.npz", expression=np.zeros((10, 100)), jaw_pose=np.zeros((10, 3)), fps=np.float64(25)
    )
    lines = [
        {"prompt": p, "seed": 0, "file": f}
        for p, f in (("a", "cteg.npy"), ("b", "emotegpt.npy"), ("c", "keys.npz"))
    ]
    (flame / "manifest.jsonl").write_text("\n".join(json.dumps(x) for x in lines))
    model = load_model(ModelSpec("flame-out", "results", "flame", path=flame, options={"fps": 20}))
    cteg = run_model(model, "a", seed=0, duration_s=2.5)
    assert cteg.clip.values.shape == (50, 53) and cteg.clip.fps == 20 and cteg.clip.layout.jaw == "axis_angle"
    assert cteg.notices == ()  # the rate came from the config: no "assuming 24 fps" notice
    static = run_model(model, "b", seed=0, duration_s=2).clip
    assert static.is_static and static.layout.jaw == "6d" and static.values[0, 0] == pytest.approx(0.5)
    keyed = run_model(model, "c", seed=0, duration_s=2).clip
    assert keyed.fps == 25 and keyed.layout.n_expression == 100  # a file's own rate wins


def test_files_without_a_rate_say_what_was_assumed(tmp_path):
    np.save(tmp_path / "cteg.npy", np.zeros((48, 53)))
    (tmp_path / "manifest.csv").write_text("prompt,seed,file\njoy,0,cteg.npy\n")
    result = run_model(stored_model(tmp_path, "flame"), "joy", seed=0, duration_s=2)
    assert result.clip.fps == 24 and any("assuming 24 fps" in n for n in result.notices)
    with pytest.raises(ModelError, match=r"options\.fps"):
        load_model(ModelSpec("x", "results", "flame", path=tmp_path, options={"fps": "fast"}))


def test_a_prompt_and_seed_listed_twice_with_different_files_is_refused(results_folder):
    with (results_folder / "manifest.csv").open("a") as handle:
        handle.write(f"{STORED_PROMPTS[0].upper()},0,p1_s0.csv\n")
    with pytest.raises(FormatError, match="listed twice"):
        read_manifest(results_folder)


# -- strict manifests (security review) ----------------------------------------------------------


@pytest.mark.parametrize(
    ("data", "message"),
    [
        ("prompt,seed,file\nsmile,0,a.csv\n".encode("utf-16"), "UTF-16 text; save the file as UTF-8"),
        ("prompt,seed,file\ncafé,0,a.csv\n".encode("latin-1"), "not UTF-8 text"),
        (b"prompt,seed,file\nsmile,1_0,a.csv\n", "integer seed"),  # int() reads it as 10
        ("prompt,seed,file\nsmile,\u0663,a.csv\n".encode(), "integer seed"),  # and this as 3
        (b"prompt,seed,file\nsmile,99999999999,a.csv\n", "integer seed"),
        (b"prompt,seed,file\n" + b"x" * 5000 + b",0,a.csv\n", "prompt of 5,000 characters"),
        (b"prompt,seed,file\nsmile,0," + b"x" * 200_000 + b"\n", "field larger than field limit"),
        (b"prompt,seed,file\nsmile,0,a\x00.csv\n", "NUL byte in line 2"),
        (b"prompt,seed,file\nsmile,0," + b"y" * 300 + b".npy\n", r"resolved \(File name too long\)"),
    ],
)
def test_bad_csv_manifests_are_one_clear_error(tmp_path, data, message):
    np.save(tmp_path / "a.npy", np.zeros((4, 53)))
    (tmp_path / "manifest.csv").write_bytes(data)
    with pytest.raises(FormatError, match=message) as info:
        read_manifest(tmp_path)
    assert len(str(info.value)) < 500


@pytest.mark.parametrize(
    ("line", "message"),
    [
        ('{"prompt": "joy", "seed": 1e400, "file": "a.npy"}', "integer seed"),  # int(inf): OverflowError
        ('{"prompt": "joy", "seed": true, "file": "a.npy"}', "integer seed"),
        ('{"prompt": "joy", "seed": 1.5, "file": "a.npy"}', "integer seed"),
        ('{"prompt": ["joy"], "seed": 0, "file": "a.npy"}', "prompt must be a non-empty text"),
        ('{"prompt": "joy", "seed": 0, "x": ' + "[" * 100_000 + "]" * 100_000 + "}", "nested"),
        ("[1, 2]", "must be a JSON object"),
        ('{"prompt": "joy", "seed": 0, "file": "a\\u0000.npy"}', "cannot be resolved"),
    ],
)
def test_bad_jsonl_manifests_are_one_clear_error(tmp_path, line, message):
    np.save(tmp_path / "a.npy", np.zeros((4, 53)))
    (tmp_path / "manifest.jsonl").write_text(line + "\n")
    with pytest.raises(FormatError, match=message):
        read_manifest(tmp_path)


def test_a_bom_is_fine_and_symlinks_out_of_the_folder_are_refused(tmp_path):
    folder, outside = tmp_path / "results", tmp_path / "outside"
    folder.mkdir()
    outside.mkdir()
    np.save(folder / "a.npy", np.zeros((4, 53)))
    np.save(outside / "secret.npy", np.zeros((4, 53)))
    (folder / "manifest.csv").write_bytes(b"\xef\xbb\xbfprompt,seed,file\njoy,0,a.npy\n")
    assert read_manifest(folder)[0].prompt == "joy"
    (folder / "b.npy").symlink_to(outside / "secret.npy")
    (folder / "manifest.csv").write_text("prompt,seed,file\njoy,0,a.npy\nsad,0,b.npy\n")
    with pytest.raises(FormatError, match=r"line 3.*'b\.npy' points outside the results folder"):
        read_manifest(folder)
    (folder / "manifest.csv").unlink()
    (folder / "manifest.csv").symlink_to(outside / "secret.npy")
    with pytest.raises(FormatError, match=r"manifest\.csv: leads outside the folder"):
        read_manifest(folder)
