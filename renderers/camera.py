"""The studio's camera presets: one table, read by the renderers, the UI, the CLIs and benchmarks.

Imports only numpy and the standard library, so a dropdown or an argument parser can list the
presets without loading OpenGL.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from types import MappingProxyType

import numpy as np

# name -> the label a person sees (radio buttons, help text). Names are what APIs and CLIs take.
CAMERA_PRESETS = MappingProxyType({"front": "Front", "three-quarter": "Three-quarter"})
# name -> (yaw, pitch) in degrees: yaw turns towards the character's left (+x), pitch looks down.
_ANGLES_DEG = {"front": (0.0, 3.0), "three-quarter": (35.0, 8.0)}
FOV_Y_DEG = 22.0


@dataclass(frozen=True)
class Camera:
    """A pinhole camera: ``eye`` and ``target`` are ``(3,)`` points in rig units.

    ``fov_y_deg`` is the vertical field of view in degrees; ``near``/``far`` bound the depth.
    """

    eye: tuple[float, float, float]
    target: tuple[float, float, float]
    up: tuple[float, float, float] = (0.0, 1.0, 0.0)
    fov_y_deg: float = FOV_Y_DEG
    near: float = 0.01
    far: float = 100.0

    def view_matrix(self) -> np.ndarray:
        """``(4, 4) float64`` world -> camera (OpenGL: camera looks down -z)."""
        eye, target, up = (np.asarray(a, np.float64) for a in (self.eye, self.target, self.up))
        forward = target - eye
        forward /= np.linalg.norm(forward)
        right = np.cross(forward, up)
        right /= np.linalg.norm(right)
        true_up = np.cross(right, forward)
        view = np.eye(4)
        view[0, :3], view[1, :3], view[2, :3] = right, true_up, -forward
        view[:3, 3] = -view[:3, :3] @ eye
        return view

    def projection_matrix(self, aspect: float) -> np.ndarray:
        """``(4, 4) float64`` perspective projection for a ``width / height`` aspect."""
        f = 1.0 / math.tan(math.radians(self.fov_y_deg) / 2)
        n, far = self.near, self.far
        proj = np.zeros((4, 4))
        proj[0, 0], proj[1, 1] = f / aspect, f
        proj[2, 2], proj[2, 3] = (far + n) / (n - far), 2 * far * n / (n - far)
        proj[3, 2] = -1.0
        return proj


def camera_preset(name: str, center: np.ndarray, radius: float) -> Camera:
    """The camera of preset ``name`` framing a sphere (``center (3,)``, ``radius``) of the rig.

    ``front`` looks straight at the face from slightly above eye level; ``three-quarter`` turns
    35° towards the character's left side and looks 8° down. Both keep the framing sphere fully
    in view, so every rig fills the frame the same way.
    """
    if name not in CAMERA_PRESETS:
        raise ValueError(f"unknown camera {name!r}; choose one of {', '.join(CAMERA_PRESETS)}")
    distance = radius / math.sin(math.radians(FOV_Y_DEG) / 2) * 1.02
    yaw_r, pitch_r = (math.radians(a) for a in _ANGLES_DEG[name])
    direction = [math.sin(yaw_r) * math.cos(pitch_r), math.sin(pitch_r), math.cos(yaw_r) * math.cos(pitch_r)]
    center = np.asarray(center, np.float64)
    eye = center + np.array(direction) * distance
    return Camera(
        tuple(eye),
        tuple(center),
        fov_y_deg=FOV_Y_DEG,
        near=max(distance - 3 * radius, distance * 0.05),
        far=distance + 3 * radius,
    )
