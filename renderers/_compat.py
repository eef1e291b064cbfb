"""Environment set-up that must happen before OpenGL or pyrender is imported.

* PyOpenGL picks its platform (EGL, OSMesa, GLX) once, at import, from ``PYOPENGL_PLATFORM``;
  headless EGL is the default here, and a value the user set wins. :mod:`renderers` sets it when
  the package is imported, so every path to pyrender goes through it first.
* numpy 2 removed ``np.infty``; pyrender 0.1.45 still uses it in its bounds code. The alias is
  added only when missing (just before the rasteriser starts), so it never shadows anything
  numpy provides.
"""

from __future__ import annotations

import os


def set_gl_platform() -> str:
    """Default ``PYOPENGL_PLATFORM`` to ``egl``; returns the platform in effect (``"egl"``, ...)."""
    return os.environ.setdefault("PYOPENGL_PLATFORM", "egl")


def prepare_gl_environment() -> str:
    """Both defaults above; returns the PyOpenGL platform in effect."""
    import numpy as np

    if not hasattr(np, "infty"):
        np.infty = np.inf  # type: ignore[attr-defined]
    return set_gl_platform()
