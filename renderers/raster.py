"""Offscreen rasteriser: posed vertices in, ``(T, H, W, 3) uint8`` frames out.

One OpenGL context per process (headless EGL by default, through pyrender's platform layer),
one small shader program and one framebuffer per frame size, reused for every clip, rig and
model. Every rig is drawn with the same camera presets and the same studio lights, so two
renders differ only by the motion (and the head) — the point of a fair comparison.

Why not stock pyrender per frame: building a scene, forcing 4× MSAA and running pyrender's
general PBR shader costs more than the face itself on a CPU rasteriser (llvmpipe). Here the
mesh topology and colours are uploaded once; per frame only positions and normals move, and
antialiasing is a choice (``samples``: 0 on CPU, 4 on a GPU where it is free).

Coordinates: metres or centimetres alike (the camera frames the rig's own bounds); +y up, +z out
of the face towards the front camera, +x the character's own left (ARKit's convention).
"""

from __future__ import annotations

import contextlib
import ctypes
import threading
from collections.abc import Iterable, Iterator
from typing import Protocol

import numpy as np
import scipy.sparse as sp

from renderers._compat import prepare_gl_environment
from renderers.camera import Camera
from studio.config import egl_device
from studio.errors import StudioError


class RenderUnavailableError(StudioError, RuntimeError):
    """No OpenGL context could be created (no EGL/OSMesa library, no device)."""


class RenderMesh(Protocol):
    """What the rasteriser needs from a rig: fixed topology and colours.

    ``faces``: ``(F, 3)`` int vertex indices, counter-clockwise seen from outside.
    ``colors``: ``(V, 3)`` float32 sRGB in ``[0, 1]``.
    """

    faces: np.ndarray
    colors: np.ndarray


# --------------------------------------------------------------------------------------------
# Normals (CPU, vectorised: a sparse vertex-face incidence sums area-weighted face normals)
# --------------------------------------------------------------------------------------------


def incidence_matrix(faces: np.ndarray, n_vertices: int) -> sp.csr_matrix:
    """``(V, F)`` sparse 0/1 matrix: vertex ``v`` touches face ``f``."""
    faces = np.asarray(faces)
    rows = faces.reshape(-1)
    cols = np.repeat(np.arange(len(faces)), 3)
    data = np.ones(len(rows), np.float32)
    return sp.csr_matrix((data, (rows, cols)), shape=(n_vertices, len(faces)))


def vertex_normals(
    vertices: np.ndarray, faces: np.ndarray, incidence: sp.csr_matrix | None = None
) -> np.ndarray:
    """Smooth unit normals, ``(..., V, 3) float32`` for ``vertices (..., V, 3)``.

    Each face contributes its area-weighted normal to its three corners (why: large faces
    dominate, which keeps normals stable where the mesh is unevenly tessellated).
    """
    vertices = np.asarray(vertices, np.float32)
    lead = vertices.shape[:-2]
    v = vertices.reshape(-1, *vertices.shape[-2:])
    if incidence is None:
        incidence = incidence_matrix(faces, v.shape[1])
    a, b, c = v[:, faces[:, 0]], v[:, faces[:, 1]], v[:, faces[:, 2]]
    face_n = np.cross(b - a, c - a)  # (B, F, 3), length = 2 * area
    # (V, F) @ (F, B*3) sums the faces around each vertex for all frames in one product
    summed = incidence @ face_n.transpose(1, 0, 2).reshape(face_n.shape[1], -1)
    normals = summed.reshape(v.shape[1], v.shape[0], 3).transpose(1, 0, 2)
    length = np.linalg.norm(normals, axis=-1, keepdims=True)
    normals = normals / np.maximum(length, 1e-12)
    return normals.astype(np.float32).reshape(*lead, v.shape[1], 3)


# --------------------------------------------------------------------------------------------
# The studio lighting: one set, for everyone
# --------------------------------------------------------------------------------------------

