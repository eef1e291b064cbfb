import json
import shutil
import urllib.request

import numpy as np
import pytest

from studio.config import StudioConfig
from studio.ui.explore import inspect_file
from tests.ui.conftest import free_port, serving


@pytest.fixture
def upload_folder(tmp_path, monkeypatch):
    """Gradio's upload folder for this test: where a handler's uploaded files must live."""
    folder = tmp_path / "gradio-uploads"
    folder.mkdir()
    monkeypatch.setenv("GRADIO_TEMP_DIR", str(folder))
    return folder


def test_app_serves_its_page(tmp_path):
    config = StudioConfig(port=free_port(), output_dir=tmp_path / "out")
    with serving(config) as url, urllib.request.urlopen(url, timeout=30) as response:
        page = response.read().decode()
    assert response.status == 200 and "Expression Studio" in page


def test_explore_inspects_a_real_take(livelink_dir, upload_folder):
    uploaded = shutil.copy(livelink_dir / "S88-001.csv", upload_folder / "S88-001.csv")
    summary, figure, lines = inspect_file(str(uploaded), max_frames=100_000)
    assert "| dropped rows | 277 |" in summary and "| fps | 30 |" in summary
    assert 1 <= len(figure.data) <= 8 and figure.data[0].x[-1] > 55
    header, panel, done = lines  # the take for the tab's player, as the stream's lines
    assert header["format"] and header["panels"] == [{"label": "clip file"}]
    assert header["request"]["title"].startswith("S88-001.csv · ")
    assert str(livelink_dir) not in json.dumps(lines) and str(upload_folder) not in json.dumps(lines)
    assert panel["panel"] == 0 and panel["n_frames"] == done["n_frames"] > 55 * 30
    assert done["curves"] and "no prompt" in done["curves_reason"]


def test_explore_reports_a_bad_file_in_one_message(upload_folder):
    bad = upload_folder / "bad.npy"
    np.save(bad, np.zeros((3, 61)))
    summary, figure, lines = inspect_file(str(bad), max_frames=100)
    assert summary.startswith("**Could not read this file.**") and "width 61" in summary
    assert figure is None and lines is None


def test_explore_refuses_a_file_that_was_not_uploaded(tmp_path, upload_folder, livelink_dir):
    # a path sent in the event payload instead of an upload: outside Gradio's upload folder
    summary, figure, _ = inspect_file(str(livelink_dir / "S88-001.csv"), max_frames=100_000)
    assert summary == "**Could not read this file.** That file was not uploaded here; upload it again."
    # a link planted inside the upload folder pointing out of it is refused the same way
    secret = tmp_path / "secret.csv"
    secret.write_text("Timecode,BlendShapeCount,JawOpen\n")
    (upload_folder / "link.csv").symlink_to(secret)
    summary, _, lines = inspect_file(str(upload_folder / "link.csv"), max_frames=100)
    assert "not uploaded here" in summary and str(secret) not in summary and figure is None and lines is None


def test_flat_channels_are_not_plotted():
    from studio.motion import ARKIT_CHANNELS, MotionClip
    from studio.ui.explore import curves_figure

    values = np.zeros((10, 61), np.float32)
    values[:, 17] = np.linspace(0, 1, 10)
    figure = curves_figure(MotionClip(values, 30, "arkit", ARKIT_CHANNELS))
    assert [trace.name for trace in figure.data] == ["jawOpen"]


def test_a_dataset_folder_must_resolve_inside_the_data_folders(tmp_path):
    from studio.ui.common import resolve_dataset

    data, private = tmp_path / "data", tmp_path / "private"
    (data / "corpus").mkdir(parents=True)
    (data / "corpus" / "prompts.csv").write_text("id,prompt\n")
    (data / "empty").mkdir()
    private.mkdir()
    (private / "prompts.csv").write_text("id,prompt\n")
    (data / "escape").symlink_to(private, target_is_directory=True)
    config = StudioConfig(output_dir=tmp_path / "out", data_dirs=(data.resolve(),))
    assert resolve_dataset(config, str(data / "corpus")) == (data / "corpus").resolve()
    assert resolve_dataset(config, "corpus") == (data / "corpus").resolve()  # relative to a data folder
    with pytest.raises(ValueError, match="not a dataset folder"):
        resolve_dataset(config, "empty")
    for outside in (str(private), "escape", "../private", "/etc"):
        with pytest.raises(ValueError, match="outside the data folders") as caught:
            resolve_dataset(config, outside)
        assert str(private) not in str(caught.value) or outside == str(private)


def test_an_empty_prompt_is_one_inline_error_and_no_video(tmp_path):
    from studio.compare import CompareRequest
    from studio.models.pool import ModelPool
    from studio.ui.compare import compare_and_render

    config = StudioConfig(output_dir=tmp_path / "out")
    video, status, figure, files = compare_and_render(config, ModelPool([]), CompareRequest("  \n", ("any",)))
    assert video is None and figure is None and files == []
    assert status == "**Cannot run this request:** the prompt is empty"
    assert not (tmp_path / "out").exists()


def test_only_rigs_that_can_load_are_offered(monkeypatch, tmp_path):
    import renderers.pipeline
    from studio.ui.common import rig_choices

    monkeypatch.setattr(renderers.pipeline, "ICT_CANDIDATES", ())
    monkeypatch.delenv("STUDIO_ICT_DIR", raising=False)
    assert rig_choices() == ["default"]
    monkeypatch.setenv("STUDIO_ICT_DIR", str(tmp_path))
    assert rig_choices() == ["default"]  # a folder without the ICT meshes is no rig
    (tmp_path / "generic_neutral_mesh.obj").write_text("v 0 0 0\n")
    assert rig_choices() == ["default", "ict"]
