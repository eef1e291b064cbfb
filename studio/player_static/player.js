// The 3D player: every model's clip on one rig, all panels in one WebGL canvas, one timeline.
//
// Data: GET /player/api/stream (studio/player.py documents it): each model's motion arrives as
// soon as that model has answered and its panel starts playing; then the rig's .glb, fetched
// once per rig (the browser caches it by its content hash). One page serves many requests:
// player.load() (the Compare tab calls it on Generate) keeps the rig, renderer and camera.
// Drawing: one three.js renderer; each panel is its own scene drawn into its own viewport
// (scissored), all seen through one camera that OrbitControls moves. The 52 blendshapes are
// blended on the CPU into each head's position and normal buffers, once per shown frame: under
// software GL (llvmpipe) three.js's GPU morph path costs far more per vertex than this loop.
// Head and eye rotations are node rotations, as in the .glb.
//
// The look copies the MP4 renders (renderers/raster.py): the same camera presets, the same
// three lights and sky/ground ambient lit per vertex, the same gamma and background.
// tests/test_player.py checks the constants below against that module.

import * as THREE from "three";
import { GLTFLoader } from "three/addons/loaders/GLTFLoader.js";
import { OrbitControls } from "three/addons/controls/OrbitControls.js";
import { CURVE_COLOURS, CurveStrip } from "./curves.js";

// -- the studio look (renderers/raster.py) -----------------------------------------------------
const STUDIO_LIGHTS = [
  [[-0.55, 0.55, 0.85], [1.0, 0.96, 0.9]], // key
  [[0.75, 0.1, 0.55], [0.38, 0.42, 0.5]], // fill
  [[0.0, 0.6, -0.9], [0.45, 0.45, 0.5]], // rim
];
const AMBIENT_SKY = [0.3, 0.31, 0.34];
const AMBIENT_GROUND = [0.12, 0.11, 0.1];
const BACKGROUND = [0.2, 0.21, 0.235]; // linear RGB

// The raster's shader, per vertex (Gouraud), in GLSL ES 3. The .glb stores linear vertex
// colours; the raster lights sRGB colours raised to 2.2, so the colour goes back to sRGB first.
const VERTEX_SHADER = `
precision highp float;
uniform mat4 modelMatrix;
uniform mat4 viewMatrix;
uniform mat4 projectionMatrix;
uniform vec3 cameraPosition;
uniform vec3 lightDir[3];
uniform vec3 lightColor[3];
uniform vec3 ambientSky;
uniform vec3 ambientGround;
in vec3 position;
in vec3 normal;
in vec3 color;
out vec3 vFront;
out vec3 vBack;
vec3 shade(vec3 n, vec3 v, vec3 albedo) {
  vec3 c = albedo * mix(ambientGround, ambientSky, 0.5 + 0.5 * n.y);
  for (int i = 0; i < 3; ++i) {
    vec3 l = normalize(lightDir[i]);
    float diffuse = max(dot(n, l), 0.0);
    float spec = pow(max(dot(n, normalize(l + v)), 0.0), 40.0) * step(0.0, dot(n, l));
    c += lightColor[i] * (albedo * diffuse + 0.12 * spec);
  }
  return pow(c, vec3(1.0 / 2.2));
}
vec3 linearToSrgb(vec3 c) {
  return mix(12.92 * c, 1.055 * pow(c, vec3(1.0 / 2.4)) - 0.055, step(vec3(0.0031308), c));
}
void main() {
  vec3 albedo = pow(linearToSrgb(color), vec3(2.2));
  vec4 world = modelMatrix * vec4(position, 1.0);
  vec3 n = normalize(mat3(modelMatrix) * normal); // rotations and one uniform scale only
  vec3 v = normalize(cameraPosition - world.xyz);
  vFront = shade(n, v, albedo);
  vBack = shade(-n, v, albedo); // inner walls (mouth bag) are seen from behind
  gl_Position = projectionMatrix * viewMatrix * world;
}`;
const FRAGMENT_SHADER = `
precision highp float;
in vec3 vFront;
in vec3 vBack;
out vec4 frag;
void main() {
  frag = vec4(gl_FrontFacing ? vFront : vBack, 1.0);
}`;

const API_PARAMS = ["prompt", "seed", "models", "duration", "rig", "demo"];
const MIN_PANEL = 128;
const MAX_PANEL = 1024;
const N_SHAPES = 52;
const JOINTS = [
  ["Head", "headYaw", "headPitch", "headRoll"],
  ["LeftEye", "leftEyeYaw", "leftEyePitch", "leftEyeRoll"],
  ["RightEye", "rightEyeYaw", "rightEyePitch", "rightEyeRoll"],
];
const CURVE_HEIGHT = 120;

