"""Author the studio's default head and its 52 ARKit blendshapes: ``assets/default_rig.npz``.

Deterministic (pure numpy, no randomness): running it twice writes the same arrays.

    python scripts/build_default_rig.py [-o assets/default_rig.npz]

How the head is made (a stylised, Memoji-like human head, lengths in decimetres):

* The skin is one lofted surface: a stack of horizontal super-ellipses (crown to neck) on a
  (row, column) grid, columns packed densely at the front. Facial features are smooth bumps and
  dents along the surface normal (nose, brow ridge, cheekbones, lips, chin, ears).
* The mouth and the eyes are real openings: the grid carries a doubled row along the mouth line
  and along the eye line; the quads between the two copies are removed inside the mouth and the
  eyes. At rest the lips meet; ``jawOpen`` swings the lower copy away.
* Behind the lips sit a dark mouth bag (open towards the lips), upper and lower teeth and a
  tongue; behind the lids sit two eyeballs (sclera, iris, pupil as crisp rings of a sphere whose
  pole looks forward). Eyelids are shrink-wrapped onto the eyeballs so a blink closes over them.
* Each blendshape is a target built by moving anatomical landmarks with smooth falloffs; jaw
  shapes rotate the lower face about the hinge axis. Left shapes act on +x (the character's
  own left) and are authored by the same function as the right ones with the side flipped, so
  the pairs are exact mirror images.
"""

from __future__ import annotations

import argparse
import sys
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from scipy.interpolate import PchipInterpolator

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from renderers.rig import BlendshapeRig, save_rig_npz  # noqa: E402
from studio.motion import ARKIT_BLENDSHAPES  # noqa: E402

# --------------------------------------------------------------------------------------------
# Proportions (decimetres; y up, z forward, +x the character's left)
# --------------------------------------------------------------------------------------------

Y_MOUTH = -0.455  # the line where the lips meet
MOUTH_HALF = 0.175  # half-width of the mouth opening
Y_EYE = 0.15  # the line where the lids meet
EYE_X = 0.29  # eye centre distance from the midline
EYE_HALF = 0.135  # half-width of each eye opening
EYE_R = 0.165  # eyeball radius
LID_UP = 0.062  # how far the upper lid edge sits above the eye line at rest
LID_LO = 0.040  # ... and the lower lid edge below it
LID_GAP = 0.007  # lid skin rests this far outside the eyeball
JAW_HINGE = np.array([0.0, -0.02, -0.10])
JAW_OPEN_RAD = 0.34

SKIN = (0.91, 0.73, 0.61)
CHEEK = (0.93, 0.66, 0.58)
LIPS = (0.78, 0.42, 0.40)
BROW = (0.27, 0.18, 0.13)
HAIR = (0.30, 0.19, 0.12)
LID_LINE = (0.33, 0.22, 0.18)
MOUTH_IN = (0.30, 0.07, 0.08)
TEETH = (0.96, 0.95, 0.90)
TONGUE = (0.80, 0.38, 0.40)
SCLERA = (0.96, 0.95, 0.92)
IRIS = (0.22, 0.46, 0.55)
PUPIL = (0.03, 0.03, 0.04)

# height, half-width, front depth, back depth of each horizontal section of the skin
PROFILE = np.array([
    [1.22, 0.00, 0.00, 0.00], [1.19, 0.30, 0.30, 0.36], [1.12, 0.50, 0.52, 0.60],
    [1.02, 0.64, 0.68, 0.76], [0.88, 0.74, 0.79, 0.88], [0.70, 0.79, 0.85, 0.93],
    [0.50, 0.80, 0.86, 0.94], [0.30, 0.79, 0.85, 0.92], [0.10, 0.77, 0.84, 0.86],
    [-0.10, 0.74, 0.84, 0.78], [-0.30, 0.69, 0.82, 0.68], [-0.50, 0.61, 0.78, 0.58],
    [-0.66, 0.52, 0.73, 0.51], [-0.78, 0.42, 0.66, 0.46], [-0.88, 0.36, 0.50, 0.43],
    [-0.98, 0.33, 0.38, 0.41], [-1.20, 0.33, 0.36, 0.40], [-1.90, 0.36, 0.38, 0.42],
])  # fmt: skip
SUPER = 2.3  # super-ellipse exponent: a flatter face front than a plain ellipse


def smoothstep(e0: float, e1: float, x: np.ndarray) -> np.ndarray:
    t = np.clip((x - e0) / (e1 - e0), 0.0, 1.0)
    return t * t * (3 - 2 * t)


def gauss(x: np.ndarray, c: float, s: float) -> np.ndarray:
    return np.exp(-(((x - c) / s) ** 2))


def blob(p: np.ndarray, center: tuple[float, float, float], radii: tuple[float, float, float]) -> np.ndarray:
    """Gaussian weight ``(N,)`` around a 3-D point with per-axis radii."""
    d = (p - np.asarray(center)) / np.asarray(radii)
    return np.exp(-np.sum(d * d, axis=1))


# --------------------------------------------------------------------------------------------
# Geometry
# --------------------------------------------------------------------------------------------


