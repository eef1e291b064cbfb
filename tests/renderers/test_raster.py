"""The offscreen rasteriser: shapes, determinism, camera framing, normals."""

from __future__ import annotations

import numpy as np
import pytest
import trimesh

from renderers import Camera, camera_preset, rasterize
from renderers.raster import BACKGROUND, vertex_normals


class Mesh:
    def __init__(self, faces: np.ndarray, colors: np.ndarray) -> None:
        self.faces, self.colors = faces, colors


@pytest.fixture(scope="module")
def sphere():
    m = trimesh.creation.icosphere(3)
    colors = np.tile(np.array([0.8, 0.2, 0.2], np.float32), (len(m.vertices), 1))
    return np.asarray(m.vertices, np.float32), Mesh(np.asarray(m.faces), colors)


def test_vertex_normals_of_a_sphere_point_outwards(sphere):
    verts, mesh = sphere
    normals = vertex_normals(np.stack([verts, 2 * verts]), mesh.faces)
    assert normals.shape == (2, len(verts), 3)
    np.testing.assert_allclose(np.linalg.norm(normals, axis=-1), 1.0, atol=1e-5)
    assert (np.sum(normals[0] * verts, axis=1) > 0.98).all()
    np.testing.assert_allclose(normals[0], normals[1], atol=1e-5)


def test_frames_show_the_mesh_on_the_background(gl, sphere):
    verts, mesh = sphere
    cam = camera_preset("front", np.zeros(3), 1.0)
    frames = rasterize(np.stack([verts, verts * 0.5]), mesh, cam, size=128)
    assert frames.shape == (2, 128, 128, 3) and frames.dtype == np.uint8
    background = np.round(255 * np.power(BACKGROUND, 1 / 2.2)).astype(int)
    assert np.abs(frames[0, 0, 0].astype(int) - background).max() <= 2
    centre = frames[0, 64, 64].astype(int)
    assert centre[0] > centre[1] + 60  # red albedo, lit
    # the half-size sphere covers about a quarter of the area of the full one
    covered = (np.abs(frames.astype(int) - background).sum(axis=-1) > 10).sum(axis=(1, 2))
    assert 0.18 < covered[1] / covered[0] < 0.32
    np.testing.assert_array_equal(frames, rasterize(np.stack([verts, verts * 0.5]), mesh, cam, size=128))


def test_camera_presets_frame_the_sphere_and_differ(gl, sphere):
    verts, mesh = sphere
    front = camera_preset("front", np.zeros(3), 1.0)
    quarter = camera_preset("three-quarter", np.zeros(3), 1.0)
    # a marker on the +x side is visible in the three-quarter view only from the side
    a, b = rasterize(verts, mesh, front, 128)[0], rasterize(verts, mesh, quarter, 128)[0]
    assert not np.array_equal(a, b)
    with pytest.raises(ValueError, match="unknown camera"):
        camera_preset("top", np.zeros(3), 1.0)
    view = front.view_matrix()
    np.testing.assert_allclose(view[:3, :3] @ view[:3, :3].T, np.eye(3), atol=1e-9)
    eye_in_camera = view @ np.r_[np.asarray(front.eye), 1.0]
    np.testing.assert_allclose(eye_in_camera[:3], 0.0, atol=1e-9)
    assert isinstance(front, Camera)


def test_mismatched_inputs_are_refused(gl, sphere):
    verts, mesh = sphere
    cam = camera_preset("front", np.zeros(3), 1.0)
    with pytest.raises(ValueError, match="colors"):
        rasterize(verts[:-1], mesh, cam, 128)


def test_any_thread_can_render_after_another(gl, sphere):
    """A web server renders each request on some worker thread: an EGL context left current in
    the first thread used to make every later thread fail with EGL_BAD_ACCESS."""
    from concurrent.futures import ThreadPoolExecutor

    verts, mesh = sphere
    cam = camera_preset("front", np.zeros(3), 1.0)
    expected = rasterize(verts, mesh, cam, size=96)
    for _ in range(2):  # a fresh thread each time, never the one that created the context
        with ThreadPoolExecutor(max_workers=1) as worker:
            frames = worker.submit(rasterize, verts, mesh, cam, 96).result()
        np.testing.assert_array_equal(frames, expected)
    with ThreadPoolExecutor(max_workers=2) as workers:  # concurrent requests take turns
        results = list(workers.map(lambda _: rasterize(verts, mesh, cam, size=96), range(4)))
    for frames in results:
        np.testing.assert_array_equal(frames, expected)


def test_streams_left_half_read_neither_block_nor_blank_other_frames(gl, sphere):
    """A stream its reader abandons mid-clip (a failed request, a test taking one frame) is closed
    whenever the garbage collector gets to it. It used to hold the lock and the context until
    then: other threads waited, and its close released the context under the frame being drawn,
    which came back black."""
    import gc
    from concurrent.futures import ThreadPoolExecutor

    from renderers import get_rasterizer

    verts, mesh = sphere
    cam = camera_preset("front", np.zeros(3), 1.0)
    rasterizer = get_rasterizer(96)
    expected = rasterizer.render(np.stack([verts, 0.5 * verts]), mesh, cam)
    poses = [np.stack([verts, 0.5 * verts])] * 3
    first, second = rasterizer.iter_frames(poses, mesh, cam), rasterizer.iter_frames(poses, mesh, cam)
    np.testing.assert_array_equal(next(first), expected[0])
    np.testing.assert_array_equal(next(second), expected[0])  # interleaved streams, each its own pose
    np.testing.assert_array_equal(next(first), expected[1])
    worker = ThreadPoolExecutor(max_workers=1)  # another thread renders while both are open
    try:
        frames = worker.submit(rasterizer.render, verts, mesh, cam).result(timeout=60)
    finally:
        worker.shutdown(wait=False)  # a worker stuck on the lock must not hang the suite
    np.testing.assert_array_equal(frames[0], expected[0])
    np.testing.assert_array_equal(next(second), expected[1])
    first.close()  # what the collector does to an abandoned stream, here between two frames
    np.testing.assert_array_equal(next(second), expected[0])
    del second
    gc.collect()
    np.testing.assert_array_equal(rasterizer.render(verts, mesh, cam)[0], expected[0])