const timings = { moduleStart: performance.now() };
const $ = (id) => document.getElementById(id);

// -- data ----------------------------------------------------------------------------------------

/** The API query for `params` (a URLSearchParams or a plain object): the API's keys only. */
function apiQuery(params) {
  const api = new URLSearchParams();
  const entries = params instanceof URLSearchParams ? params : Object.entries(params);
  for (const [key, value] of entries) {
    if (API_PARAMS.includes(key) && value !== undefined && value !== null) api.append(key, String(value));
  }
  return api;
}

/** The stream's JSON lines, one object at a time, as they arrive. */
async function* jsonLines(response) {
  const reader = response.body.pipeThrough(new TextDecoderStream()).getReader();
  let buffer = "";
  for (;;) {
    const { value, done } = await reader.read();
    if (done) break;
    buffer += value;
    let end;
    while ((end = buffer.indexOf("\n")) >= 0) {
      const line = buffer.slice(0, end);
      buffer = buffer.slice(end + 1);
      if (line.trim()) yield JSON.parse(line);
    }
  }
  if (buffer.trim()) yield JSON.parse(buffer);
}

/** base64 of little-endian float32 -> Float32Array (every browser this runs in is little-endian). */
function decodeValues(base64) {
  const binary = atob(base64);
  const bytes = new Uint8Array(binary.length);
  for (let i = 0; i < binary.length; i++) bytes[i] = binary.charCodeAt(i);
  return new Float32Array(bytes.buffer);
}

/**
 * The blendshapes of one mesh, kept sparse: per shape, the vertices it moves and their position
 * and normal deltas. Most shapes move a few hundred vertices, so blending touches little.
 */
function sparseMorphs(geometry) {
  const targets = geometry.morphAttributes.position;
  if (!targets || targets.length === 0) return null;
  const normals = geometry.morphAttributes.normal;
  const n = geometry.attributes.position.count;
  const shapes = targets.map((target, k) => {
    const dp = target.array;
    const dn = normals?.[k]?.array ?? null;
    const rows = [];
    for (let v = 0; v < n; v++) {
      const o = 3 * v;
      if (dp[o] || dp[o + 1] || dp[o + 2] || (dn && (dn[o] || dn[o + 1] || dn[o + 2]))) rows.push(v);
    }
    const pos = new Float32Array(rows.length * 3);
    const nor = new Float32Array(rows.length * 3);
    rows.forEach((v, i) => {
      for (let c = 0; c < 3; c++) {
        pos[3 * i + c] = dp[3 * v + c];
        if (dn) nor[3 * i + c] = dn[3 * v + c];
      }
    });
    return { rows: Uint32Array.from(rows), pos, nor };
  });
  return {
    basePos: geometry.attributes.position.array.slice(),
    baseNor: geometry.attributes.normal.array.slice(),
    shapes,
  };
}

const rigs = new Map(); // url -> Promise of the loaded rig: each rig is fetched and parsed once

/** A rig, loaded once per page: its scene with the morph targets moved into sparse CPU arrays. */
function loadRig(url) {
  if (!rigs.has(url)) rigs.set(url, parseRig(url));
  return rigs.get(url);
}

async function parseRig(url) {
  const gltf = await new GLTFLoader().loadAsync(url);
  const morphs = new Map(); // geometry -> sparse blendshapes
  gltf.scene.traverse((object) => {
    if (!object.isMesh) return;
    const sparse = sparseMorphs(object.geometry);
    if (sparse) morphs.set(object.geometry, sparse);
    // no GPU morphing: the geometry keeps only the rest pose
    object.geometry.morphAttributes = {};
    object.morphTargetInfluences = undefined;
    object.morphTargetDictionary = undefined;
  });
  return { scene: gltf.scene, morphs };
}

// -- panels --------------------------------------------------------------------------------------

/** One model's head: its own scene (a clone of the rig sharing topology and colours); its
 * motion (`values`) arrives later, with `fill`. */
