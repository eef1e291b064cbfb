"""Fixtures for the renderer tests: real rigs and takes from ../shared, a GL context if any."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pytest

os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")

SHARED = Path(__file__).resolve().parents[3] / "shared"
ICT = SHARED / "rigs" / "ict-facekit"
TAKES = SHARED / "data" / "livelinkface"


@pytest.fixture(scope="session")
def gl():
    """A working rasteriser at 128², or a clean skip saying why there is none."""
    from renderers import RenderUnavailableError, get_rasterizer

    try:
        return get_rasterizer(128)
    except (RenderUnavailableError, ImportError, OSError) as exc:
        pytest.skip(f"no offscreen OpenGL here ({exc})")


@pytest.fixture(scope="session")
def default_rig():
    from renderers import load_default_rig

    return load_default_rig()


@pytest.fixture(scope="session")
def ict_rig(tmp_path_factory):
    if not (ICT / "generic_neutral_mesh.obj").is_file():
        pytest.skip(f"ICT-FaceKit rig not found at {ICT} (the shared rigs folder is absent)")
    from renderers import load_obj_rig

    os.environ["STUDIO_CACHE_DIR"] = str(tmp_path_factory.mktemp("cache"))
    with pytest.warns(UserWarning, match="tongueOut"):
        return load_obj_rig(ICT)


@pytest.fixture(scope="session")
def take_path() -> Path:
    path = TAKES / "facial.csv"
    if not path.is_file():
        pytest.skip(f"real Live Link takes not found at {TAKES} (the shared data folder is absent)")
    return path


def weights(**named: float) -> np.ndarray:
    """One frame of ARKit values ``(1, 61)`` with the named channels set."""
    from studio.motion import ARKIT_CHANNELS

    row = np.zeros((1, len(ARKIT_CHANNELS)), np.float32)
    for name, value in named.items():
        row[0, ARKIT_CHANNELS.index(name)] = value
    return row
