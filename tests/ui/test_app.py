import urllib.request

import numpy as np

from studio.config import StudioConfig
from studio.ui import build_app, launch_kwargs
from studio.ui.explore import inspect_file
from tests.ui.conftest import free_port


def test_app_serves_its_page(tmp_path):
    config = StudioConfig(port=free_port(), output_dir=tmp_path / "out")
    app = build_app(config)
    kwargs = launch_kwargs(config)
    assert kwargs["share"] is False and kwargs["allowed_paths"] == [str(tmp_path / "out")]
    app.launch(prevent_thread_lock=True, **kwargs)
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{config.port}/", timeout=30) as response:
            page = response.read().decode()
        assert response.status == 200 and "Expression Studio" in page
    finally:
        app.close()


def test_explore_inspects_a_real_take(livelink_dir):
    summary, figure = inspect_file(str(livelink_dir / "S88-001.csv"), max_frames=100_000)
    assert "| dropped rows | 277 |" in summary and "| fps | 30 |" in summary
    assert 1 <= len(figure.data) <= 8 and figure.data[0].x[-1] > 55


def test_explore_reports_a_bad_file_in_one_message(tmp_path):
    bad = tmp_path / "bad.npy"
    np.save(bad, np.zeros((3, 61)))
    summary, figure = inspect_file(str(bad), max_frames=100)
    assert summary.startswith("**Could not read this file.**") and "width 61" in summary and figure is None


def test_flat_channels_are_not_plotted():
    from studio.motion import ARKIT_CHANNELS, MotionClip
    from studio.ui.explore import curves_figure

    values = np.zeros((10, 61), np.float32)
    values[:, 17] = np.linspace(0, 1, 10)
    figure = curves_figure(MotionClip(values, 30, "arkit", ARKIT_CHANNELS))
    assert [trace.name for trace in figure.data] == ["jawOpen"]
