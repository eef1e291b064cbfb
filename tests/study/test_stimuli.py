"""Stimuli: rendered once on one stage, content-hash names that reveal nothing, reused on re-runs."""

from __future__ import annotations

import csv
import hashlib
import json
import re
from pathlib import Path

import numpy as np
import pytest

from studio.formats import write_clip
from studio.models.pool import ModelPool
from studio.motion import ARKIT_CHANNELS, MotionClip
from studio.study.assignment import participant_trials
from studio.study.definition import ClipRef
from studio.study.parsing import parse_definition
from studio.study.stimuli import (
    MANIFEST_DIR,
    STIMULI_DIR,
    StimulusError,
    fit_length,
    load_manifest,
    manifest_path,
    render_stimuli,
)

PROMPTS = ["A person smiles widely", "A person frowns and shakes their head"]
CHECK_PROMPT, DECOY_PROMPT = "A person laughs with joy", "A person cries bitterly"
SIZE, FPS, DURATION = 64, 10, 0.5  # 5 frames of 64 x 64: real rendering, milliseconds per clip
HASH_NAME = re.compile(r"^[0-9a-f]{64}\.mp4$")


def motion(seed: int, frames: int = 8) -> MotionClip:
    """An ARKit clip whose busiest channels differ by seed (so models look different)."""
    rng = np.random.default_rng(seed)
    values = np.zeros((frames, len(ARKIT_CHANNELS)), np.float32)
    values[:, :52] = rng.random(52) * np.linspace(0.2, 1.0, frames)[:, None]
    return MotionClip(values, 10.0, "arkit", ARKIT_CHANNELS)


def results_folder(root: Path, seed: int, prompts: list[str]) -> Path:
    """A results folder with one stored clip per prompt (seed 0)."""
    root.mkdir(parents=True, exist_ok=True)
    with (root / "manifest.csv").open("w", newline="") as handle:
        writer = csv.DictWriter(handle, ["prompt", "seed", "file"])
        writer.writeheader()
        for i, prompt in enumerate(prompts):
            write_clip(motion(seed * 100 + i), root / f"clip{i}.npz")
            writer.writerow({"prompt": prompt, "seed": 0, "file": f"clip{i}.npz"})
    return root


def definition(tmp_path: Path, **overrides: object):
    every = [*PROMPTS, CHECK_PROMPT, DECOY_PROMPT]
    config: dict[str, object] = {
        "name": "stimulus test",
        "trial_type": "pairwise",
        "seed": 5,
        "prompts": PROMPTS,
        "models": [
            {"name": "alpha", "results": str(results_folder(tmp_path / "alpha", 1, every))},
            {"name": "beta", "results": str(results_folder(tmp_path / "beta", 2, every))},
        ],
        "stimulus": {"duration_s": DURATION, "fps": FPS},
        "attention_checks": [
            {"kind": "contradiction", "prompt": CHECK_PROMPT, "decoy_prompt": DECOY_PROMPT, "model": "alpha"}
        ],
        "prompt_mismatch_control": {"per_participant": 1},
    }
    config.update(overrides)
    return parse_definition(config)


@pytest.fixture(scope="module")
def gl_available():
    from renderers import RenderUnavailableError, get_rasterizer

    try:
        get_rasterizer(SIZE)
    except (RenderUnavailableError, ImportError, OSError) as exc:
        pytest.skip(f"no offscreen OpenGL here ({exc})")


@pytest.fixture(scope="module")
def rendered(tmp_path_factory, gl_available):
    root = tmp_path_factory.mktemp("stimuli")
    study = definition(root)
    calls: list[tuple[int, int, str]] = []
    manifest = render_stimuli(
        study, ModelPool([]), root / "out", size=SIZE, progress=lambda *a: calls.append(a)
    )
    return study, manifest, root / "out", calls


def test_every_clip_any_participant_sees_is_rendered_once_under_its_content_hash(rendered):
    study, manifest, out, calls = rendered
    stimuli = study.stimuli()
    # study clips (2 models x 2 prompts), the check's other clip and its decoy
    assert len(stimuli) == 6 and len(set(manifest.files)) == 6
    assert manifest.rendered == 6
    assert calls[-1][:2] == (6, 6)
    for index in range(8):  # controls and checks included: nothing a participant sees is missing
        for trial in participant_trials(study, index):
            for clip in trial.clips:
                path = manifest.path_for(clip)
                assert path.parent == out / STIMULI_DIR
                assert HASH_NAME.match(path.name)
                assert hashlib.sha256(path.read_bytes()).hexdigest() == path.stem
    served = sorted(p.name for p in (out / STIMULI_DIR).iterdir())
    assert served == sorted(set(manifest.files.values()))  # no temporary files, no manifest


def test_names_and_files_reveal_no_model_or_prompt(rendered):
    study, manifest, out, _ = rendered
    assert manifest_path(out, study).parent == out / MANIFEST_DIR  # the mapping lives outside stimuli/
    for name in manifest.files.values():
        data = (out / STIMULI_DIR / name).read_bytes()
        for secret in (b"alpha", b"beta", b"smiles", b"frowns", b"laughs"):
            assert secret not in data and secret.decode() not in name


