"""The renderers' public API: every name importable from the package, and importing it is cheap."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import renderers

PUBLIC = [
    "Stage",
    "load_rig",
    "frames_for",
    "clip_frames",
    "compare_frames",
    "VideoWriter",
    "write_mp4",
    "BlendshapeRig",
    "load_default_rig",
    "RigError",
    "RigWarning",
    "RenderUnavailableError",
    "FlameUnavailableError",
    "load_configured_flame",
    "CAMERA_PRESETS",
    "camera_preset",
    "get_rasterizer",
    "ict_dir",
]


def test_every_public_name_resolves_from_the_package():
    assert set(PUBLIC) <= set(renderers.__all__)
    for name in renderers.__all__:
        assert getattr(renderers, name) is not None, name
    assert "Stage" in dir(renderers)


def test_errors_are_studio_errors():
    from studio.errors import StudioError

    for name in ("RigError", "RenderUnavailableError", "FlameUnavailableError"):
        assert issubclass(getattr(renderers, name), StudioError), name


def test_camera_presets_are_one_table_of_names_and_labels():
    assert list(renderers.CAMERA_PRESETS) == ["front", "three-quarter"]
    assert all(isinstance(label, str) and label for label in renderers.CAMERA_PRESETS.values())
    for name in renderers.CAMERA_PRESETS:
        renderers.camera_preset(name, [0.0, 0.0, 0.0], 1.0)


def _fresh_import(code: str, **env: str) -> dict:
    environment = {k: v for k, v in os.environ.items() if k != "PYOPENGL_PLATFORM"} | env
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, env=environment, timeout=120, check=True
    )
    return json.loads(out.stdout)


def test_importing_the_package_loads_no_gl_and_sets_the_platform_first():
    code = (
        "import json, os, sys, renderers; renderers.CAMERA_PRESETS; renderers.Stage; "
        "print(json.dumps({'platform': os.environ.get('PYOPENGL_PLATFORM'), "
        "'heavy': sorted(m for m in ('pyrender', 'OpenGL', 'torch', 'smplx') if m in sys.modules)}))"
    )
    assert _fresh_import(code) == {"platform": "egl", "heavy": []}
    assert _fresh_import(code, PYOPENGL_PLATFORM="osmesa")["platform"] == "osmesa"  # the user's wins


def test_unknown_names_raise_attribute_error():
    import pytest

    with pytest.raises(AttributeError, match="no attribute 'nope'"):
        renderers.nope  # noqa: B018