# Directions point from the surface towards the light, in world space (+z towards the front).
# A warm key from the upper left of the viewer, a cool fill from the right, a rim from behind,
# and a sky/ground hemisphere for soft ambient: a standard three-point portrait set-up.
STUDIO_LIGHTS = (
    ((-0.55, 0.55, 0.85), (1.00, 0.96, 0.90)),  # key
    ((0.75, 0.10, 0.55), (0.38, 0.42, 0.50)),  # fill
    ((0.00, 0.60, -0.90), (0.45, 0.45, 0.50)),  # rim
)
AMBIENT_SKY = (0.30, 0.31, 0.34)
AMBIENT_GROUND = (0.12, 0.11, 0.10)
BACKGROUND = (0.20, 0.21, 0.235)  # linear RGB, a neutral dark slate

# Lighting runs per vertex (Gouraud): on a CPU rasteriser the fragment stage is the cost, and
# a face mesh of 10k+ vertices at 512² is dense enough that per-pixel lighting looks the same.
_VERTEX_SHADER = """
#version 330 core
layout(location = 0) in vec3 position;
layout(location = 1) in vec3 normal;
layout(location = 2) in vec3 color;
uniform mat4 mvp;
uniform vec3 eye;
uniform vec3 light_dir[3];
uniform vec3 light_color[3];
uniform vec3 ambient_sky;
uniform vec3 ambient_ground;
out vec3 v_front;
out vec3 v_back;
vec3 shade(vec3 n, vec3 v, vec3 albedo) {
    vec3 c = albedo * mix(ambient_ground, ambient_sky, 0.5 + 0.5 * n.y);
    for (int i = 0; i < 3; ++i) {
        vec3 l = normalize(light_dir[i]);
        float diffuse = max(dot(n, l), 0.0);
        float spec = pow(max(dot(n, normalize(l + v)), 0.0), 40.0) * step(0.0, dot(n, l));
        c += light_color[i] * (albedo * diffuse + 0.12 * spec);
    }
    return pow(c, vec3(1.0 / 2.2));
}
void main() {
    vec3 albedo = pow(color, vec3(2.2));  // sRGB albedo -> linear for lighting
    vec3 n = normalize(normal);
    vec3 v = normalize(eye - position);
    v_front = shade(n, v, albedo);
    v_back = shade(-n, v, albedo);  // inner walls (mouth bag) are seen from behind
    gl_Position = mvp * vec4(position, 1.0);
}
"""

_FRAGMENT_SHADER = """
#version 330 core
in vec3 v_front;
in vec3 v_back;
out vec4 frag;
void main() {
    frag = vec4(gl_FrontFacing ? v_front : v_back, 1.0);
}
"""


# --------------------------------------------------------------------------------------------
# Context and renderer
# --------------------------------------------------------------------------------------------


def _create_platform(width: int, height: int):
    """An offscreen GL platform (pyrender's), trying every EGL device before giving up.

    ``PYOPENGL_PLATFORM`` chooses the API (``egl`` default, ``osmesa``); ``EGL_DEVICE_ID``
    pins one EGL device. Without a pin, devices are tried in order (a GPU first where the
    driver lists one, then Mesa's software device), which is the automatic fallback.
    """
    platform_name = prepare_gl_environment()
    errors: list[str] = []
    if platform_name == "egl":
        try:
            from pyrender.platforms import egl
        except Exception as exc:  # no libEGL at all
            raise RenderUnavailableError(
                f"EGL is not available ({exc}); install Mesa's EGL (libegl1, libegl-mesa0, "
                "libgl1-mesa-dri) or set PYOPENGL_PLATFORM=osmesa"
            ) from exc
        pinned = egl_device()
        try:
            devices = egl.query_devices()
        except Exception:  # no device enumeration extension: the default display only
            devices = [egl.get_default_device()]
        if pinned is not None:
            devices = [devices[int(pinned)]]
        for device in devices:
            platform = egl.EGLPlatform(width, height, device=device)
            try:
                platform.init_context()
                platform.make_current()
                return platform
            except Exception as exc:  # a listed device that cannot give a GL 4.1 core context
                errors.append(f"{device}: {exc!r}")
                with contextlib.suppress(Exception):  # already failing; report the first error
                    platform.delete_context()
        raise RenderUnavailableError("no EGL device gave an OpenGL context: " + "; ".join(errors))
    if platform_name == "osmesa":
        from pyrender.platforms.osmesa import OSMesaPlatform

        platform = OSMesaPlatform(width, height)
        platform.init_context()
        platform.make_current()
        return platform
    raise RenderUnavailableError(f"PYOPENGL_PLATFORM={platform_name!r} is not supported (use egl or osmesa)")