@dataclass
class Parts:
    """Vertex index ranges and per-vertex tags of the assembled head."""

    skin: slice
    side: np.ndarray  # skin rows: +1 upper copy / -1 lower copy of a doubled row, 0 otherwise
    row_y: np.ndarray  # skin: the height of the grid row (features move vertices off it)
    slits: dict[str, tuple[float, float]]  # x extent of the mouth and eye openings
    bag: slice
    teeth_up: slice
    teeth_lo: slice
    tongue: slice
    eye_l: slice
    eye_r: slice


def _columns(n: int) -> np.ndarray:
    """Azimuths ``(n,)`` in ``[-pi, pi)``, three times denser at the front than at the back."""
    s = np.linspace(-1.0, 1.0, n, endpoint=False) + 1.0 / n  # symmetric about 0
    a = 0.40
    return np.pi * np.sign(s) * (a * np.abs(s) + (1 - a) * np.abs(s) ** 3)


def _rows() -> tuple[np.ndarray, np.ndarray]:
    """Row heights ``(R,)`` bottom to top and tags (+1/-1 for the doubled rows)."""
    ys = [-1.90, -1.60, -1.35, -1.15, -1.04]
    y = -0.98
    while y < 0.95:  # face band: fine, finer still around the lips and the eyes
        ys.append(y)
        fine = 0.012 if (abs(y - Y_MOUTH) < 0.10 or -0.02 < y - Y_EYE < 0.32) else 0.022
        y += fine
    ys += [0.98, 1.03, 1.08, 1.13, 1.17, 1.20, 1.22]
    ys = np.array(ys)
    for target in (Y_MOUTH, Y_EYE):  # snap the nearest row onto each feature line
        ys[np.argmin(np.abs(ys - target))] = target
    rows, tags = [], []
    for y in np.sort(ys):
        if y in (Y_MOUTH, Y_EYE):
            rows += [y, y]
            tags += [-1, 1]
        else:
            rows.append(y)
            tags.append(0)
    return np.array(rows), np.array(tags)