function buildPanel(rig, material, label, channels) {
  const scene = new THREE.Scene();
  const root = rig.scene.clone(true);
  const morphs = [];
  root.traverse((object) => {
    if (!object.isMesh) return;
    object.material = material;
    object.frustumCulled = false; // the CPU moves vertices; the stored bounds would go stale
    const sparse = rig.morphs.get(object.geometry);
    if (!sparse) return;
    const geometry = new THREE.BufferGeometry();
    geometry.setIndex(object.geometry.index);
    for (const [name, attribute] of Object.entries(object.geometry.attributes)) {
      geometry.setAttribute(name, attribute);
    }
    const pos = new THREE.BufferAttribute(sparse.basePos.slice(), 3).setUsage(THREE.DynamicDrawUsage);
    const nor = new THREE.BufferAttribute(sparse.baseNor.slice(), 3).setUsage(THREE.DynamicDrawUsage);
    geometry.setAttribute("position", pos);
    geometry.setAttribute("normal", nor);
    object.geometry = geometry;
    morphs.push({ sparse, pos, nor, geometry });
  });
  scene.add(root);
  const joints = JOINTS.map(([node, ...angles]) => ({
    node: root.getObjectByName(node),
    columns: angles.map((name) => channels.indexOf(name)),
  })).filter((joint) => joint.node);
  return {
    name: label,
    error: null,
    pending: true, // until its model has answered
    values: null,
    nFrames: 0,
    visible: true,
    scene,
    morphs,
    joints,
    posedFrame: -1,
  };
}

/** A panel's answer from the stream: its motion, or why there is none. */
function fill(panel, spec) {
  panel.pending = false;
  panel.error = spec.error ?? null;
  panel.values = spec.values ? decodeValues(spec.values) : null;
  panel.nFrames = spec.n_frames ?? 0;
  panel.posedFrame = -1;
}

/** Free a panel's GPU buffers: the geometries it made (the rest is the rig's, shared). */
function disposePanel(panel) {
  for (const { geometry } of panel.morphs) geometry.dispose();
}

const euler = new THREE.Euler();

/** Pose `panel` at `frame` (its last frame when its clip is shorter); false when unchanged. */
function pose(panel, frame, nChannels) {
  if (!panel.values) return false;
  const f = Math.min(frame, panel.nFrames - 1);
  if (panel.posedFrame === f) return false;
  const values = panel.values;
  const row = f * nChannels;
  for (const { sparse, pos, nor } of panel.morphs) {
    const p = pos.array;
    const n = nor.array;
    p.set(sparse.basePos);
    n.set(sparse.baseNor);
    for (let k = 0; k < N_SHAPES; k++) {
      let w = values[row + k];
      if (!(w > 0)) continue; // the rig clamps weights to [0, 1] (and NaN to 0)
      if (w > 1) w = 1;
      const { rows, pos: dp, nor: dn } = sparse.shapes[k];
      for (let i = 0, j = 0; i < rows.length; i++, j += 3) {
        const o = 3 * rows[i];
        p[o] += w * dp[j];
        p[o + 1] += w * dp[j + 1];
        p[o + 2] += w * dp[j + 2];
        n[o] += w * dn[j];
        n[o + 1] += w * dn[j + 1];
        n[o + 2] += w * dn[j + 2];
      }
    }
    pos.needsUpdate = true;
    nor.needsUpdate = true;
  }
  // renderers/rig.py: R = Ry(-yaw) Rx(pitch) Rz(-roll), which is three.js's "YXZ" Euler order
  for (const { node, columns } of panel.joints) {
    const [yaw, pitch, roll] = columns.map((c) => values[row + c]);
    node.quaternion.setFromEuler(euler.set(pitch, -yaw, -roll, "YXZ"));
  }
  panel.posedFrame = f;
  return true;
}

// -- the player ----------------------------------------------------------------------------------

/** The panel size for `n` panels: the page's `size`, or in a frame as wide as fits (Compare tab). */
function panelSize(params, n) {
  const asked = Number.parseInt(params.get("size") ?? "", 10);
  if (asked) return Math.min(MAX_PANEL, Math.max(MIN_PANEL, asked));
  const fit = Math.floor((document.documentElement.clientWidth - 8) / Math.max(1, n));
  return Math.min(512, Math.max(MIN_PANEL, fit));
}

