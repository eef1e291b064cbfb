"""The ``retrieval`` family: nearest training prompt (MiniLM cosine) -> its clip, fitted to the duration.

A training set does not fit in 10 MB as raw clips (16k clips x ~5 s x 30 fps x 61 channels is
~600 MB in float32), so the checkpoint stores a compressed library:

* a subset of at most ``max_items`` (6000) training items chosen to cover prompt space: the
  medoids of a k-means clustering of the training prompt embeddings (every item when fewer);
* their prompt embeddings as ``embeddings (N, 384) int8`` with per-row ``embedding_scales (N,)``;
* their clips resampled to ``store_fps`` (10 fps: a blink is smoothed, an expression is not), at
  most ``max_clip_s`` long, projected on a PCA basis of the 61 channels (rotations weighted x4 so
  head and gaze keep their share; at most 20 components) and quantised to int8 per component:
  ``codes (F, K) int8``, ``offsets (N + 1,) int64`` into its rows, ``code_scales (K,)``,
  ``basis (K, 61)`` (already divided by the channel weights) and ``mean (61,)``;
  decoded = ``codes * code_scales @ basis + mean``;
* their prompts and ids (UTF-8 bytes + offsets) so a generated clip can say what it retrieved.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from studio.formats.checkpoints import write_checkpoint
from studio.models.base import ExpressionModel, ModelError, ModelSpec
from studio.models.common import family_checkpoint, performers, prompt_rng
from studio.models.registry import register_model
from studio.motion import ARKIT_CHANNELS, N_ARKIT, MotionClip
from studio.threads import one_blas_thread

FAMILY = "retrieval"
FORMAT_VERSION = 1
FPS = 30.0
N_SHAPES = 52
TEXT_ENCODER = "all-MiniLM-L6-v2"
ROTATION_WEIGHT = 4.0  # rotations (radians, ~0.1 for a head shake) vs blendshapes (~0.5 for a smile)
_EXPRESSIVE = np.array([not c.startswith(("eyeBlink", "eyeLook")) for c in ARKIT_CHANNELS[:N_SHAPES]])
DEFAULTS: dict[str, Any] = {
    "max_items": 6000, "store_fps": 10.0, "max_clip_s": 10.0, "max_components": 20, "variance": 0.995,
    "top_k": 5, "margin": 0.05, "max_stretch": 1.25,
}  # fmt: skip


def idle_motion(n_frames: int, rng: np.random.Generator) -> np.ndarray:
    """Idle life without a rest face (blinks, sway, gaze): ``(n_frames, 61) float64`` at 30 fps."""
    from studio.corpus.synth import render

    performer = performers()[int(rng.integers(len(performers())))]
    return render((), max(n_frames, 2) / FPS, performer, rng)[:n_frames].astype(np.float64) - performer.rest


def _pack_strings(texts: list[str]) -> tuple[np.ndarray, np.ndarray]:
    blobs = [t.encode("utf-8") for t in texts]
    offsets = np.concatenate([[0], np.cumsum([len(b) for b in blobs])]).astype(np.int64)
    return np.frombuffer(b"".join(blobs), np.uint8).copy(), offsets


def _unpack_string(data: np.ndarray, offsets: np.ndarray, i: int) -> str:
    return bytes(data[offsets[i] : offsets[i + 1]]).decode("utf-8")


def _energy(values: np.ndarray) -> np.ndarray:
    """Per-frame activity: ``(T, 61)`` -> ``(T,)``, what a crop should keep.

    Expressive blendshapes above the clip's own floor, plus head rotation away from its median
    (weighted like the PCA, so a head shake or nod counts as much as a smile).
    """
    shapes = values[:, :N_SHAPES][:, _EXPRESSIVE]
    head = values[:, N_SHAPES : N_SHAPES + 3]
    return np.clip(shapes - shapes.min(axis=0), 0.0, None).sum(axis=1) + ROTATION_WEIGHT * np.abs(
        head - np.median(head, axis=0)
    ).sum(axis=1)


@register_model(FAMILY)
class RetrievalModel(ExpressionModel):
    """Prompt -> top-k nearest stored prompts -> one (picked by the seed) -> its clip, fitted.

    ``generate`` returns ``(round(duration_s * 30), 61) float32`` ARKit at 30 fps; ``meta`` holds
    ``retrieved_id``, ``retrieved_prompt``, ``similarity`` (cosine) and ``time_scale`` (>1 slower).
    """

    trainable = True

    space = "arkit"

    def __init__(
        self, name: str, tensors: dict[str, np.ndarray], config: dict[str, Any], sha256: str | None = None
    ) -> None:
        self.name = name
        self.config = config
        self.checkpoint_sha256 = sha256
        try:
            emb = (
                tensors["embeddings"].astype(np.float32)
                * tensors["embedding_scales"].astype(np.float32)[:, None]
            )
            self.codes = tensors["codes"]
            self.offsets = tensors["offsets"].astype(np.int64)
            self.decoder = (tensors["code_scales"][:, None] * tensors["basis"]).astype(np.float32)  # (K, 61)
            self.mean = tensors["mean"].astype(np.float32)
            self._prompts, self._prompt_offsets = tensors["prompts"], tensors["prompt_offsets"]
            self._ids, self._id_offsets = tensors["ids"], tensors["id_offsets"]
        except KeyError as exc:
            raise ModelError(f"{name}: checkpoint lacks tensor {exc}") from None
        self.embeddings = emb / np.maximum(np.linalg.norm(emb, axis=1, keepdims=True), 1e-8)
        n = len(self.embeddings)
        if n == 0 or self.offsets.shape != (n + 1,) or self.decoder.shape[1] != N_ARKIT:
            raise ModelError(
                f"{name}: inconsistent retrieval library ({n} items, offsets {self.offsets.shape})"
            )
        self.store_fps = float(config["store_fps"])

    @classmethod
    def from_spec(cls, spec: ModelSpec) -> RetrievalModel:
        ckpt = family_checkpoint(spec, FAMILY)
        config = {**DEFAULTS, **ckpt.config, **dict(spec.options)}  # options may retune top_k / margin
        return cls(spec.name, ckpt.tensors, config, ckpt.sha256)

    def __len__(self) -> int:
        return len(self.embeddings)

    def neighbours(self, prompt: str) -> tuple[np.ndarray, np.ndarray]:
        """Library indices of the top-k stored prompts and their cosine similarities, best first."""
        from studio.text import embed_text

        sims = self.embeddings @ embed_text(prompt)
        k = min(int(self.config["top_k"]), len(sims))
        top = np.argpartition(-sims, k - 1)[:k]
        top = top[np.argsort(-sims[top], kind="stable")]
        return top, sims[top]

    def stored_prompt(self, index: int) -> str:
        return _unpack_string(self._prompts, self._prompt_offsets, index)

    def stored_id(self, index: int) -> str:
        return _unpack_string(self._ids, self._id_offsets, index)

    def clip_values(self, index: int) -> np.ndarray:
        """Stored clip ``index`` decoded: ``(T, 61) float32`` at ``store_fps``."""
        codes = self.codes[self.offsets[index] : self.offsets[index + 1]]
        return codes.astype(np.float32) @ self.decoder + self.mean

    def generate(self, prompt: str, *, seed: int, duration_s: float) -> MotionClip:
        with one_blas_thread():
            return self._generate(prompt, seed, duration_s)

    def _generate(self, prompt: str, seed: int, duration_s: float) -> MotionClip:
        rng = prompt_rng(prompt, seed)
        top, sims = self.neighbours(prompt)
        # the seed varies the answer only among near-ties, never down to a poor match
        eligible = top[sims >= sims[0] - float(self.config["margin"])]
        pick = int(eligible[rng.integers(len(eligible))])
        values, scale = self.fit_duration(self.clip_values(pick), round(duration_s * FPS), rng)
        values[:, :N_SHAPES] = np.clip(values[:, :N_SHAPES], 0.0, 1.0)
        meta = {
            "model": self.name,
            "seed": seed,
            "retrieved_id": self.stored_id(pick),
            "retrieved_prompt": self.stored_prompt(pick),
            "similarity": round(float(sims[top == pick][0]), 4),
            "time_scale": round(scale, 3),
        }
        return MotionClip(values.astype(np.float32), FPS, "arkit", ARKIT_CHANNELS, meta)

    def fit_duration(
        self, source: np.ndarray, n_out: int, rng: np.random.Generator
    ) -> tuple[np.ndarray, float]:
        """Fit a stored clip ``(S, 61)`` at ``store_fps`` to ``n_out`` frames at 30 fps.

        Time is stretched by at most ``max_stretch`` either way (a smile at 0.8x or 1.25x speed
        still reads as the same smile; looping would turn one smile into two). What is still
        too long is cropped to its most expressive window; what is still too short is padded
        before (20-40 % of the gap) and after with the clip's edge pose plus idle life, faded in
        away from the seams. Returns ``(values (n_out, 61) float64, time scale)``.
        """
        length_s = len(source) / self.store_fps
        limit = float(self.config["max_stretch"])
        scale = float(np.clip(n_out / FPS / length_s, 1.0 / limit, limit))
        n_play = max(round(length_s * scale * FPS), 1)
        position = np.minimum(np.arange(n_play) / FPS / scale * self.store_fps, len(source) - 1)
        lo = np.floor(position).astype(int)
        hi = np.minimum(lo + 1, len(source) - 1)
        w = (position - lo)[:, None]
        played = source[lo].astype(np.float64) * (1 - w) + source[hi] * w
        if n_play >= n_out:
            window = np.concatenate([[0.0], np.cumsum(_energy(played))])
            sums = window[n_out:] - window[: len(window) - n_out]
            start = int(np.argmax(sums))
            return played[start : start + n_out], scale
        gap = n_out - n_play
        before = round(gap * rng.uniform(0.2, 0.4))
        after = gap - before
        edge = max(int(0.27 * FPS), 1)  # the median over ~0.27 s ignores a blink at the very edge
        head = np.median(played[:edge], axis=0)
        tail = np.median(played[-edge:], axis=0)
        idle = idle_motion(gap, rng)
        ramp_in = np.clip(np.arange(before)[::-1] / (0.3 * FPS), 0.0, 1.0)[:, None]  # 0 at the seam
        ramp_out = np.clip(np.arange(after) / (0.3 * FPS), 0.0, 1.0)[:, None]
        pad_before = head + ramp_in * idle[:before]
        pad_after = tail + ramp_out * idle[before:]
        return np.concatenate([pad_before, played, pad_after]), scale

    @classmethod
    def train(cls, data: Path, out: Path, *, seed: int = 0, quick: bool = False, **overrides: Any) -> str:
        """Build the compressed library from a dataset folder's train split; return the SHA-256.

        ``quick`` caps the library at 64 items; ``overrides`` replace :data:`DEFAULTS` entries.
        """
        from studio.formats import read_clip, read_dataset
        from studio.text import embed_texts

        settings = {**DEFAULTS, **({"max_items": 64} if quick else {}), **overrides}
        dataset = read_dataset(data)
        train = dataset.split("train") or dataset.items
        embeddings = embed_texts([it.prompt for it in train])
        chosen = select_medoids(embeddings, int(settings["max_items"]), seed)
        store_fps, max_frames = (
            float(settings["store_fps"]),
            round(settings["max_clip_s"] * settings["store_fps"]),
        )
        clips = []
        for i in chosen:
            clip = read_clip(train[i].clip_path).clip
            if clip.space != "arkit":
                raise ValueError(f"{train[i].clip_path}: the {FAMILY} family needs ARKit clips")
            clips.append(clip.resample(store_fps).values[:max_frames].astype(np.float64))
        frames = np.concatenate(clips)
        weights = np.r_[np.ones(N_SHAPES), np.full(N_ARKIT - N_SHAPES, ROTATION_WEIGHT)]
        mean = frames.mean(axis=0)
        centred = (frames - mean) * weights
        eigval, eigvec = np.linalg.eigh(centred.T @ centred / len(centred))
        order = np.argsort(eigval)[::-1]
        eigval, eigvec = eigval[order], eigvec[:, order]
        explained = np.cumsum(eigval) / eigval.sum()
        k = int(min(np.searchsorted(explained, settings["variance"]) + 1, settings["max_components"]))
        components = eigvec[:, :k]  # (61, K), orthonormal in the weighted space
        coefs = centred @ components
        code_scales = np.maximum(np.abs(coefs).max(axis=0), 1e-8) / 127.0
        codes = np.clip(np.round(coefs / code_scales), -127, 127).astype(np.int8)
        basis = components.T / weights  # decoding undoes the channel weights
        decoded = (codes * code_scales) @ basis + mean
        rmse_shapes = float(np.sqrt(np.mean((decoded[:, :N_SHAPES] - frames[:, :N_SHAPES]) ** 2)))
        rmse_rot = float(np.sqrt(np.mean((decoded[:, N_SHAPES:] - frames[:, N_SHAPES:]) ** 2)))

        lib = embeddings[chosen]
        row_scales = np.maximum(np.abs(lib).max(axis=1), 1e-8) / 127.0
        q_emb = np.clip(np.round(lib / row_scales[:, None]), -127, 127).astype(np.int8)
        prompts, prompt_offsets = _pack_strings([train[i].prompt for i in chosen])
        ids, id_offsets = _pack_strings([train[i].id for i in chosen])
        offsets = np.concatenate([[0], np.cumsum([len(c) for c in clips])]).astype(np.int64)
        tensors = {
            "embeddings": q_emb,
            "embedding_scales": row_scales.astype(np.float32),
            "codes": codes,
            "offsets": offsets,
            "code_scales": code_scales.astype(np.float32),
            "basis": basis.astype(np.float32),
            "mean": mean.astype(np.float32),
            "prompts": prompts,
            "prompt_offsets": prompt_offsets,
            "ids": ids,
            "id_offsets": id_offsets,
        }
        config = {
            "family": FAMILY,
            "format_version": FORMAT_VERSION,
            "text_encoder": TEXT_ENCODER,
            "fps": FPS,
            **{key: settings[key] for key in ("store_fps", "max_clip_s", "top_k", "margin", "max_stretch")},
            "components": k,
            "rotation_weight": ROTATION_WEIGHT,
            "training": {
                "data": dataset.name,
                "seed": seed,
                "quick": quick,
                "train_items": len(train),
                "library_items": len(chosen),
                "library_frames": len(frames),
                "selection": "k-means medoids" if len(chosen) < len(train) else "all",
                "explained_variance": round(float(explained[k - 1]), 5),
                "decode_rmse_blendshapes": round(rmse_shapes, 5),
                "decode_rmse_rotations_rad": round(rmse_rot, 5),
            },
        }
        return write_checkpoint(out, tensors, config)


def select_medoids(embeddings: np.ndarray, max_items: int, seed: int) -> np.ndarray:
    """Indices (ascending) of at most ``max_items`` rows of ``embeddings (N, D)`` covering them.

    All rows when ``N <= max_items``; else the row nearest each centroid of a k-means clustering
    into ``max_items`` clusters (so dense regions of prompt space are not over-represented).
    """
    n = len(embeddings)
    if n <= max_items:
        return np.arange(n)
    from sklearn.cluster import MiniBatchKMeans

    kmeans = MiniBatchKMeans(
        n_clusters=max_items,
        random_state=seed,
        n_init=1,
        batch_size=4096,
        max_iter=50,
        init_size=min(n, 3 * max_items),
    )
    labels = kmeans.fit_predict(embeddings)
    distance = np.linalg.norm(embeddings - kmeans.cluster_centers_[labels], axis=1)
    best: dict[int, int] = {}
    for i in np.argsort(distance, kind="stable"):
        best.setdefault(int(labels[i]), int(i))
    return np.array(sorted(best.values()), np.int64)