def test_every_clip_has_the_same_size_and_length(rendered):
    from renderers import read_mp4

    _, manifest, out, _ = rendered
    shapes = {read_mp4(out / STIMULI_DIR / name)[0].shape for name in set(manifest.files.values())}
    assert shapes == {(round(DURATION * FPS), SIZE, SIZE, 3)}


def test_frames_are_the_bare_face_without_captions_or_strips(rendered, tmp_path):
    """A decoded stimulus frame equals the plain render of the same motion (H.264 loss aside): no
    label or curve strip was drawn onto it."""
    from renderers import Stage, frames_for, load_rig, read_mp4, write_png
    from studio.models import ModelSpec, load_model, run_model

    study, manifest, _, _ = rendered
    clip = ClipRef("beta", PROMPTS[1], 0)
    model = load_model(ModelSpec("beta", "results", "arkit", path=Path(study.models[1].results)))
    generated = run_model(model, clip.prompt, seed=0, duration_s=DURATION).clip
    expected = list(
        frames_for(fit_length(generated.resample(FPS), 5), load_rig("default"), Stage(size=SIZE, fps=FPS))
    )
    decoded, fps = read_mp4(manifest.path_for(clip))
    assert fps == FPS
    write_png(np.concatenate([decoded[2], expected[2]], axis=1), tmp_path / "decoded_vs_plain.png")
    assert np.abs(decoded.astype(int) - np.array(expected, dtype=int)).mean() < 4.0
    # and the two models' clips differ (the stimuli are not all one video)
    other = read_mp4(manifest.path_for(ClipRef("alpha", PROMPTS[1], 0)))[0]
    assert np.abs(other.astype(int) - decoded.astype(int)).mean() > 0.5


def test_rerunning_reuses_and_a_second_study_shares_clips(rendered, tmp_path):
    study, manifest, out, _ = rendered
    before = {p.name: p.stat().st_mtime_ns for p in (out / STIMULI_DIR).iterdir()}
    again = render_stimuli(study, ModelPool([]), out, size=SIZE)
    assert again.rendered == 0 and dict(again.files) == dict(manifest.files)
    forced = render_stimuli(study, ModelPool([]), out, size=SIZE, force=True)  # generates, hits the cache
    assert forced.rendered == 0 and dict(forced.files) == dict(manifest.files)
    other = parse_definition({**json.loads(study.canonical_json()), "seed": 99, "name": "another study"})
    assert other.sha256 != study.sha256
    shared = render_stimuli(other, ModelPool([]), out, size=SIZE)
    assert shared.rendered == 0 and dict(shared.files) == dict(manifest.files)
    after = {p.name: p.stat().st_mtime_ns for p in (out / STIMULI_DIR).iterdir()}
    assert after == before  # nothing was rewritten
    assert load_manifest(out, other).path_for(ClipRef("alpha", PROMPTS[0], 0)).is_file()


def test_load_manifest_errors_are_clear(rendered, tmp_path):
    study, _, out, _ = rendered
    with pytest.raises(StimulusError, match="not rendered yet"):
        load_manifest(tmp_path, study)
    manifest = load_manifest(out, study)
    with pytest.raises(StimulusError, match="no rendered stimulus"):
        manifest.path_for(ClipRef("alpha", "a prompt nobody rendered", 0))
    tampered = tmp_path / "tampered"
    (tampered / MANIFEST_DIR).mkdir(parents=True)
    data = json.loads(manifest_path(out, study).read_text())
    data["clips"][0]["file"] = "../../etc/passwd"
    manifest_path(tampered, study).write_text(json.dumps(data))
    with pytest.raises(StimulusError, match="not a content-hash name"):
        load_manifest(tampered, study)


def test_missing_model_or_prompt_stops_with_the_reason(tmp_path, gl_available):
    named = definition(tmp_path, models=["alpha", "beta"])
    with pytest.raises(StimulusError, match="'alpha' is not in the models config"):
        render_stimuli(named, ModelPool([]), tmp_path / "out")
    partial = results_folder(tmp_path / "partial", 3, PROMPTS)  # no clip for the check prompts
    study = definition(
        tmp_path,
        models=[{"name": "alpha", "results": str(partial)}, {"name": "beta", "results": str(partial)}],
    )
    with pytest.raises(StimulusError, match="gave no clip for 'A person laughs with joy'"):
        render_stimuli(study, ModelPool([]), tmp_path / "out", size=SIZE)
    assert not manifest_path(tmp_path / "out", study).exists()  # no manifest for a study with holes


def test_fit_length_holds_the_last_pose_or_cuts():
    clip = motion(0, frames=3)
    padded = fit_length(clip, 5)
    assert padded.n_frames == 5
    np.testing.assert_array_equal(padded.values[3:], np.repeat(clip.values[-1:], 2, axis=0))
    np.testing.assert_array_equal(fit_length(clip, 2).values, clip.values[:2])