function main() {
  const params = new URLSearchParams(location.search);
  const embedded = params.get("embed") === "1";
  document.body.classList.toggle("embedded", embedded);
  const cameraAsked = params.get("camera");

  THREE.ColorManagement.enabled = false; // colours below are written to the screen as given
  const canvas = $("view");
  const renderer = new THREE.WebGLRenderer({ canvas, antialias: false, powerPreference: "high-performance" });
  renderer.outputColorSpace = THREE.LinearSRGBColorSpace;
  renderer.setPixelRatio(1);
  renderer.setClearColor(new THREE.Color(...BACKGROUND.map((c) => c ** (1 / 2.2))), 1);
  const material = new THREE.RawShaderMaterial({
    glslVersion: THREE.GLSL3,
    vertexShader: VERTEX_SHADER,
    fragmentShader: FRAGMENT_SHADER,
    side: THREE.DoubleSide, // open meshes (mouth, eye sockets) show inner walls
    uniforms: {
      lightDir: { value: STUDIO_LIGHTS.map(([d]) => new THREE.Vector3(...d)) },
      lightColor: { value: STUDIO_LIGHTS.map(([, c]) => new THREE.Vector3(...c)) },
      ambientSky: { value: new THREE.Vector3(...AMBIENT_SKY) },
      ambientGround: { value: new THREE.Vector3(...AMBIENT_GROUND) },
    },
  });

  // one camera for every panel: the studio preset, then wherever OrbitControls takes it
  const camera = new THREE.PerspectiveCamera(30, 1, 0.01, 100);
  const controls = new OrbitControls(camera, canvas);
  let preset = null;
  function resetCamera() {
    if (!preset) return;
    camera.position.set(...preset.eye);
    camera.up.set(...preset.up);
    controls.target.set(...preset.target);
    controls.update();
    state.dirty = true;
  }
  function usePreset(next) {
    const same = preset && JSON.stringify(preset) === JSON.stringify(next);
    preset = next;
    if (same) return; // a new request on the same rig keeps where the user orbited to
    camera.fov = preset.fov_y_deg;
    camera.near = preset.near * 0.25;
    camera.far = preset.far * 2;
    camera.updateProjectionMatrix();
    const distance = Math.hypot(...preset.eye.map((c, i) => c - preset.target[i]));
    controls.minDistance = distance * 0.3;
    controls.maxDistance = distance * 3;
    resetCamera();
  }

  const state = { time: 0, frame: 0, playing: false, speed: 1, loop: true, dirty: true };
  // what is shown: the current request's panels and timeline (replaced by each load)
  const shown = {
    panels: [],
    channels: [],
    nChannels: 0,
    fps: 30,
    nFrames: 1,
    duration: 0,
    size: 512,
    curveNames: [],
    curves: null,
    request: null,
    rigName: null,
    complete: false,
    curvesReady: false,
  };
  const drawTimes = []; // when each of the last second's frames was drawn (ms)
  let framesDrawn = 0;
  let framesSinceComplete = 0;
  let loadCount = 0;
  let aborter = null;

  function setStatus(text, isError = false) {
    const status = $("status");
    status.textContent = text;
    status.classList.toggle("error", isError);
  }

  // -- the page around the canvas ----------------------------------------------------------------
  function layout() {
    const { panels, size } = shown;
    renderer.setSize(size * panels.length, size);
    const labels = $("labels");
    labels.replaceChildren();
    panels.forEach((panel, i) => {
      const label = document.createElement("div");
      label.className = "label";
      label.style.width = `${size}px`;
      const toggle = document.createElement("input");
      toggle.type = "checkbox";
      toggle.checked = panel.visible;
      toggle.title = "Show this panel";
      toggle.addEventListener("change", () => setVisible(i, toggle.checked));
      const name = document.createElement("strong");
      name.textContent = panel.name;
      const note = document.createElement("span");
      label.append(toggle, name, note);
      panel.label = label;
      panel.toggle = toggle;
      panel.note = note;
      panel.download = null; // the label is new: describe() gives it its link again
      labels.append(label);
      describe(panel);
    });
    drawCurveStrip();
  }

  /** In a frame of this origin (the Compare tab), make the frame as tall as the player. */
  function fitFrame() {
    const frame = embedded ? window.frameElement : null;
    // the body's own height: the document's would include the frame's, and never shrink
    if (frame) frame.style.height = `${Math.ceil(document.body.getBoundingClientRect().height)}px`;
  }
  if (embedded) new ResizeObserver(fitFrame).observe(document.body);

  function describe(panel) {
    panel.note.className = panel.error ? "error" : "note";
    panel.note.textContent = panel.pending ? "generating…" : (panel.error ?? "");
    // a generated panel's motion as an animated .glb (Blender, three.js), made when asked for
    const r = shown.request;
    if (panel.values && r && r.prompt !== undefined && !panel.download) {
      const query = apiQuery({ ...r, models: r.models.join(","), duration: r.duration_s, rig: shown.rigName });
      query.append("model", panel.name);
      const link = document.createElement("a");
      link.className = "download";
      link.href = `/player/api/glb?${query}`;
      link.textContent = ".glb";
      link.title = "Download this motion as an animated glTF (.glb) on this head";
      link.setAttribute("download", "");
      panel.label.append(link);
      panel.download = link;
    }
  }

  function drawCurveStrip() {
    shown.curves = new CurveStrip($("curves"), {
      panelWidth: shown.size,
      height: CURVE_HEIGHT,
      panels: shown.panels,
      channels: shown.channels,
      curves: shown.curveNames,
      duration: shown.duration,
      fps: shown.fps,
    });
    $("legend").replaceChildren(
      ...shown.curveNames.map((name, c) => {
        const item = document.createElement("span");
        item.textContent = name;
        item.style.setProperty("--colour", CURVE_COLOURS[c % CURVE_COLOURS.length]);
        return item;
      }),
    );
  }

  let pickerSync = () => {}; // ticks the picker's boxes to match shown.curveNames
  /** Checkboxes for every channel, by face region; at most as many ticked as there are colours. */
  function buildPicker(groups) {
    const boxes = [];
    const sync = () => {
      const full = shown.curveNames.length >= CURVE_COLOURS.length;
      for (const box of boxes) {
        box.checked = shown.curveNames.includes(box.value);
        box.disabled = full && !box.checked;
      }
    };
    $("channel-groups").replaceChildren(
      ...groups.map(([label, names]) => {
        const group = document.createElement("fieldset");
        const legend = document.createElement("legend");
        legend.textContent = label;
        group.append(legend);
        for (const name of names) {
          const item = document.createElement("label");
          const box = document.createElement("input");
          box.type = "checkbox";
          box.value = name;
          box.addEventListener("change", () => setCurves(
            box.checked ? [...shown.curveNames, name] : shown.curveNames.filter((n) => n !== name),
          ));
          boxes.push(box);
          item.append(box, ` ${name}`);
          group.append(item);
        }
        return group;
      }),
    );
    pickerSync = sync;
    sync();
  }

  /** Plot these channels (names from the stream's `channels`; at most 4) under the panels. */
  function setCurves(names) {
    const known = names.filter((name) => shown.channels.includes(name));
    shown.curveNames = [...new Set(known)].slice(0, CURVE_COLOURS.length);
    pickerSync();
    drawCurveStrip();
    state.dirty = true;
  }

  /** The timeline: as long as the longest clip that has arrived (the asked duration before). */
  function setTimeline(nFrames) {
    shown.nFrames = Math.max(1, nFrames);
    shown.duration = (shown.nFrames - 1) / shown.fps;
    $("scrub").max = String(shown.duration);
    seek(Math.min(state.time, shown.duration));
  }

  /** Every panel of load `mine` has arrived: the motion is complete (the curves may follow). */
  function finish(mine) {
    if (mine !== loadCount || shown.complete) return;
    shown.complete = true;
    framesSinceComplete = 0;
    timings.complete = performance.now();
    const failed = shown.panels.filter((p) => p.error).length;
    setStatus(failed ? `${failed} of ${shown.panels.length} models failed (see their labels)` : "");
    state.dirty = true;
  }

  // -- loading a request -------------------------------------------------------------------------
  /** A new load supersedes the one before: returns its number and whether to play when motion comes. */
  function beginLoad() {
    const mine = ++loadCount;
    aborter?.abort();
    aborter = new AbortController();
    // the old request stops while the new one is made: under software GL its drawing would take
    // a core from the models; playing resumes when the first new motion arrives
    const resume = state.playing || embedded;
    pause();
    shown.complete = false;
    shown.curvesReady = false;
    for (const key of ["payload", "rig", "motionFrame", "complete", "completeFrame"]) delete timings[key];
    timings.loadStart = performance.now();
    return { mine, resume };
  }

  /**
   * Show the stream's lines (see studio/player.py: a header, one line per panel, then `done`),
   * as they come: panels appear at once and each starts playing when its line has arrived.
   * Returns false when a newer load took over.
   */
  async function consume(lines, request, mine, resume) {
    let played = 0;
    for await (const line of lines) {
      if (mine !== loadCount) return false; // superseded
      if (line.format) {
        timings.payload = performance.now();
        const rig = await loadRig(line.rig.url);
        timings.rig = performance.now();
        if (mine !== loadCount) return false;
        shown.panels.forEach(disposePanel);
        shown.channels = line.channels;
        shown.nChannels = line.channels.length;
        shown.fps = line.fps;
        shown.request = line.request;
        shown.rigName = line.rig.name;
        shown.size = panelSize(params, line.panels.length);
        shown.curveNames = [];
        shown.panels = line.panels.map((p) => buildPanel(rig, material, p.label, line.channels));
        const cameraName = request.camera ?? cameraAsked;
        usePreset(line.rig.cameras[cameraName in line.rig.cameras ? cameraName : "front"]);
        setTimeline(Math.round(line.request.duration_s * line.fps));
        layout();
        const r = line.request;
        $("request").textContent =
          r.title ?? `"${r.prompt}" · seed ${r.seed} · ${r.duration_s} s · rig ${line.rig.name}`;
        $("stage").hidden = false;
        state.dirty = true;
      } else if (line.done) {
        shown.curveNames = line.curves;
        $("curves-reason").textContent = line.curves_reason ? `· ${line.curves_reason}` : "";
        buildPicker(line.curve_groups ?? []);
        setTimeline(line.n_frames);
        drawCurveStrip();
      } else {
        const panel = shown.panels[line.panel];
        fill(panel, line);
        describe(panel);
        if (panel.values) played += 1;
        if (shown.panels.every((p) => !p.pending)) finish(mine);
        setTimeline(Math.max(...shown.panels.map((p) => p.nFrames), 1));
        drawCurveStrip();
        if (played === 1 && resume) play(); // motion as soon as there is some
        state.dirty = true;
      }
    }
    if (mine !== loadCount) return false;
    finish(mine);
    shown.curvesReady = true;
    return true;
  }

  /**
   * Show `request` (URLSearchParams or {prompt, seed, models, duration, rig}): panels appear at
   * once and each starts playing when its model has answered. A newer load supersedes this one.
   * Resolves when every panel has arrived; rejects with the server's message.
   */
  async function load(request) {
    const { mine, resume } = beginLoad();
    setStatus("Generating…");
    try {
      const response = await fetch(`/player/api/stream?${apiQuery(request)}`, { signal: aborter.signal });
      if (!response.ok) {
        const body = await response.json().catch(() => null);
        throw new Error(body?.message ?? `the server answered ${response.status}`);
      }
      await consume(jsonLines(response), request, mine, resume);
    } catch (error) {
      if (error.name === "AbortError" || mine !== loadCount) return;
      setStatus(`Could not load this request: ${error.message}`, true);
      window.playerError = error.message;
      throw error;
    }
  }

  /**
   * Show lines the page already holds, in the stream's format: a clip file the Explore tab read
   * on the server (studio.player.clip_lines). Resolves when it is shown.
   */
  async function show(lines) {
    const { mine } = beginLoad();
    setStatus("");
    if (!Array.isArray(lines) || !lines.length || !lines[0].format) {
      setStatus("Nothing to play: not a player stream.", true);
      return;
    }
    await consume(lines, {}, mine, true);
  }

  // -- time --------------------------------------------------------------------------------------
  const frameOf = (t) => Math.min(shown.nFrames - 1, Math.max(0, Math.floor(t * shown.fps + 1e-6)));

  function seek(t) {
    state.time = Math.min(shown.duration, Math.max(0, Number(t) || 0));
    state.frame = frameOf(state.time);
    state.dirty = true;
  }
  function step(n) {
    pause();
    state.frame = Math.min(shown.nFrames - 1, Math.max(0, state.frame + Math.trunc(n)));
    state.time = state.frame / shown.fps;
    state.dirty = true;
  }
  function advance(dt) {
    let t = state.time + dt;
    if (state.loop) {
      // the last frame is shown for a whole frame time too before the clip starts over
      const period = shown.nFrames / shown.fps;
      if (t >= period) t -= period * Math.floor(t / period);
    } else if (t >= shown.duration) {
      t = shown.duration;
      pause();
    }
    state.time = t;
    const frame = frameOf(t);
    if (frame !== state.frame) state.dirty = true;
    state.frame = frame;
  }
  function play() {
    if (!state.loop && state.time >= shown.duration) seek(0);
    state.playing = true;
    $("play").textContent = "Pause";
  }
  function pause() {
    state.playing = false;
    $("play").textContent = "Play";
  }
  function setSpeed(x) {
    const speed = Number(x);
    if (!(speed >= 0.25 && speed <= 2)) throw new RangeError("speed must be within 0.25..2");
    state.speed = speed;
    $("speed").value = String(speed);
  }
  function setVisible(i, visible) {
    const panel = shown.panels[i];
    panel.visible = Boolean(visible);
    panel.toggle.checked = panel.visible;
    panel.label.classList.toggle("hidden", !panel.visible);
    state.dirty = true;
  }

  // -- drawing -----------------------------------------------------------------------------------
  function draw() {
    const { panels, size } = shown;
    for (const panel of panels) if (panel.visible) pose(panel, state.frame, shown.nChannels);
    renderer.setScissorTest(true);
    panels.forEach((panel, i) => {
      renderer.setViewport(i * size, 0, size, size);
      renderer.setScissor(i * size, 0, size, size);
      if (panel.visible && panel.values) renderer.render(panel.scene, camera);
      else renderer.clear(); // a hidden, pending or failed panel is background
    });
    shown.curves?.update(state.time);
    $("scrub").value = String(Math.min(state.time, shown.duration));
    const shownTime = Math.min(state.time, shown.duration).toFixed(2);
    $("clock").textContent = `${shownTime} s · frame ${state.frame} / ${shown.nFrames - 1}`;
    const now = performance.now();
    drawTimes.push(now);
    while (drawTimes[0] < now - 1000) drawTimes.shift();
    framesDrawn += 1;
    if (shown.complete) {
      framesSinceComplete += 1;
      if (framesSinceComplete === 1) timings.completeFrame = now;
    }
    if (panels.some((p) => p.values)) {
      timings.firstFrame ??= now;
      // this load's first motion drawn: its panels replace the old ones in the task that sets `rig`
      if (timings.rig !== undefined) timings.motionFrame ??= now;
    }
  }

  /** Panel `i`'s pixels as drawn now: RGBA rows bottom-up (GL's order), size × size. */
  function readPanel(i) {
    draw(); // read in the same task as the drawing: the buffer is not preserved after it
    const gl = renderer.getContext();
    const { size } = shown;
    const pixels = new Uint8Array(size * size * 4);
    gl.readPixels(i * size, 0, size, size, gl.RGBA, gl.UNSIGNED_BYTE, pixels);
    return pixels;
  }

  /** Panel `i` as a PNG data URL, exactly the pixels drawn (no page scaling or compositing). */
  function panelImage(i) {
    const pixels = readPanel(i);
    const { size } = shown;
    const image = new ImageData(size, size);
    const row = size * 4;
    for (let y = 0; y < size; y++) image.data.set(pixels.subarray((size - 1 - y) * row, (size - y) * row), y * row);
    const canvas2d = document.createElement("canvas");
    canvas2d.width = canvas2d.height = size;
    canvas2d.getContext("2d").putImageData(image, 0, 0);
    return canvas2d.toDataURL("image/png");
  }

  /** Mean RGB (0..255) of panel `i`'s viewport and the share of its pixels that are background. */
  function panelPixels(i) {
    const pixels = readPanel(i);
    const background = BACKGROUND.map((c) => Math.round(255 * c ** (1 / 2.2)));
    const sum = [0, 0, 0];
    let plain = 0;
    for (let p = 0; p < pixels.length; p += 4) {
      for (let c = 0; c < 3; c++) sum[c] += pixels[p + c];
      if (background.every((b, c) => Math.abs(pixels[p + c] - b) <= 1)) plain += 1;
    }
    const n = shown.size * shown.size;
    return { mean: sum.map((s) => s / n), background: plain / n };
  }

  /**
   * Draw `n` successive frames as fast as the GL allows (each waited for with a one-pixel read)
   * and return {poseMs, frameMs}: CPU blending per frame and the whole frame, mean milliseconds.
   */
  function benchmark(n = 30) {
    const gl = renderer.getContext();
    const pixel = new Uint8Array(4);
    let posing = 0;
    const start = performance.now();
    for (let i = 0; i < n; i++) {
      state.frame = (state.frame + 1) % shown.nFrames;
      const before = performance.now();
      for (const panel of shown.panels) if (panel.visible) pose(panel, state.frame, shown.nChannels);
      posing += performance.now() - before;
      draw();
      gl.readPixels(0, 0, 1, 1, gl.RGBA, gl.UNSIGNED_BYTE, pixel);
    }
    state.time = state.frame / shown.fps;
    return { poseMs: posing / n, frameMs: (performance.now() - start) / n };
  }

  // Draw only while the canvas is on screen: in a tab the user switched away from (the Compare
  // tab's frame under Explore) or a scrolled-away frame, software GL would keep both cores busy.
  let last = null;
  let onScreen = true;
  let running = false;
  function start() {
    if (running) return;
    running = true;
    last = null; // no jump in time for the frames not drawn
    requestAnimationFrame(tick);
  }
  new IntersectionObserver((entries) => {
    onScreen = entries.some((entry) => entry.isIntersecting);
    if (onScreen) {
      state.dirty = true;
      start();
    }
  }).observe(canvas);
  document.addEventListener("visibilitychange", () => document.hidden || start());

  function tick(now) {
    if (!onScreen || document.hidden) {
      running = false;
      return;
    }
    requestAnimationFrame(tick);
    const dt = last === null ? 0 : (now - last) / 1000;
    last = now;
    if (state.playing) advance(dt * state.speed);
    if (state.dirty && shown.panels.length) {
      state.dirty = false;
      draw();
    }
    $("fps").textContent = state.playing ? `${drawTimes.length} fps` : "";
  }

  // -- controls ----------------------------------------------------------------------------------
  controls.addEventListener("change", () => {
    state.dirty = true;
  });
  $("play").addEventListener("click", () => (state.playing ? pause() : play()));
  $("back").addEventListener("click", () => step(-1));
  $("forward").addEventListener("click", () => step(1));
  $("scrub").addEventListener("input", () => {
    pause();
    seek($("scrub").value);
  });
  $("speed").addEventListener("change", (event) => setSpeed(event.target.value));
  $("loop").addEventListener("change", (event) => {
    state.loop = event.target.checked;
  });
  $("reset").addEventListener("click", resetCamera);
  document.addEventListener("keydown", (event) => {
    // form controls keep their own keys (a focused button already answers the space bar)
    if (event.target.closest("input, select, button")) return;
    if (event.key === " ") state.playing ? pause() : play();
    else if (event.key === "ArrowLeft") step(-1);
    else if (event.key === "ArrowRight") step(1);
    else return;
    event.preventDefault();
  });

  // What tests, scripts and the Compare tab read and call. time: seconds; frame: 0..nFrames-1
  // (clips at panelFps frames per second); fps: frames the player drew in the last second;
  // timings: milliseconds since navigation start (moduleStart; per load: loadStart, payload,
  // rig, motionFrame (its first motion drawn), complete, completeFrame (all of it drawn);
  // firstFrame); curvePlayhead: seconds. `ready`: every panel of
  // the current request has arrived and has been drawn; `curvesReady`: its curves have too.
  window.player = {
    get time() {
      return state.time;
    },
    get frame() {
      return state.frame;
    },
    get playing() {
      return state.playing;
    },
    get speed() {
      return state.speed;
    },
    get loop() {
      return state.loop;
    },
    get fps() {
      return drawTimes.length; // frames drawn in the last second
    },
    get framesDrawn() {
      return framesDrawn;
    },
    get ready() {
      return shown.complete && framesSinceComplete > 0;
    },
    get curvesReady() {
      return shown.curvesReady; // the prompt's curves have arrived (just after the motion)
    },
    get loads() {
      return loadCount;
    },
    get curvePlayhead() {
      return shown.curves ? shown.curves.playheadSeconds : 0; // read back from the drawn line
    },
    get camera() {
      return { position: camera.position.toArray(), target: controls.target.toArray() };
    },
    get panels() {
      return shown.panels.map(({ name, visible, error, pending }) => ({ name, visible, error, pending }));
    },
    get request() {
      return shown.request;
    },
    get curves() {
      return shown.curveNames;
    },
    get nFrames() {
      return shown.nFrames;
    },
    get duration() {
      return shown.duration;
    },
    get panelFps() {
      return shown.fps;
    },
    get panelSize() {
      return shown.size;
    },
    timings,
    load,
    show,
    play,
    pause,
    seek,
    step,
    setSpeed,
    setLoop: (loop) => {
      state.loop = Boolean(loop);
      $("loop").checked = state.loop;
    },
    setVisible,
    setCurves,
    resetCamera,
    panelPixels,
    panelImage,
    benchmark,
  };

  start();
  if (params.get("wait") === "1") {
    // a frame that is handed its lines by the page (Explore's clip file): nothing to fetch yet
    setStatus("Nothing to play yet: choose a clip file.");
    return undefined;
  }
  return load(params).catch(() => {}); // the error is on the page and in window.playerError
}

main();