def _skin() -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Skin vertices ``(R*C, 3)``, faces, tags ``(R*C,)`` and row heights ``(R*C,)``."""
    u = _columns(128)
    ys, tags = _rows()
    prof = PchipInterpolator(PROFILE[::-1, 0], PROFILE[::-1, 1:], axis=0)(ys)  # (R, 3)
    rx, rzf, rzb = prof[:, 0:1], prof[:, 1:2], prof[:, 2:3]
    su, cu = np.sin(u)[None], np.cos(u)[None]
    e = 2.0 / SUPER
    x = rx * np.sign(su) * np.abs(su) ** e
    z = np.where(cu > 0, rzf, rzb) * np.sign(cu) * np.abs(cu) ** e
    y = np.broadcast_to(ys[:, None], x.shape)
    grid = np.stack([x, y, z], -1)  # (R, C, 3)
    n_rows, n_cols = grid.shape[:2]
    # outward normals of the base surface from the grid tangents
    du = np.roll(grid, -1, 1) - np.roll(grid, 1, 1)
    dv = np.zeros_like(grid)
    dv[1:-1] = grid[2:] - grid[:-2]
    dv[0], dv[-1] = grid[1] - grid[0], grid[-1] - grid[-2]
    normal = np.cross(du, dv)
    normal /= np.maximum(np.linalg.norm(normal, axis=-1, keepdims=True), 1e-9)
    # the doubled rows have zero dv on one side; borrow the normal of their neighbours
    for r in np.nonzero(tags)[0]:
        normal[r] = normal[r + 1] if tags[r] > 0 else normal[r - 1]
    p = grid.reshape(-1, 3)
    # features push horizontally only, so every row keeps its height (the slits stay level)
    n = normal.reshape(-1, 3) * [1.0, 0.0, 1.0]
    tag = np.repeat(tags, n_cols)
    p = p + n * _relief(p)[:, None]
    faces = []
    removed: dict[str, list[int]] = {"mouth": [], "eye_l": [], "eye_r": []}
    for r in range(n_rows - 1):
        for c in range(n_cols):
            c2 = (c + 1) % n_cols
            if tags[r] == -1 and tags[r + 1] == 1:  # between the copies of a doubled row
                xm = 0.5 * (p[r * n_cols + c, 0] + p[r * n_cols + c2, 0])
                zm = p[r * n_cols + c, 2]
                if zm > 0 and ys[r] == Y_MOUTH and abs(xm) < MOUTH_HALF:
                    removed["mouth"] += [r * n_cols + c, r * n_cols + c2]
                    continue
                if zm > 0 and ys[r] == Y_EYE and abs(abs(xm) - EYE_X) < EYE_HALF:
                    removed["eye_l" if xm > 0 else "eye_r"] += [r * n_cols + c, r * n_cols + c2]
                    continue
            a, b = r * n_cols + c, r * n_cols + c2
            cc, d = (r + 1) * n_cols + c2, (r + 1) * n_cols + c
            faces += [(a, b, cc), (a, cc, d)]
    # the x extent of each opening, corner to corner: moves that part the lips or the lids
    # must fade to zero exactly there, or the closed seam beyond would tear
    slits = {k: (float(p[v, 0].min()), float(p[v, 0].max())) for k, v in removed.items()}
    return p, np.array(faces, np.int64), tag, np.repeat(ys, n_cols), slits


def _relief(p: np.ndarray) -> np.ndarray:
    """Displacement ``(N,)`` along the base normal that sculpts the face."""
    x, y, z = p[:, 0], p[:, 1], p[:, 2]
    front = smoothstep(0.1, 0.5, z)
    ax = np.abs(x)
    h = np.zeros(len(p))
    # nose: a ridge growing from the bridge to the tip, then the wings
    ridge_h = np.interp(
        -y, [-0.24, -0.12, 0.0, 0.12, 0.20, 0.25, 0.30], [0, 0.04, 0.10, 0.19, 0.24, 0.16, 0.0]
    )
    ridge_w = np.interp(-y, [-0.2, 0.1, 0.22], [0.05, 0.07, 0.09])
    h += ridge_h * np.exp(-((x / ridge_w) ** 2))
    h += 0.085 * blob(p, (0.09, -0.225, 0), (0.055, 0.045, 9))
    h += 0.085 * blob(p, (-0.09, -0.225, 0), (0.055, 0.045, 9))
    # brow ridge, eye sockets, cheekbones
    h += 0.05 * gauss(y, 0.33, 0.07) * smoothstep(0.62, 0.35, ax)
    h -= 0.09 * gauss(ax, EYE_X, 0.15) * gauss(y, Y_EYE + 0.01, 0.10)
    h += 0.05 * gauss(ax, 0.42, 0.14) * gauss(y, -0.10, 0.12)
    # muzzle, lips, philtrum, chin
    h += 0.05 * gauss(x, 0, 0.28) * gauss(y, -0.46, 0.16)
    h += 0.06 * np.exp(-((x / 0.17) ** 4)) * gauss(y, Y_MOUTH + 0.035, 0.035)
    h += 0.07 * np.exp(-((x / 0.15) ** 4)) * gauss(y, Y_MOUTH - 0.045, 0.042)
    h += 0.025 * gauss(x, 0, 0.05) * gauss(y, -0.36, 0.05)
    h -= 0.02 * gauss(x, 0, 0.12) * gauss(y, -0.585, 0.03)
    h += 0.07 * gauss(x, 0, 0.17) * gauss(y, -0.71, 0.08)
    h *= front
    # ears, on the sides
    for s in (1, -1):
        h += 0.15 * blob(p, (s * 0.78, 0.06, -0.06), (0.2, 0.20, 0.11)) * smoothstep(0.5, 0.7, ax)
    # hair volume over the cap
    h += 0.05 * _hair_mask(p)
    return h


def _hair_mask(p: np.ndarray) -> np.ndarray:
    x, y, z = p[:, 0], p[:, 1], p[:, 2]
    az = np.abs(np.arctan2(x, z))
    line = np.interp(
        az, [0.0, 0.6, 1.05, 1.35, 1.75, 2.3, np.pi], [0.70, 0.66, 0.50, 0.36, 0.36, -0.25, -0.42]
    )
    return smoothstep(line - 0.03, line + 0.05, y)


def _half_ellipsoid_bag(center: np.ndarray, radii: np.ndarray, n_theta: int = 14, n_phi: int = 24):
    """A back-half ellipsoid open towards +z: ``(N, 3)`` vertices and faces."""
    verts, faces = [], []
    thetas = np.linspace(0.0, np.pi / 2, n_theta)  # 0 = back pole, pi/2 = the open rim
    phis = np.linspace(0, 2 * np.pi, n_phi, endpoint=False)
    verts.append(center + radii * np.array([0, 0, -1.0]))
    for t in thetas[1:]:
        for ph in phis:
            d = np.array([np.sin(t) * np.cos(ph), np.sin(t) * np.sin(ph), -np.cos(t)])
            verts.append(center + radii * d)
    for j in range(n_phi):
        faces.append((0, 1 + (j + 1) % n_phi, 1 + j))
    for i in range(n_theta - 2):
        for j in range(n_phi):
            a, b = 1 + i * n_phi + j, 1 + i * n_phi + (j + 1) % n_phi
            c, d = a + n_phi, b + n_phi
            faces += [(a, b, d), (a, d, c)]
    return np.array(verts), np.array(faces)


def _ellipsoid(center: np.ndarray, radii: np.ndarray, thetas: np.ndarray, n_phi: int):
    """Closed ellipsoid with poles on the +z/-z axis; ``thetas`` are ring angles from +z."""
    verts = [center + radii * np.array([0, 0, 1.0])]
    phis = np.linspace(0, 2 * np.pi, n_phi, endpoint=False)
    for t in thetas:
        for ph in phis:
            verts.append(
                center + radii * np.array([np.sin(t) * np.cos(ph), np.sin(t) * np.sin(ph), np.cos(t)])
            )
    verts.append(center + radii * np.array([0, 0, -1.0]))
    last = len(verts) - 1
    faces = [(0, 1 + j, 1 + (j + 1) % n_phi) for j in range(n_phi)]
    for i in range(len(thetas) - 1):
        for j in range(n_phi):
            a, b = 1 + i * n_phi + j, 1 + i * n_phi + (j + 1) % n_phi
            c, d = a + n_phi, b + n_phi
            faces += [(a, c, d), (a, d, b)]
    base = 1 + (len(thetas) - 1) * n_phi
    faces += [(base + j, last, base + (j + 1) % n_phi) for j in range(n_phi)]
    return np.array(verts), np.array(faces)


def _arch_band(y0: float, y1: float, z_front: float, half_w: float, depth: float, n: int = 28):
    """A curved strip (the dental arch) from height ``y0`` to ``y1``: vertices and faces."""
    t = np.linspace(-1, 1, n)
    x = half_w * np.sin(t * 1.35) / np.sin(1.35)
    z = z_front - depth * (1 - np.cos(t * 1.35)) / (1 - np.cos(1.35))
    verts = np.concatenate([np.stack([x, np.full(n, y0), z], 1), np.stack([x, np.full(n, y1), z], 1)])
    faces = []
    for i in range(n - 1):
        faces += [(i, i + 1, n + i + 1), (i, n + i + 1, n + i)]
    return verts, np.array(faces)


def build_geometry():
    skin, skin_faces, side, row_y, slits = _skin()
    # where the lips are (front-most skin at the mouth line) anchors the mouth parts
    on_line = (np.abs(skin[:, 1] - Y_MOUTH) < 1e-9) & (np.abs(skin[:, 0]) < 0.02) & (skin[:, 2] > 0)
    z_lip = skin[on_line, 2].max()
    bag, bag_f = _half_ellipsoid_bag(
        np.array([0.0, Y_MOUTH - 0.03, z_lip - 0.13]), np.array([0.20, 0.12, 0.30])
    )
    t_up, t_up_f = _arch_band(Y_MOUTH + 0.03, Y_MOUTH - 0.03, z_lip - 0.075, 0.15, 0.22)
    t_lo, t_lo_f = _arch_band(Y_MOUTH - 0.085, Y_MOUTH - 0.030, z_lip - 0.095, 0.135, 0.20)
    tongue_at = np.array([0.0, Y_MOUTH - 0.075, z_lip - 0.25])
    tongue, tongue_f = _ellipsoid(
        tongue_at, np.array([0.12, 0.045, 0.17]), np.linspace(0.25, np.pi - 0.25, 9), 18
    )
    ring = np.array([0.09, 0.16, 0.175, 0.27, 0.37, 0.415, 0.43, 0.55, 0.75, 1.0, 1.3, 1.7, 2.2, 2.7])
    eyes, eyes_f = [], []
    eye_centers = []
    for s in (1, -1):
        c = _eye_center(skin, s)
        eye_centers.append(c)
        v, f = _ellipsoid(c, np.full(3, EYE_R), ring, 28)
        eyes.append(v)
        eyes_f.append(f)
    parts_v = [skin, bag, t_up, t_lo, tongue, eyes[0], eyes[1]]
    parts_f = [skin_faces, bag_f, t_up_f, t_lo_f, tongue_f, eyes_f[0], eyes_f[1]]
    offsets = np.cumsum([0] + [len(v) for v in parts_v])
    slices = [slice(int(offsets[i]), int(offsets[i + 1])) for i in range(len(parts_v))]
    verts = np.concatenate(parts_v)
    faces = np.concatenate([f + offsets[i] for i, f in enumerate(parts_f)])
    parts = Parts(slices[0], side, row_y, slits, *slices[1:])
    verts = _wrap_lids(verts, parts, np.array(eye_centers), snap=1.0)
    return verts, faces, parts, np.array(eye_centers), z_lip


def _eye_center(skin: np.ndarray, s: int) -> np.ndarray:
    near = (np.abs(skin[:, 0] - s * EYE_X) < 0.02) & (np.abs(skin[:, 1] - Y_EYE) < 0.02) & (skin[:, 2] > 0)
    z_surface = skin[near, 2].max()
    return np.array([s * EYE_X, Y_EYE + 0.005, z_surface - EYE_R + 0.03])


def _lid_weights(p: np.ndarray, s: int) -> np.ndarray:
    """Weight ``(N,)`` of the lid area around eye ``s`` (1 at the opening, 0 beyond the lids)."""
    return gauss(p[:, 0], s * EYE_X, EYE_HALF * 1.25) * gauss(p[:, 1], Y_EYE, 0.12) * (p[:, 2] > 0.2)


def _wrap_lids(verts: np.ndarray, parts: Parts, centers: np.ndarray, snap: float) -> np.ndarray:
    """Keep the lid skin on the eyeballs: nothing inside ``EYE_R + LID_GAP``; lid edges snapped.

    ``snap`` scales how hard the skin near the opening is pulled onto the eyeball surface.
    """
    out = verts.copy()
    skin = out[parts.skin]
    for s, c in zip((1, -1), centers, strict=True):
        d = skin - c
        r = np.linalg.norm(d, axis=1)
        target = EYE_R + LID_GAP
        w = _lid_weights(skin, s) * snap
        # near the opening, pull onto the sphere; everywhere, never inside it
        edge = np.exp(-(((np.abs(skin[:, 1] - Y_EYE)) / 0.06) ** 2)) * w
        reach = smoothstep(target + 0.10, target + 0.02, r)  # fade the pull out smoothly
        new_r = np.where(r < target, target, r + (target - r) * np.clip(edge, 0, 1) * reach)
        skin = c + d * (new_r / np.maximum(r, 1e-9))[:, None]
    out[parts.skin] = skin
    return out


def build_colors(verts: np.ndarray, parts: Parts, eye_centers: np.ndarray) -> np.ndarray:
    col = np.zeros((len(verts), 3))
    p = verts[parts.skin]
    x, y, z = p[:, 0], p[:, 1], p[:, 2]
    ax = np.abs(x)
    c = np.tile(SKIN, (len(p), 1))
    blush = 0.6 * gauss(ax, 0.42, 0.12) * gauss(y, -0.22, 0.10) * (z > 0)
    c = c + (np.array(CHEEK) - c) * blush[:, None]
    # lips: vermilion above and below the mouth line, narrowing towards the corners
    lip_w = 0.19
    top = Y_MOUTH + 0.062 - 0.02 * (ax / lip_w) ** 2 + 0.008 * gauss(ax, 0.045, 0.03)
    bottom = Y_MOUTH - 0.085 + 0.045 * (ax / lip_w) ** 2
    lip = smoothstep(top + 0.008, top - 0.008, y) * smoothstep(bottom - 0.01, bottom + 0.01, y)
    lip *= smoothstep(lip_w + 0.01, lip_w - 0.03, ax) * (z > 0)
    c = c + (np.array(LIPS) - c) * lip[:, None]
    # brows: an arched stroke over each eye, thick at the head, thin at the tail
    t = (ax - 0.10) / 0.40
    centre_line = 0.355 + 0.05 * np.sin(np.clip(t, 0, 1) * np.pi * 0.9) - 0.02 * t
    thick = 0.040 - 0.018 * np.clip(t, 0, 1)
    brow = smoothstep(thick + 0.01, thick - 0.01, np.abs(y - centre_line))
    brow *= smoothstep(-0.05, 0.05, t) * smoothstep(1.05, 0.9, t) * (z > 0)
    c = c + (np.array(BROW) - c) * brow[:, None]
    # upper lid line (lashes): the rows just above the opening
    ry = parts.row_y
    for s in (1, -1):
        tt = (x - s * EYE_X) / EYE_HALF
        upper_row = (ry > Y_EYE) | ((ry == Y_EYE) & (parts.side == 1))
        lash = (np.abs(tt) < 1.08) & upper_row & (ry < Y_EYE + 0.013) & (z > 0)
        c[lash] = LID_LINE
    hair = _hair_mask(p)
    c = c + (np.array(HAIR) - c) * hair[:, None]
    col[parts.skin] = c
    col[parts.bag] = MOUTH_IN
    col[parts.teeth_up] = TEETH
    col[parts.teeth_lo] = TEETH
    col[parts.tongue] = TONGUE
    for part, center in ((parts.eye_l, eye_centers[0]), (parts.eye_r, eye_centers[1])):
        d = verts[part] - center
        theta = np.arccos(np.clip(d[:, 2] / np.linalg.norm(d, axis=1), -1, 1))
        col[part] = np.where((theta < 0.17)[:, None], PUPIL, np.where((theta < 0.42)[:, None], IRIS, SCLERA))
    return np.clip(col, 0, 1)


def _open_eyes(verts: np.ndarray, parts: Parts) -> np.ndarray:
    """Open the eye slits into almond-shaped openings (the rest pose)."""
    out = verts.copy()
    p = out[parts.skin]
    for s in (1, -1):
        out[parts.skin] = p = p + _lid_move(p, parts, s, up=LID_UP, down=-LID_LO)
    return out


def _lid_move(
    p: np.ndarray,
    parts: Parts,
    s: int,
    up: float,
    down: float,
    reach_up: float = 0.10,
    reach_down: float = 0.07,
) -> np.ndarray:
    """Vertical moves ``(N, 3)`` of the lids of eye ``s``: the upper edge by ``up``, the lower
    edge by ``down`` (positive = up), fading over ``reach_*`` away from the eye line."""
    x, y = p[:, 0], parts.row_y
    x0, x1 = parts.slits["eye_l" if s > 0 else "eye_r"]
    tt = np.clip((x - (x0 + x1) / 2) / ((x1 - x0) / 2), -1, 1)
    env = (1 - tt**2) ** 0.7 * (p[:, 2] > 0.2)
    is_upper = (y > Y_EYE) | ((y == Y_EYE) & (parts.side == 1))
    dy = np.where(is_upper, up * gauss(y - Y_EYE, 0, reach_up), down * gauss(y - Y_EYE, 0, reach_down))
    # soften the fade past the corners so the skin does not crease
    env = np.maximum(env, 0)
    move = np.zeros_like(p)
    move[:, 1] = dy * env
    return move


# --------------------------------------------------------------------------------------------
# Blendshapes
# --------------------------------------------------------------------------------------------


class Sculptor:
    """Builds each blendshape target from the rest pose with small, named operations."""

    def __init__(self, verts: np.ndarray, parts: Parts, eye_centers: np.ndarray, z_lip: float) -> None:
        self.rest = verts
        self.parts = parts
        self.eye_centers = eye_centers
        self.z_lip = z_lip
        n = len(verts)
        self.is_skin = np.zeros(n, bool)
        self.is_skin[parts.skin] = True
        side = np.zeros(n, int)
        side[parts.skin] = parts.side
        y = verts[:, 1].copy()
        y[parts.skin] = parts.row_y
        # which side of the mouth line a vertex belongs to (the doubled row decides by its tag)
        self.lower = (y < Y_MOUTH) | ((y == Y_MOUTH) & (side == -1))
        self.upper = ~self.lower
        self.side = side
        # inside the mouth corners (1) fading to 0 just past them: lip-only moves use it
        corner = parts.slits["mouth"][1]
        self.in_mouth = smoothstep(corner, corner - 0.06, np.abs(verts[:, 0]))
        # soft sides: beyond the corners both sides of the seam move together
        self.upper_w = np.where(self.upper, 1.0, 1 - self.in_mouth)
        self.lower_w = np.where(self.lower, 1.0, 1 - self.in_mouth)
        self.front = verts[:, 2] > 0.15

    # -- helpers -----------------------------------------------------------------------------

    def jaw_weight(self) -> np.ndarray:
        """How much each vertex follows the jaw (1 = rigidly with the mandible)."""
        v = self.rest
        x, y, z = v[:, 0], v[:, 1], v[:, 2]
        above = gauss(y - Y_MOUTH, 0, 0.16) * (1 - self.in_mouth)
        w = np.where(self.lower, 1.0, above)
        w = w * smoothstep(-1.12, -0.86, y) * smoothstep(-0.30, 0.15, z) * smoothstep(0.72, 0.45, np.abs(x))
        w[self.parts.teeth_up] = 0.0
        w[self.parts.teeth_lo] = 1.0
        w[self.parts.tongue] = 1.0
        bag = self.parts.bag
        w[bag] = smoothstep(Y_MOUTH + 0.05, Y_MOUTH - 0.08, y[bag])
        w[self.parts.eye_l] = w[self.parts.eye_r] = 0.0
        return w

    def rotate_jaw(self, angle: float, weight: np.ndarray) -> np.ndarray:
        """Rotate about the hinge axis (x) by ``angle * weight`` per vertex; returns targets."""
        d = self.rest - JAW_HINGE
        a = angle * weight
        c, s = np.cos(a), np.sin(a)
        out = self.rest.copy()
        out[:, 1] = JAW_HINGE[1] + d[:, 1] * c - d[:, 2] * s
        out[:, 2] = JAW_HINGE[2] + d[:, 1] * s + d[:, 2] * c
        return out

    def skin_blob(self, center, radii) -> np.ndarray:
        return blob(self.rest, center, radii) * self.is_skin * self.front

    def mouth_corner(self, s: int) -> tuple[float, float, float]:
        return (s * MOUTH_HALF, Y_MOUTH, self.z_lip - 0.08)

    def wrap(self, target: np.ndarray) -> np.ndarray:
        return _wrap_lids(target, self.parts, self.eye_centers, snap=1.0)

    def eye_move(
        self, s: int, up: float, down: float, reach_up: float = 0.10, reach_down: float = 0.07
    ) -> np.ndarray:
        move = np.zeros_like(self.rest)
        move[self.parts.skin] = _lid_move(
            self.rest[self.parts.skin], self.parts, s, up, down, reach_up, reach_down
        )
        return move

    # -- the shapes --------------------------------------------------------------------------

    def shape(self, name: str) -> np.ndarray:
        """Target positions ``(V, 3)`` for one ARKit blendshape at weight 1."""
        s = 1 if name.endswith("Left") else -1 if name.endswith("Right") else 0
        base = name.removesuffix("Left").removesuffix("Right")
        if base in ("jaw", "mouth"):  # jawLeft, mouthRight...: moves of one part, not sided shapes
            base, s = name, 0
        r = self.rest
        t = r.copy()
        if base == "eyeBlink":
            t = r + self.eye_move(s, up=-(LID_UP + 0.35 * LID_LO), down=0.65 * LID_LO, reach_up=0.11)
            t += self.skin_blob((s * EYE_X, Y_EYE + 0.15, 0), (0.16, 0.06, 9))[:, None] * [0, -0.012, 0]
            return self.wrap(t)
        if base == "eyeLookDown":
            t = r + self.eye_move(s, up=-0.55 * LID_UP, down=-0.012, reach_up=0.12)
            return self.wrap(t)
        if base == "eyeLookUp":
            t = r + self.eye_move(s, up=0.028, down=0.016, reach_up=0.14)
            t += self.skin_blob((s * EYE_X, Y_EYE + 0.2, 0), (0.18, 0.07, 9))[:, None] * [0, 0.02, 0]
            return self.wrap(t)
        if base in ("eyeLookIn", "eyeLookOut"):
            sign = -s if base == "eyeLookIn" else s  # "in" is towards the nose
            w = self.skin_blob((s * EYE_X, Y_EYE, 0), (EYE_HALF * 0.8, 0.09, 9))
            t = r + w[:, None] * [sign * 0.035, 0.0, 0]
            t += self.eye_move(s, up=-0.012, down=0.0)
            return self.wrap(t)
        if base == "eyeSquint":
            t = r + self.eye_move(s, up=-0.22 * LID_UP, down=0.75 * LID_LO, reach_down=0.10)
            w = self.skin_blob((s * (EYE_X + 0.02), Y_EYE - 0.13, 0), (0.16, 0.07, 9))
            t += w[:, None] * [0, 0.03, 0.02]
            w = self.skin_blob((s * (EYE_X + EYE_HALF + 0.04), Y_EYE, 0), (0.05, 0.08, 9))
            t += w[:, None] * [-s * 0.02, 0, 0]
            return self.wrap(t)
        if base == "eyeWide":
            t = r + self.eye_move(s, up=0.048, down=-0.012, reach_up=0.13)
            t += self.skin_blob((s * EYE_X, Y_EYE + 0.22, 0), (0.2, 0.08, 9))[:, None] * [0, 0.02, 0]
            return self.wrap(t)
        if base == "jawOpen":
            return self.rotate_jaw(JAW_OPEN_RAD, self.jaw_weight())
        if base == "jawForward":
            return r + self.jaw_weight()[:, None] * [0, -0.01, 0.075]
        if base in ("jawLeft", "jawRight"):
            sign = 1 if base == "jawLeft" else -1
            w = self.jaw_weight()
            t = r + w[:, None] * [sign * 0.09, 0, 0]
            return t
        if base == "mouthClose":
            # closes the lips over an open jaw; alone it presses them into a pout
            w = self.skin_blob((0, Y_MOUTH, 0), (MOUTH_HALF * 1.0, 0.08, 9)) * self.in_mouth
            move = np.where(self.upper[:, None], [0, -0.035, 0.045], [0, 0.055, 0.05])
            return r + w[:, None] * move
        if base in ("mouthFunnel", "mouthPucker"):
            funnel = base == "mouthFunnel"
            w = self.skin_blob((0, Y_MOUTH, 0), (MOUTH_HALF * 1.35, 0.14, 9))
            t = r.copy()
            t[:, 0] = r[:, 0] - w * r[:, 0] * (0.35 if funnel else 0.6)  # corners pull in
            t[:, 2] = r[:, 2] + w * (0.08 if funnel else 0.15)
            if funnel:  # the lips part into an O
                lips = self.skin_blob((0, Y_MOUTH, 0), (MOUTH_HALF * 0.9, 0.06, 9)) * self.in_mouth
                t[:, 1] += lips * np.where(self.upper, 0.035, -0.05)
            else:  # pursed lips bunch vertically
                lips = self.skin_blob((0, Y_MOUTH, 0), (MOUTH_HALF * 1.0, 0.09, 9))
                t[:, 1] -= lips * (r[:, 1] - Y_MOUTH) * 0.35
            return t
        if base in ("mouthLeft", "mouthRight"):
            sign = 1 if base == "mouthLeft" else -1
            w = self.skin_blob((0, Y_MOUTH, 0), (MOUTH_HALF * 1.6, 0.15, 9))
            return r + w[:, None] * [sign * 0.11, 0, -0.01]
        if base == "mouthSmile":
            w = self.skin_blob(self.mouth_corner(s), (0.13, 0.11, 9))
            t = r + w[:, None] * [s * 0.05, 0.085, -0.035]
            w2 = self.skin_blob((s * 0.30, Y_MOUTH + 0.16, 0), (0.13, 0.10, 9))
            t += w2[:, None] * [s * 0.01, 0.03, 0.03]  # the cheek bunches up
            return t
        if base == "mouthFrown":
            w = self.skin_blob(self.mouth_corner(s), (0.12, 0.11, 9))
            return r + w[:, None] * [s * 0.012, -0.075, -0.01]
        if base == "mouthDimple":
            w = self.skin_blob(self.mouth_corner(s), (0.09, 0.08, 9))
            t = r + w[:, None] * [s * 0.06, 0.01, -0.05]
            d = self.skin_blob((s * (MOUTH_HALF + 0.07), Y_MOUTH, 0), (0.03, 0.035, 9))
            return t - d[:, None] * [0, 0, 0.03]
        if base == "mouthStretch":
            w = self.skin_blob(self.mouth_corner(s), (0.13, 0.12, 9))
            t = r + w[:, None] * [s * 0.075, -0.035, -0.025]
            lo = self.skin_blob((s * 0.09, Y_MOUTH - 0.02, 0), (0.10, 0.05, 9)) * self.lower_w * self.in_mouth
            return t + lo[:, None] * [0, -0.025, 0]
        if base in ("mouthRollLower", "mouthRollUpper"):
            upper = base == "mouthRollUpper"
            mask = self.upper_w if upper else self.lower_w
            c = (0, Y_MOUTH + (0.035 if upper else -0.045), 0)
            w = self.skin_blob(c, (MOUTH_HALF * 1.05, 0.05, 9)) * mask
            return r + w[:, None] * [0, -0.035 if upper else 0.04, -0.065]
        if base == "mouthShrugLower":
            w = self.skin_blob((0, Y_MOUTH - 0.12, 0), (0.17, 0.12, 9)) * self.lower_w
            t = r + w[:, None] * [0, 0.04, 0.03]
            chin = self.skin_blob((0, -0.70, 0), (0.12, 0.07, 9))
            return t + chin[:, None] * [0, 0.02, 0.02]
        if base == "mouthShrugUpper":
            w = self.skin_blob((0, Y_MOUTH + 0.06, 0), (0.19, 0.08, 9)) * self.upper_w
            return r + w[:, None] * [0, 0.035, 0.03]
        if base == "mouthPress":
            w = self.skin_blob((s * 0.08, Y_MOUTH, 0), (0.12, 0.07, 9)) * self.in_mouth
            move = np.where(self.upper[:, None], [0, -0.02, -0.045], [0, 0.03, -0.05])
            return r + w[:, None] * move
        if base == "mouthLowerDown":
            w = self.skin_blob((s * 0.08, Y_MOUTH - 0.03, 0), (0.12, 0.09, 9)) * self.lower_w * self.in_mouth
            return r + w[:, None] * [0, -0.075, 0.005]
        if base == "mouthUpperUp":
            w = self.skin_blob((s * 0.08, Y_MOUTH + 0.03, 0), (0.12, 0.08, 9)) * self.upper_w * self.in_mouth
            return r + w[:, None] * [0, 0.065, 0.01]
        if base == "browDown":
            w = self.skin_blob((s * 0.27, 0.38, 0), (0.22, 0.11, 9))
            inner = self.skin_blob((s * 0.12, 0.34, 0), (0.10, 0.09, 9))
            t = r + w[:, None] * [0, -0.055, 0.01] + inner[:, None] * [-s * 0.03, -0.015, 0.015]
            return self.wrap(t)
        if base == "browInnerUp":
            w = self.skin_blob((0.13, 0.38, 0), (0.11, 0.13, 9)) + self.skin_blob(
                (-0.13, 0.38, 0), (0.11, 0.13, 9)
            )
            return self.wrap(r + w[:, None] * [0, 0.075, 0])
        if base == "browOuterUp":
            w = self.skin_blob((s * 0.42, 0.37, 0), (0.13, 0.12, 9))
            return self.wrap(r + w[:, None] * [0, 0.07, 0])
        if base == "cheekPuff":
            t = r.copy()
            for side in (1, -1):
                w = self.skin_blob((side * 0.35, Y_MOUTH + 0.02, 0), (0.16, 0.16, 9))
                nrm = r - np.array([0, Y_MOUTH, -0.2])
                nrm /= np.linalg.norm(nrm, axis=1, keepdims=True)
                t += w[:, None] * nrm * 0.12
            lips = self.skin_blob((0, Y_MOUTH, 0), (MOUTH_HALF, 0.06, 9))
            return t + lips[:, None] * [0, 0, 0.02]
        if base == "cheekSquint":
            w = self.skin_blob((s * 0.36, Y_EYE - 0.17, 0), (0.16, 0.10, 9))
            t = r + w[:, None] * [0, 0.055, 0.04]
            t += self.eye_move(s, up=0.0, down=0.3 * LID_LO, reach_down=0.08)
            return self.wrap(t)
        if base == "noseSneer":
            w = self.skin_blob((s * 0.08, -0.17, 0), (0.07, 0.09, 9))
            t = r + w[:, None] * [s * 0.01, 0.045, 0.005]
            lip = self.skin_blob((s * 0.07, Y_MOUTH + 0.05, 0), (0.07, 0.05, 9)) * self.upper_w
            t += lip[:, None] * [0, 0.02, 0]
            brow = self.skin_blob((s * 0.1, 0.28, 0), (0.07, 0.07, 9))
            return t + brow[:, None] * [-s * 0.01, -0.02, 0]
        if base == "tongueOut":
            t = self.rotate_jaw(JAW_OPEN_RAD * 0.3, self.jaw_weight())
            tongue = self.parts.tongue
            tip = smoothstep(self.z_lip - 0.42, self.z_lip - 0.08, r[tongue, 2])
            t[tongue] += np.stack([0 * tip, -0.04 - 0.05 * tip, 0.10 + 0.22 * tip], 1)
            return t
        raise KeyError(f"no sculpt for {name}")


def build_rig() -> BlendshapeRig:
    verts, faces, parts, eye_centers, z_lip = build_geometry()
    verts = _open_eyes(verts, parts)
    verts = _wrap_lids(verts, parts, eye_centers, snap=1.0)
    colors = build_colors(verts, parts, eye_centers)
    sculptor = Sculptor(verts, parts, eye_centers, z_lip)
    deltas = np.stack([sculptor.shape(name) - verts for name in ARKIT_BLENDSHAPES])
    deltas[np.abs(deltas) < 1e-5] = 0.0  # keep the stored shapes sparse
    eye_l = np.arange(parts.eye_l.start, parts.eye_l.stop)
    eye_r = np.arange(parts.eye_r.start, parts.eye_r.stop)
    return BlendshapeRig(
        name="default",
        neutral=verts.astype(np.float32),
        faces=faces.astype(np.int32),
        colors=colors.astype(np.float32),
        deltas=deltas.astype(np.float32),
        eye_vertices=(eye_l, eye_r),
        eye_pivots=eye_centers.astype(np.float32),
        head_pivot=np.array([0.0, -0.95, -0.15], np.float32),  # top of the neck
        frame_center=np.array([0.0, -0.02, 0.35], np.float32),
        frame_radius=1.14,
        unit="dm",
    )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("-o", "--output", type=Path, default=ROOT / "assets" / "default_rig.npz")
    args = parser.parse_args(argv)
    rig = build_rig()
    args.output.parent.mkdir(parents=True, exist_ok=True)
    save_rig_npz(rig, args.output)
    size = args.output.stat().st_size
    print(f"wrote {args.output} ({rig.n_vertices} vertices, {rig.n_faces} triangles, {size / 1e6:.2f} MB)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
