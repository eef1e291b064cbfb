"""The exported ``.glb`` in three.js, as its editor and viewers play it: loaded by three.js's own
GLTFLoader, animated by its AnimationMixer, every vertex taken from three.js's CPU evaluation of
the morphed, transformed mesh (``Mesh.getVertexPosition`` and the node's world matrix). At each
checked frame this must be the rig's own mesh (``BlendshapeRig.evaluate``) to 1e-4 rig units.
"""

from __future__ import annotations

import base64

import numpy as np
import pytest

from renderers import export_gltf
from studio.config import StudioConfig
from studio.formats import read_clip
from tests.conftest import LIVELINK
from tests.ui.conftest import free_port, launch_chromium, serving

pytestmark = pytest.mark.browser
TOLERANCE = 1e-4  # rig units (the default rig's decimetres)

# Runs in the player's page, whose import map names three.js and its addons (vendored files).
POSED_IN_THREE = """
async ({glb, times}) => {
  const THREE = await import("three");
  const { GLTFLoader } = await import("three/addons/loaders/GLTFLoader.js");
  const bytes = Uint8Array.from(atob(glb), (c) => c.charCodeAt(0));
  const gltf = await new GLTFLoader().parseAsync(bytes.buffer, "");
  const mixer = new THREE.AnimationMixer(gltf.scene);
  mixer.clipAction(gltf.animations[0]).play();
  const frames = [];
  for (const t of times) {
    mixer.setTime(t);
    gltf.scene.updateMatrixWorld(true);
    const posed = {};
    const vertex = new THREE.Vector3();
    gltf.scene.traverse((object) => {
      if (!object.isMesh) return;
      const rig = object.geometry.attributes._rig_vertex;
      for (let i = 0; i < rig.count; i++) {
        object.getVertexPosition(i, vertex).applyMatrix4(object.matrixWorld);
        posed[rig.getX(i)] = [vertex.x, vertex.y, vertex.z];
      }
    });
    frames.push(posed);
  }
  return {
    frames,
    duration: gltf.animations[0].duration,
    tracks: gltf.animations[0].tracks.map((track) => track.name),
    targets: gltf.scene.getObjectByName("Face").morphTargetInfluences.length,
  };
}
"""


@pytest.fixture(scope="module")
def gl_browser():
    from benchmarks.app import GL_ARGS

    yield from launch_chromium(GL_ARGS)


def test_three_js_plays_the_exported_take_as_the_rig_does(gl_browser, default_rig, tmp_path):
    if not (LIVELINK / "facial.csv").is_file():
        pytest.skip(f"real Live Link takes not found at {LIVELINK} (the shared data folder is absent)")
    clip = read_clip(LIVELINK / "facial.csv").clip
    take = clip.replace(values=clip.values[:240])  # 8 s of a real take: head turns, blinks, talking
    path = tmp_path / "take.glb"
    export_gltf(take, default_rig, path)
    frames = [0, 37, 120, 239]
    config = StudioConfig(port=free_port(), output_dir=tmp_path / "out")
    with serving(config) as url:
        page = gl_browser.new_page(bypass_csp=True)
        page.goto(f"{url}player?embed=1&wait=1", wait_until="domcontentloaded")
        page.wait_for_function("() => window.player !== undefined", timeout=60_000)
        shown = page.evaluate(
            POSED_IN_THREE,
            {"glb": base64.b64encode(path.read_bytes()).decode(), "times": [k / take.fps for k in frames]},
        )
        page.close()
    assert shown["duration"] == pytest.approx((take.n_frames - 1) / take.fps, abs=1e-6)
    assert shown["targets"] == 52
    assert {name.rsplit(".", 1)[1] for name in shown["tracks"]} == {"morphTargetInfluences", "quaternion"}
    metres = 0.1  # the default rig is in decimetres; the file is in metres
    posed = default_rig.evaluate(take)
    for k, by_vertex in zip(frames, shown["frames"], strict=True):
        assert len(by_vertex) == default_rig.n_vertices
        three = np.array([by_vertex[str(i)] for i in range(default_rig.n_vertices)]) / metres
        error = float(np.abs(three - posed[k]).max())
        assert error < TOLERANCE, f"frame {k}: three.js is {error:.3g} rig units from the rig"
    moved = np.abs(posed[frames[-1]] - posed[0]).max()
    assert moved > 100 * TOLERANCE  # the frames differ: the check is not of a still face
