"""The ``mdm`` family: an MDM-style text-to-ARKit diffusion model (Express4D's baseline).

A transformer denoiser predicts the clean motion ``x0`` from a noised one, conditioned on the
frozen MiniLM sentence vector of the prompt (projected to the model width) and the diffusion
step. Sampling is deterministic DDIM (50 steps by default, fewer selectable) with
classifier-free guidance (scale 2.5 by default). The model works at a lower internal rate
(10 fps for the shipped checkpoint, stored in its config) and its output is linearly
interpolated back to 30 fps; motions are z-scored with the training set's mean and std, which
the checkpoint carries.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from studio.formats.checkpoints import Checkpoint
from studio.models.base import ExpressionModel, ModelError, ModelSpec, resolve_device
from studio.models.common import family_checkpoint
from studio.models.registry import register_model
from studio.motion import ARKIT_BLENDSHAPES, ARKIT_CHANNELS, N_ARKIT, ROTATION_RANGE, MotionClip
from studio.threads import one_thread

OUTPUT_FPS = 30.0
MAX_BATCH = 32  # prompts per forward pass in generate_batch (twice that with guidance)


@register_model("mdm")
class MDMModel(ExpressionModel):
    """Generates ``(round(30 * duration_s), 61) float32`` ARKit clips at 30 fps.

    Options (``ModelSpec.options``): ``guidance_scale`` (float >= 0; 1 = no guidance, 0 =
    unconditional), ``steps`` (DDIM steps, 1..1000).
    """

    trainable = True

    space = "arkit"
    mixed_length_batches = True  # generate_batch takes one duration per prompt (padded, masked)

    def __init__(
        self,
        name: str,
        checkpoint: Checkpoint,
        *,
        device: str = "cpu",
        options: Mapping[str, Any] | None = None,
    ) -> None:
        import torch

        from studio.models.mdm.network import Denoiser, NetConfig, cosine_alpha_bar

        config = checkpoint.config
        if config.get("family") != "mdm":
            raise ModelError(f"{name}: {checkpoint.path} is a {config.get('family')!r} checkpoint, not mdm")
        if list(config.get("channels", ())) != list(ARKIT_CHANNELS):
            raise ModelError(f"{name}: checkpoint channels are not the 61 ARKit channels in Live Link order")
        options = dict(options or {})
        unknown = set(options) - {"guidance_scale", "steps"}
        if unknown:
            raise ModelError(f"{name}: unknown mdm options {sorted(unknown)} (known: guidance_scale, steps)")
        sampling = config["sampling"]
        self.name = name
        self.device = device
        self.checkpoint_sha256 = checkpoint.sha256
        self.config = config
        self.guidance_scale = _check_guidance(options.get("guidance_scale", sampling["guidance_scale"]), name)
        self.steps = _check_steps(options.get("steps", sampling["steps"]), name)
        self.internal_fps = float(config["internal_fps"])
        self.max_train_seconds = float(config.get("max_train_seconds", 10.0))
        try:
            self.net = Denoiser(NetConfig(**config["net"]))
            tensors = checkpoint.tensors
            state = {k[4:]: torch.from_numpy(v) for k, v in tensors.items() if k.startswith("net.")}
            self.net.load_state_dict(state, strict=True)
            norm = {k: tensors[f"norm.{k}"] for k in ("mean", "std", "z_low", "z_high")}
        except (KeyError, TypeError, RuntimeError) as exc:
            raise ModelError(f"{name}: {checkpoint.path} does not match the mdm layout: {exc}") from None
        self.net.to(device).eval()
        self.mean = norm["mean"].astype(np.float32)
        self.std = norm["std"].astype(np.float32)
        # the x0 clamp allows a margin beyond the training range so guidance can still sharpen
        margin = 1.0
        self._z_low = torch.from_numpy(norm["z_low"] - margin).to(device)
        self._z_high = torch.from_numpy(norm["z_high"] + margin).to(device)
        diffusion_steps = int(config["diffusion"]["steps"])
        self._alpha_bar = torch.tensor(cosine_alpha_bar(diffusion_steps), dtype=torch.float32, device=device)

    @classmethod
    def from_spec(cls, spec: ModelSpec) -> MDMModel:
        """Load ``spec.checkpoint`` (refusing a SHA-256 mismatch) onto ``spec.device``."""
        checkpoint = family_checkpoint(spec, "mdm")
        return cls(spec.name, checkpoint, device=resolve_device(spec.device), options=spec.options)

    @classmethod
    def load(
        cls,
        path: str | Path,
        *,
        name: str = "mdm",
        sha256: str | None = None,
        device: str = "auto",
        **options: Any,
    ) -> MDMModel:
        """Convenience: load a checkpoint file directly (tests, notebooks)."""
        return cls.from_spec(ModelSpec(name, "mdm", "arkit", Path(path), sha256, device, options=options))  # type: ignore[arg-type]

    # -- generation --------------------------------------------------------------------------

    def generate(self, prompt: str, *, seed: int, duration_s: float) -> MotionClip:
        """One clip: ``(round(30 * duration_s), 61)`` ARKit at 30 fps; same prompt + seed, same clip.

        On one torch thread: a single clip gains nothing from two, and loses 3-9x when the cores
        are shared (:mod:`studio.threads`); batches keep the process's threads."""
        with one_thread():
            return self.generate_batch([prompt], [seed], duration_s)[0]

    def generate_batch(
        self,
        prompts: Sequence[str],
        seeds: Sequence[int],
        duration_s: float | Sequence[float],
        *,
        guidance_scale: float | None = None,
        steps: int | None = None,
    ) -> list[MotionClip]:
        """Sample several clips together (one forward pass per DDIM step and batch).

        ``duration_s``: one length for all, or one per prompt (seconds): clips of different
        lengths share a batch padded to its longest, the padding masked out of attention, so a
        benchmark's mixed lengths need not be run one length at a time. Each clip's starting noise
        comes from a generator seeded by its own seed, so a clip does not depend on its batch-mates
        (up to float rounding of the batched matrix products). ``guidance_scale``/``steps``
        override the model's settings for this call.
        """
        import torch

        from studio.models.mdm.network import ddim_sample
        from studio.text import embed_text

        if len(prompts) != len(seeds):
            raise ValueError(f"{len(prompts)} prompts but {len(seeds)} seeds")
        durations = (
            [float(duration_s)] * len(prompts) if np.isscalar(duration_s) else [float(d) for d in duration_s]
        )
        if len(durations) != len(prompts):
            raise ValueError(f"{len(prompts)} prompts but {len(durations)} durations")
        for d in durations:
            if not (math.isfinite(d) and d > 0):
                raise ValueError(f"duration must be a positive number of seconds, got {d}")
        scale = self.guidance_scale if guidance_scale is None else _check_guidance(guidance_scale, self.name)
        n_steps = self.steps if steps is None else _check_steps(steps, self.name)
        lengths = [max(2, round(d * self.internal_fps)) for d in durations]
        order = sorted(range(len(prompts)), key=lambda i: lengths[i])  # similar lengths pad little
        clips: list[MotionClip | None] = [None] * len(prompts)
        for start in range(0, len(order), MAX_BATCH):
            batch = order[start : start + MAX_BATCH]
            n_max = max(lengths[i] for i in batch)
            text = torch.from_numpy(np.stack([embed_text(prompts[i]) for i in batch])).to(self.device)
            noise = torch.zeros((len(batch), n_max, N_ARKIT))
            mask = torch.zeros((len(batch), n_max), dtype=torch.bool)
            for row, i in enumerate(batch):
                generator = torch.Generator().manual_seed(int(seeds[i]))
                noise[row, : lengths[i]] = torch.randn((lengths[i], N_ARKIT), generator=generator)
                mask[row, : lengths[i]] = True
            padded = any(lengths[i] < n_max for i in batch)
            with torch.inference_mode():
                z = ddim_sample(
                    self.net,
                    noise.to(self.device),
                    text,
                    self._alpha_bar,
                    n_steps=n_steps,
                    guidance_scale=scale,
                    x0_low=self._z_low,
                    x0_high=self._z_high,
                    mask=mask.to(self.device) if padded else None,
                )
            values = z.float().cpu().numpy() * self.std + self.mean  # (B, n_max, 61), ARKit units
            for row, i in enumerate(batch):
                clips[i] = self._clip(
                    prompts[i], int(seeds[i]), values[row, : lengths[i]], durations[i], scale, n_steps
                )
        return clips  # type: ignore[return-value]

    def _clip(
        self, prompt: str, seed: int, values: np.ndarray, duration_s: float, scale: float, n_steps: int
    ) -> MotionClip:
        """Internal-rate ``values (n, 61)`` in ARKit units -> the output clip with its provenance."""
        notices = []
        if duration_s > self.max_train_seconds + 1e-6:
            notices.append(
                f"{self.name} was trained on clips up to {self.max_train_seconds:g} s; "
                f"a {duration_s:g} s clip is beyond what it has seen"
            )
        n_out = max(1, round(duration_s * OUTPUT_FPS))
        out = finish(to_output_rate(values, self.internal_fps, n_out, OUTPUT_FPS))
        meta = {
            "model": self.name,
            "family": "mdm",
            "prompt": prompt,
            "seed": seed,
            "internal_fps": self.internal_fps,
            "guidance_scale": scale,
            "ddim_steps": n_steps,
            "checkpoint_sha256": self.checkpoint_sha256,
            "notices": tuple(notices),
        }
        return MotionClip(out, OUTPUT_FPS, "arkit", ARKIT_CHANNELS, meta)

    # -- training ----------------------------------------------------------------------------

    @classmethod
    def train(cls, data: Path, out: Path, *, seed: int, quick: bool) -> str:
        """``python -m studio train mdm``: see :mod:`studio.models.mdm.training`."""
        from studio.models.mdm.training import train

        return train(data, out, seed=seed, quick=quick)


