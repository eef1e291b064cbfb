"""The compare service: one request, every model's clip or error, one side-by-side video."""

from __future__ import annotations

import ast
from pathlib import Path

import numpy as np
import pytest

from studio.compare import CompareRequest, compare, render_side_by_side
from studio.models import LoadReport, ModelSpec, load_models
from studio.motion import OUTPUT_FPS
from tests.models.conftest import STORED_PROMPTS, make_results_folder

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture
def loader(tmp_path):
    """``load(name)``: a results-folder model ``stored`` and a model ``broken`` that cannot load."""
    specs = {
        "stored": ModelSpec("stored", "results", "arkit", path=make_results_folder(tmp_path / "results")),
        "broken": ModelSpec("broken", "results", "arkit", path=tmp_path / "nowhere"),
    }
    return lambda name: load_models([specs[name]])[0]


def test_request_key_is_a_content_hash_of_everything_that_shapes_the_files():
    request = CompareRequest("A person smiles", ("a", "b"), seed=1)
    assert request.key() == CompareRequest("A person smiles", ("a", "b"), seed=1).key()
    assert (
        request.key() != CompareRequest("A person smiles", ("a", "b"), seed=1, camera="three-quarter").key()
    )
    assert len(request.key()) == 32


def test_result_keeps_each_model_in_its_own_row(tmp_path, loader):
    request = CompareRequest(STORED_PROMPTS[0], ("stored", "broken"), duration_s=2.0)
    steps = []
    result = compare(
        request, loader, video_path=None, downloads_dir=tmp_path / "dl", progress=lambda *a: steps.append(a)
    )
    assert result.video is None and result.render_error is None
    rows = {row.model: row for row in result.rows}
    assert rows["stored"].ok and "frames at" in rows["stored"].detail
    assert rows["broken"].state == "not loaded" and rows["broken"].latency_ms is None
    assert "no manifest" in result.load_failures["broken"]
    tag = request.file_tag
    assert sorted(p.name for p in result.downloads) == [f"stored_{tag}.csv", f"stored_{tag}.npz"]
    assert steps == [(0, 1, "running stored")]
    items, labels = result.panels()
    assert labels[1] == "broken · error" and items[1].startswith("Failed to load:")


def test_download_names_carry_the_prompt_hash_and_the_seed():
    tag = CompareRequest("A person smiles", ("a",), seed=7).file_tag
    assert tag.startswith("p") and tag.endswith("-s7") and len(tag) == len("p12345678-s7")
    assert tag != CompareRequest("A person frowns", ("a",), seed=7).file_tag


@pytest.mark.parametrize(
    ("prompt", "seed", "duration", "message"),
    [
        ("", 0, 4.0, "empty"),
        ("\u202e\u200b  ", 0, 4.0, "empty"),
        ("smile", -1, 4.0, "seed"),
        ("smile", 0, 99.0, "duration"),
    ],
)
def test_a_refused_request_runs_and_writes_nothing(tmp_path, prompt, seed, duration, message):
    def load(name):
        raise AssertionError("no model is loaded for a refused request")

    request = CompareRequest(prompt, ("stored",), seed=seed, duration_s=duration)
    result = compare(request, load, video_path=tmp_path / "v.mp4", downloads_dir=tmp_path / "dl")
    assert message in result.error and result.video is None and result.downloads == ()
    assert not any(tmp_path.iterdir())


def test_a_prompt_the_folder_lacks_is_a_state(loader):
    result = compare(CompareRequest("A person sneezes", ("stored",)), loader, video_path=None)
    assert [row.state for row in result.rows] == ["no output"]


def test_a_bad_rig_is_reported_and_the_clips_stay(tmp_path, loader):
    from renderers import RigError

    request = CompareRequest(STORED_PROMPTS[0], ("stored",), duration_s=2.0, rig=str(tmp_path / "no-rig"))
    result = compare(request, loader, video_path=tmp_path / "v.mp4")
    assert isinstance(result.render_error, RigError) and result.video is None
    assert result.generations[0].clip is not None


def test_an_unloadable_model_report_needs_no_model():
    spec = ModelSpec("ghost", "results", "arkit", path=Path("/nowhere"))
    request = CompareRequest("A person smiles", ("ghost",))
    result = compare(request, lambda name: LoadReport(spec, None, "ghost: gone", 0.0), video_path=None)
    assert result.load_failures == {"ghost": "ghost: gone"} and result.generations == ()


