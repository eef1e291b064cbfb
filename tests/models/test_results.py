import json

import numpy as np
import pytest

from studio.formats import FormatError, write_clip
from studio.models import ModelSpec, load_model, run_model
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
