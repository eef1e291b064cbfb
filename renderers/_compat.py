"""Environment set-up that must happen before OpenGL or pyrender is imported.

* PyOpenGL picks its platform (EGL, OSMesa, GLX) once, at import, from ``PYOPENGL_PLATFORM``;
  headless EGL is the default here, and a value the user set wins.
* numpy 2 removed ``np.infty``; pyrender 0.1.45 still uses it in its bounds code. The alias is
  added only when missing, so it never shadows anything numpy provides.
"""

from __future__ import annotations

import os

import numpy as np


def prepare_gl_environment() -> str:
    """Set the defaults above; returns the PyOpenGL platform in effect (``"egl"``, ...)."""
    os.environ.setdefault("PYOPENGL_PLATFORM", "egl")
    if not hasattr(np, "infty"):
        np.infty = np.inf  # type: ignore[attr-defined]
    return os.environ["PYOPENGL_PLATFORM"]