def to_output_rate(values: np.ndarray, fps_in: float, n_out: int, fps_out: float = OUTPUT_FPS) -> np.ndarray:
    """Linear interpolation of ``values (N, C)`` at ``fps_in`` to ``(n_out, C)`` at ``fps_out``.

    Output frame ``j`` sits at ``j / fps_out`` s; frames past the last input frame hold it.
    (Rotations are small angles here, far from the +-pi wrap, so linear is exact enough.)
    """
    position = np.minimum(np.arange(n_out) * (fps_in / fps_out), len(values) - 1)
    lo = np.floor(position).astype(int)
    hi = np.minimum(lo + 1, len(values) - 1)
    w = (position - lo)[:, None]
    return (values[lo] * (1 - w) + values[hi] * w).astype(np.float32)


def finish(values: np.ndarray) -> np.ndarray:
    """Clip blendshapes to [0, 1] and rotations to the nominal [-1, 1] rad; ``(T, 61)`` float32."""
    out = np.array(values, np.float32)
    n_bs = len(ARKIT_BLENDSHAPES)
    out[:, :n_bs] = np.clip(out[:, :n_bs], 0.0, 1.0)
    out[:, n_bs:] = np.clip(out[:, n_bs:], *ROTATION_RANGE)
    return out


def _check_guidance(value: Any, name: str) -> float:
    try:
        scale = float(value)
    except (TypeError, ValueError):
        raise ModelError(f"{name}: guidance_scale must be a number, got {value!r}") from None
    if not (math.isfinite(scale) and 0.0 <= scale <= 20.0):
        raise ModelError(f"{name}: guidance_scale must be within [0, 20], got {value!r}")
    return scale


def _check_steps(value: Any, name: str) -> int:
    if isinstance(value, bool) or not isinstance(value, int | np.integer) or not 1 <= int(value) <= 1000:
        raise ModelError(f"{name}: steps must be an integer in 1..1000, got {value!r}")
    return int(value)