class Rasterizer:
    """A reusable offscreen renderer of vertex-coloured triangle meshes.

    ``width``/``height`` in pixels; ``samples`` is the MSAA sample count (0 = none). Create it
    once (see :func:`get_rasterizer`); call :meth:`render` for each clip. Any thread may render
    (web servers run each request on a worker thread): one frame draws at a time, so streams of
    several clips may interleave, and the GL context is made current for each frame and released
    after it, because an EGL context can be current in only one thread and a context left
    current in thread A makes thread B fail with EGL_BAD_ACCESS.
    """

    def __init__(self, width: int = 512, height: int = 512, samples: int | None = None) -> None:
        if not (16 <= width <= 4096 and 16 <= height <= 4096):
            raise ValueError(f"frame size must be within 16..4096 pixels, got {width}x{height}")
        self.width, self.height = int(width), int(height)
        self._lock = threading.RLock()  # one clip at a time: the context is a single resource
        self._platform = _create_platform(self.width, self.height)
        from OpenGL import GL

        self._gl = GL
        renderer = GL.glGetString(GL.GL_RENDERER)
        self.device_name = renderer.decode() if isinstance(renderer, bytes) else str(renderer)
        self.software = any(k in self.device_name.lower() for k in ("llvmpipe", "softpipe", "swrast"))
        # MSAA is nearly free on a GPU and costs ~2x on llvmpipe; the CPU default is none.
        self.samples = int(samples if samples is not None else (0 if self.software else 4))
        self._program = self._build_program()
        self._uniforms = {
            name: GL.glGetUniformLocation(self._program, name)
            for name in ("mvp", "eye", "light_dir", "light_color", "ambient_sky", "ambient_ground")
        }
        self._vao = GL.glGenVertexArrays(1)
        self._buffers = GL.glGenBuffers(4)  # positions, normals, colours, indices
        self._mesh_key: tuple[int, int, int] | None = None
        self._n_indices = 0
        self._n_vertices = 0
        self._topologies: dict[tuple[int, int, int], tuple] = {}
        self._mesh_refs: tuple = ()
        self._build_framebuffers()
        self._release_context()

    def _release_context(self) -> None:
        """Detach the GL context from the calling thread so another thread can make it current."""
        display = getattr(self._platform, "_egl_display", None)
        if display is None:  # OSMesa binds per call; nothing to release
            return
        from OpenGL import EGL

        EGL.eglMakeCurrent(display, EGL.EGL_NO_SURFACE, EGL.EGL_NO_SURFACE, EGL.EGL_NO_CONTEXT)

    # -- set-up ------------------------------------------------------------------------------

    def _build_program(self) -> int:
        GL = self._gl  # noqa: N806 - the GL namespace reads like the C API
        from OpenGL.GL import shaders

        program = shaders.compileProgram(
            shaders.compileShader(_VERTEX_SHADER, GL.GL_VERTEX_SHADER),
            shaders.compileShader(_FRAGMENT_SHADER, GL.GL_FRAGMENT_SHADER),
            validate=False,  # validation needs a bound VAO, which comes later
        )
        return int(program)

    def _build_framebuffers(self) -> None:
        GL = self._gl  # noqa: N806
        w, h = self.width, self.height

        def framebuffer(samples: int) -> tuple[int, list[int]]:
            fbo = GL.glGenFramebuffers(1)
            GL.glBindFramebuffer(GL.GL_FRAMEBUFFER, fbo)
            color, depth = GL.glGenRenderbuffers(2)
            for rb, fmt, attach in (
                (color, GL.GL_RGBA8, GL.GL_COLOR_ATTACHMENT0),
                (depth, GL.GL_DEPTH_COMPONENT24, GL.GL_DEPTH_ATTACHMENT),
            ):
                GL.glBindRenderbuffer(GL.GL_RENDERBUFFER, rb)
                if samples:
                    GL.glRenderbufferStorageMultisample(GL.GL_RENDERBUFFER, samples, fmt, w, h)
                else:
                    GL.glRenderbufferStorage(GL.GL_RENDERBUFFER, fmt, w, h)
                GL.glFramebufferRenderbuffer(GL.GL_FRAMEBUFFER, attach, GL.GL_RENDERBUFFER, rb)
            status = GL.glCheckFramebufferStatus(GL.GL_FRAMEBUFFER)
            if status != GL.GL_FRAMEBUFFER_COMPLETE:
                raise RenderUnavailableError(f"framebuffer incomplete (status {status:#x})")
            return int(fbo), [int(color), int(depth)]

        self._resolve_fbo, _ = framebuffer(0)
        self._draw_fbo = framebuffer(self.samples)[0] if self.samples else self._resolve_fbo

    def _upload_mesh(self, mesh: RenderMesh, n_vertices: int) -> None:
        GL = self._gl  # noqa: N806
        faces = np.ascontiguousarray(mesh.faces, np.uint32)
        colors = np.ascontiguousarray(mesh.colors, np.float32)[:, :3]
        if colors.shape[0] != n_vertices:
            raise ValueError(f"colors have {colors.shape[0]} rows for {n_vertices} vertices")
        if faces.size and int(faces.max()) >= n_vertices:
            raise ValueError("faces index past the last vertex")
        GL.glBindVertexArray(self._vao)
        for slot, (buffer, data) in enumerate(
            ((self._buffers[0], None), (self._buffers[1], None), (self._buffers[2], colors))
        ):
            GL.glBindBuffer(GL.GL_ARRAY_BUFFER, buffer)
            size = n_vertices * 12
            if data is None:  # positions and normals change every frame
                GL.glBufferData(GL.GL_ARRAY_BUFFER, size, None, GL.GL_STREAM_DRAW)
            else:
                GL.glBufferData(GL.GL_ARRAY_BUFFER, size, data, GL.GL_STATIC_DRAW)
            GL.glEnableVertexAttribArray(slot)
            GL.glVertexAttribPointer(slot, 3, GL.GL_FLOAT, GL.GL_FALSE, 0, ctypes.c_void_p(0))
        GL.glBindBuffer(GL.GL_ELEMENT_ARRAY_BUFFER, self._buffers[3])
        GL.glBufferData(GL.GL_ELEMENT_ARRAY_BUFFER, faces.nbytes, faces, GL.GL_STATIC_DRAW)
        self._n_indices = faces.size
        self._n_vertices = n_vertices
        self._mesh_key = self._key(mesh, n_vertices)
        self._mesh_refs = (mesh.faces, mesh.colors)  # keep the ids in the key unique

    # -- drawing -----------------------------------------------------------------------------

    def _set_camera(self, camera: Camera) -> None:
        GL = self._gl  # noqa: N806
        mvp = camera.projection_matrix(self.width / self.height) @ camera.view_matrix()
        u = self._uniforms
        GL.glUseProgram(self._program)
        GL.glUniformMatrix4fv(u["mvp"], 1, GL.GL_TRUE, mvp.astype(np.float32))
        GL.glUniform3f(u["eye"], *camera.eye)
        dirs = np.array([d for d, _ in STUDIO_LIGHTS], np.float32)
        cols = np.array([c for _, c in STUDIO_LIGHTS], np.float32)
        GL.glUniform3fv(u["light_dir"], 3, dirs)
        GL.glUniform3fv(u["light_color"], 3, cols)
        GL.glUniform3f(u["ambient_sky"], *AMBIENT_SKY)
        GL.glUniform3f(u["ambient_ground"], *AMBIENT_GROUND)

    def _draw(self, positions: np.ndarray, normals: np.ndarray) -> np.ndarray:
        GL = self._gl  # noqa: N806
        GL.glBindBuffer(GL.GL_ARRAY_BUFFER, self._buffers[0])
        GL.glBufferSubData(GL.GL_ARRAY_BUFFER, 0, positions.nbytes, positions)
        GL.glBindBuffer(GL.GL_ARRAY_BUFFER, self._buffers[1])
        GL.glBufferSubData(GL.GL_ARRAY_BUFFER, 0, normals.nbytes, normals)
        GL.glBindFramebuffer(GL.GL_FRAMEBUFFER, self._draw_fbo)
        GL.glViewport(0, 0, self.width, self.height)
        GL.glEnable(GL.GL_DEPTH_TEST)
        GL.glDisable(GL.GL_CULL_FACE)  # open meshes (mouth, eye sockets) show inner walls
        GL.glClearColor(*(c ** (1 / 2.2) for c in BACKGROUND), 1.0)
        GL.glClear(GL.GL_COLOR_BUFFER_BIT | GL.GL_DEPTH_BUFFER_BIT)
        GL.glDrawElements(GL.GL_TRIANGLES, self._n_indices, GL.GL_UNSIGNED_INT, ctypes.c_void_p(0))
        if self.samples:
            GL.glBindFramebuffer(GL.GL_READ_FRAMEBUFFER, self._draw_fbo)
            GL.glBindFramebuffer(GL.GL_DRAW_FRAMEBUFFER, self._resolve_fbo)
            GL.glBlitFramebuffer(
                0,
                0,
                self.width,
                self.height,
                0,
                0,
                self.width,
                self.height,
                GL.GL_COLOR_BUFFER_BIT,
                GL.GL_NEAREST,
            )
        GL.glBindFramebuffer(GL.GL_READ_FRAMEBUFFER, self._resolve_fbo)
        GL.glPixelStorei(GL.GL_PACK_ALIGNMENT, 1)
        data = GL.glReadPixels(0, 0, self.width, self.height, GL.GL_RGB, GL.GL_UNSIGNED_BYTE)
        image = np.frombuffer(data, np.uint8).reshape(self.height, self.width, 3)
        return image[::-1]  # GL's origin is bottom-left

    def iter_frames(
        self, vertex_chunks: Iterable[np.ndarray], mesh: RenderMesh, camera: Camera
    ) -> Iterator[np.ndarray]:
        """Stream frames: each ``(t, V, 3)`` chunk of posed vertices yields ``(H, W, 3) uint8``.

        Chunks let a long clip be posed, lit and encoded without holding it all in memory.
        The next chunk is posed (the chunk iterable is advanced) and its normals computed on a
        worker thread while this one is drawn: numpy releases the GIL, so on two cores the
        CPU work hides behind the rasteriser.
        """
        from concurrent.futures import ThreadPoolExecutor

        iterator = iter(vertex_chunks)

        def prepare() -> tuple[np.ndarray, np.ndarray] | None:
            chunk = next(iterator, None)
            if chunk is None:
                return None
            chunk = np.asarray(chunk, np.float32)
            if chunk.ndim == 2:
                chunk = chunk[None]
            faces, incidence = self._topology(mesh, chunk.shape[1])
            return chunk, vertex_normals(chunk, faces, incidence)

        with ThreadPoolExecutor(max_workers=1) as pool:
            pending = pool.submit(prepare)
            while True:
                prepared = pending.result()
                if prepared is None:
                    return
                pending = pool.submit(prepare)
                chunk, normals = prepared
                for pose, pose_normals in zip(chunk, normals, strict=True):
                    yield self._draw_pose(mesh, camera, pose, pose_normals)

    def _draw_pose(
        self, mesh: RenderMesh, camera: Camera, pose: np.ndarray, normals: np.ndarray
    ) -> np.ndarray:
        """One frame, holding the context only while drawing it.

        The lock and the context are never held across a ``yield``: a stream its reader left
        half-read (or one the garbage collector closes later, at any moment) must neither block
        other threads nor release the context from under a frame another stream is drawing.
        """
        with self._lock:
            self._platform.make_current()
            try:
                if self._mesh_key != self._key(mesh, len(pose)):
                    self._upload_mesh(mesh, len(pose))
                self._gl.glBindVertexArray(self._vao)
                self._set_camera(camera)
                return self._draw(np.ascontiguousarray(pose), np.ascontiguousarray(normals))
            finally:
                self._release_context()

    @staticmethod
    def _key(mesh: RenderMesh, n_vertices: int) -> tuple[int, int, int]:
        return (id(mesh.faces), id(mesh.colors), n_vertices)

    def _topology(self, mesh: RenderMesh, n_vertices: int) -> tuple[np.ndarray, sp.csr_matrix]:
        """Faces and the vertex-face incidence of ``mesh`` (cached per mesh, thread-safe)."""
        key = self._key(mesh, n_vertices)
        cached = self._topologies.get(key)
        if cached is None:
            faces = np.asarray(mesh.faces, np.int64)
            if len(mesh.colors) != n_vertices:
                raise ValueError(f"colors have {len(mesh.colors)} rows for {n_vertices} vertices")
            if faces.size and (int(faces.max()) >= n_vertices or int(faces.min()) < 0):
                raise ValueError(f"faces index outside the {n_vertices} vertices")
            # the entry keeps mesh.faces/colors alive, so their ids cannot be reused meanwhile
            cached = (faces, incidence_matrix(faces, n_vertices), mesh.faces, mesh.colors)
            if len(self._topologies) >= 8:
                self._topologies.pop(next(iter(self._topologies)))
            self._topologies[key] = cached
        return cached[0], cached[1]

    def render(self, vertices: np.ndarray, mesh: RenderMesh, camera: Camera) -> np.ndarray:
        """``vertices (T, V, 3)`` or ``(V, 3)`` -> ``(T, H, W, 3) uint8`` (``T = 1`` for one pose)."""
        vertices = np.asarray(vertices, np.float32)
        if vertices.ndim == 2:
            vertices = vertices[None]
        chunks = (vertices[i : i + 64] for i in range(0, len(vertices), 64))
        frames = np.empty((len(vertices), self.height, self.width, 3), np.uint8)
        for i, frame in enumerate(self.iter_frames(chunks, mesh, camera)):
            frames[i] = frame
        return frames


_RASTERIZERS: dict[tuple[int, int, int | None], Rasterizer] = {}
_RASTERIZERS_LOCK = threading.Lock()


def get_rasterizer(width: int = 512, height: int | None = None, samples: int | None = None) -> Rasterizer:
    """The process-wide rasteriser for a frame size (created on first use, then reused).

    Each size owns its context and buffers; a process normally uses one or two sizes.
    """
    key = (int(width), int(height or width), samples)
    with _RASTERIZERS_LOCK:
        if key not in _RASTERIZERS:
            _RASTERIZERS[key] = Rasterizer(key[0], key[1], samples)
        return _RASTERIZERS[key]


def rasterize(
    vertices: np.ndarray, mesh: RenderMesh, camera: Camera, size: int = 512, samples: int | None = None
) -> np.ndarray:
    """Draw posed ``vertices (T, V, 3)`` of ``mesh`` from ``camera``: ``(T, size, size, 3) uint8``."""
    return get_rasterizer(size, size, samples).render(vertices, mesh, camera)