@pytest.fixture
def gl():
    from renderers import RenderUnavailableError, get_rasterizer

    try:
        return get_rasterizer(128)
    except (RenderUnavailableError, ImportError, OSError) as exc:
        pytest.skip(f"no offscreen OpenGL here ({exc})")


def test_the_video_has_one_panel_per_model_at_the_output_rate(tmp_path, loader, gl):
    from renderers import read_mp4

    request = CompareRequest(STORED_PROMPTS[0], ("stored", "broken"), duration_s=2.0, size=128)
    result = compare(request, loader, video_path=tmp_path / "v.mp4")
    assert result.render_error is None and result.video == tmp_path / "v.mp4"
    frames, fps = read_mp4(result.video)
    assert fps == OUTPUT_FPS and frames.shape[0] == 60 and frames.shape[2] >= 2 * 128
    left, right = frames[30, 40:, :128].astype(int), frames[30, 40:, -128:].astype(int)
    assert np.abs(left - right).mean() > 5  # a head beside a message card


def test_an_identical_request_reuses_its_video_and_the_pool_s_answers(tmp_path, gl, monkeypatch):
    """The Compare tab's path: answers from the pool's cache (shared with the player), and a
    video already rendered for the same request and models is not rendered again."""
    import studio.compare as service
    from studio.models.pool import ModelPool

    pool = ModelPool([ModelSpec("stored", "results", "arkit", path=make_results_folder(tmp_path / "r"))])
    request = CompareRequest(STORED_PROMPTS[0], ("stored",), duration_s=2.0, size=64)
    video = tmp_path / "out" / "v.mp4"
    first = compare(request, pool.get, video_path=video, run=pool.generations.run)
    assert first.video == video and [p.name for p in video.parent.iterdir()] == ["v.mp4"]  # no partial left
    renders = []
    monkeypatch.setattr(service, "render_side_by_side", lambda *a, **k: renders.append(a))
    again = compare(request, pool.get, video_path=video, run=pool.generations.run)
    assert again.video == video and renders == []
    assert again.generations[0] is first.generations[0]  # the same answer, not a second run
    identity = [f"stored@{pool.get('stored').model.checkpoint_sha256 or 'x'}"]
    assert request.key(identity) != request.key(["stored@retrained"]) != request.key()


def test_a_flame_only_video_needs_no_rig(tmp_path, gl):
    from studio.motion import MotionClip

    channels = (*tuple(f"expr_{i:03d}" for i in range(50)), "jaw_x", "jaw_y", "jaw_z")
    clip = MotionClip(np.zeros((10, 53), np.float32), OUTPUT_FPS, "flame", channels)
    path = render_side_by_side([clip], ["flame"], tmp_path / "f.mp4", rig="no-such-rig", size=128)
    assert path.is_file()


# -- layering: who may import whom ------------------------------------------------------------


def _imports(path: Path) -> list[tuple[str, bool]]:
    """(module, at module level?) for every import in ``path``."""
    tree = ast.parse(path.read_text())
    top = {id(node) for node in tree.body}
    found = []
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom) and node.module:
            found.append((node.module, id(node) in top))
        elif isinstance(node, ast.Import):
            found += [(alias.name, id(node) in top) for alias in node.names]
    return found


def test_front_ends_use_the_service_and_the_renderers_public_api_only():
    front_ends = [
        "studio/compare.py",
        "studio/models/cli.py",
        "studio/ui/__init__.py",
        "studio/ui/common.py",
        "studio/ui/compare.py",
        "studio/ui/explore.py",
        "studio/ui/benchmark.py",
        "benchmarks/render.py",
    ]
    for name in front_ends:
        modules = [m for m, _ in _imports(ROOT / name)]
        assert not [m for m in modules if m.startswith("renderers.")], name
    for tab in ("compare", "explore", "benchmark"):
        others = {f"studio.ui.{t}" for t in ("compare", "explore", "benchmark")} - {f"studio.ui.{tab}"}
        assert not others & {m for m, _ in _imports(ROOT / f"studio/ui/{tab}.py")}, tab
    assert ("studio.compare", True) not in _imports(ROOT / "studio/models/cli.py")


def test_camera_presets_are_not_retyped():
    for name in (
        "studio/ui/compare.py",
        "studio/ui/explore.py",
        "studio/models/cli.py",
        "benchmarks/render.py",
    ):
        assert '"three-quarter"' not in (ROOT / name).read_text(), name
