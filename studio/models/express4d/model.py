"""The ``express4d`` family: Express4D's MDM checkpoints (text -> ARKit motion at 20 fps).

Express4D trains MDM (Tevet et al.) on 61 Live Link channels downsampled to 20 fps: motion
``(B, 61, 1, 196)``, z-scored with the dataset's per-channel mean and std, text through the
frozen CLIP ViT-B/32 text encoder, a 1000-step cosine schedule, x0 prediction, and
classifier-free guidance 2.5 at sampling time. This family loads such a checkpoint once it is
converted to safetensors (``python -m studio models import model.pt --family express4d``) and
samples it the way MDM does (ancestral sampling over all 1000 steps), or with fewer steps.

Checkpoint (``.safetensors``): MDM's state dict under its own names (``clip_model.*`` dropped),
optionally ``norm.mean`` / ``norm.std`` ``(C,)``; embedded config (all optional)::

    {"family": "express4d", "mdm": {...MDMConfig...}, "fps": 20, "max_frames": 196,
     "channels": [61 names, the order of the model's input], "diffusion": {"steps": 1000,
     "schedule": "cosine"}, "sampling": {"guidance_scale": 2.5, "steps": 1000, "sampler": "ddpm"},
     "text": {"max_tokens": 77}}

Options (``ModelSpec.options``): ``clip_path`` (local folder of the CLIP text encoder; else
``$STUDIO_CLIP_DIR``), ``mean`` / ``std`` (``.npy`` files, when the checkpoint does not carry
them and no ``mean.npy`` / ``std.npy`` lies beside it), ``guidance_scale``, ``steps`` (1..1000),
``sampler`` (``ddpm`` as MDM, or deterministic ``ddim``), ``max_text_tokens``.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from studio.config import clip_text_encoder_dir
from studio.formats import FormatError
from studio.formats.arrays import load_arrays
from studio.formats.checkpoints import Checkpoint
from studio.models.base import ExpressionModel, ModelError, ModelSpec, resolve_device
from studio.models.common import family_checkpoint
from studio.models.mdm.model import OUTPUT_FPS, _check_guidance, _check_steps, finish, to_output_rate
from studio.models.registry import register_model
from studio.motion import ARKIT_CHANNELS, MotionClip, arkit_name_map, livelink_name

FAMILY = "express4d"
MODEL_FPS = 20.0  # Express4D downsamples its 60 Hz captures by 3
MAX_FRAMES = 196  # and caps clips at 196 frames (9.8 s)
CLIP_ENV = "STUDIO_CLIP_DIR"
CPU_STEPS_HINT = 200  # beyond this many steps on a CPU, say how to make it faster
CLIP_HELP = (
    "Express4D conditions on the CLIP ViT-B/32 text encoder, which cannot be downloaded here: copy a "
    "transformers folder of openai/clip-vit-base-patch32 (config.json, model.safetensors, vocab.json, "
    f"merges.txt) to this machine and set options.clip_path (or ${CLIP_ENV}) to it"
)
NORM_FILES = (("mean.npy", "std.npy"), ("Mean.npy", "Std.npy"))
OPTIONS = {"clip_path", "mean", "std", "guidance_scale", "steps", "sampler", "max_text_tokens"}


def noise_schedule(name: str, steps: int) -> np.ndarray:
    """``alpha_bar (steps,)`` of MDM's named beta schedules (``cosine`` or ``linear``)."""
    from studio.models.mdm.network import cosine_alpha_bar

    if name == "cosine":
        return cosine_alpha_bar(steps)
    if name == "linear":  # improved-diffusion's linear schedule, scaled to the step count
        scale = 1000 / steps
        return np.cumprod(1 - np.linspace(scale * 1e-4, scale * 0.02, steps, dtype=np.float64))
    raise ValueError(f"unknown noise schedule {name!r} (cosine or linear)")


@register_model(FAMILY)
class Express4DModel(ExpressionModel):
    """Generates ``(round(30 * duration_s), 61) float32`` ARKit clips at 30 fps from Express4D's MDM.

    ``text_encoder`` maps a list of prompts to a ``(B, clip_dim)`` torch tensor (the CLIP text
    tower in use; tests pass a tiny one). ``mean`` / ``std`` ``(C,)`` undo the z-scoring, in the
    checkpoint's channel order.
    """

    space = "arkit"
    uses_text_encoder = False  # it brings its own (CLIP), not the shared MiniLM

    def __init__(
        self,
        name: str,
        checkpoint: Checkpoint,
        text_encoder: Any,
        mean: np.ndarray,
        std: np.ndarray,
        *,
        device: str = "cpu",
        options: Mapping[str, Any] | None = None,
    ) -> None:
        import torch

        from studio.models.express4d.network import MDM, MDMConfig, SequenceDenoiser

        config = checkpoint.config
        options = dict(options or {})
        unknown = set(options) - OPTIONS
        if unknown:
            raise ModelError(
                f"{name}: unknown express4d options {sorted(unknown)} (known: {sorted(OPTIONS)})"
            )
        tensors = {k: v for k, v in checkpoint.tensors.items() if not k.startswith(("clip_model.", "norm."))}
        try:
            mdm_cfg = MDMConfig(**config["mdm"]) if "mdm" in config else MDMConfig.from_state_dict(tensors)
        except (KeyError, TypeError, ValueError) as exc:
            raise ModelError(f"{name}: {checkpoint.path.name} is not an MDM state dict ({exc})") from None
        self.name = name
        self.device = device
        self.checkpoint_sha256 = checkpoint.sha256
        self.fps = float(config.get("fps", MODEL_FPS))
        self.max_frames = int(config.get("max_frames", MAX_FRAMES))
        sampling = {"guidance_scale": 2.5, "steps": 1000, "sampler": "ddpm", **config.get("sampling", {})}
        self.guidance_scale = _check_guidance(options.get("guidance_scale", sampling["guidance_scale"]), name)
        self.steps = _check_steps(options.get("steps", sampling["steps"]), name)
        self.sampler = str(options.get("sampler", sampling["sampler"]))
        if self.sampler not in ("ddpm", "ddim"):
            raise ModelError(f"{name}: sampler must be 'ddpm' (MDM's) or 'ddim', got {self.sampler!r}")
        diffusion = {"steps": 1000, "schedule": "cosine", **config.get("diffusion", {})}
        try:
            alpha_bar = noise_schedule(str(diffusion["schedule"]), int(diffusion["steps"]))
        except ValueError as exc:
            raise ModelError(f"{name}: {exc}") from None
        self.steps = min(self.steps, len(alpha_bar))

        # channels by name, never by position: the checkpoint says which column is which
        channels = [str(c) for c in config.get("channels", [livelink_name(c) for c in ARKIT_CHANNELS])]
        width = mdm_cfg.njoints * mdm_cfg.nfeats
        if len(channels) != width:
            raise ModelError(
                f"{name}: the config lists {len(channels)} channels, the model has {width} inputs"
            )
        self._name_map = arkit_name_map(channels)
        if self._name_map.unknown or self._name_map.missing or self._name_map.duplicates:
            problems = self._name_map.unknown or self._name_map.missing or self._name_map.duplicates
            raise ModelError(
                f"{name}: checkpoint channels are not the 61 ARKit channels ({list(problems)[:3]})"
            )
        self.mean = np.asarray(mean, np.float32).reshape(-1)
        self.std = np.asarray(std, np.float32).reshape(-1)
        if self.mean.shape != (width,) or self.std.shape != (width,):
            raise ModelError(
                f"{name}: mean/std have shapes {self.mean.shape}/{self.std.shape}, expected ({width},)"
            )
        if not (np.all(np.isfinite(self.mean)) and np.all(np.isfinite(self.std)) and np.all(self.std >= 0)):
            raise ModelError(f"{name}: mean/std must be finite and std non-negative")

        net = MDM(mdm_cfg)
        state = {k: torch.from_numpy(np.ascontiguousarray(v)) for k, v in tensors.items()}
        try:
            missing, unexpected = net.load_state_dict(state, strict=False)
        except RuntimeError as exc:  # a size mismatch
            raise ModelError(f"{name}: {checkpoint.path.name} does not fit the MDM layout: {exc}") from None
        missing = [k for k in missing if not k.endswith("sequence_pos_encoder.pe")]  # recomputable
        if missing or unexpected:
            raise ModelError(
                f"{name}: {checkpoint.path.name} does not match MDM's key layout "
                f"(missing {missing[:3]}, unexpected {unexpected[:3]})"
            )
        self.mdm_config = mdm_cfg
        self.denoiser = SequenceDenoiser(net).to(device).eval()
        self.text_encoder = text_encoder
        self._alpha_bar = torch.tensor(alpha_bar, dtype=torch.float32, device=device)

    @classmethod
    def from_spec(cls, spec: ModelSpec) -> Express4DModel:
        """Load the checkpoint (refusing a SHA-256 mismatch), the dataset mean/std and CLIP."""
        checkpoint = family_checkpoint(spec, FAMILY)
        mean, std = dataset_norm(spec, checkpoint)
        device = resolve_device(spec.device)
        clip_dir = spec.option_path("clip_path") or clip_text_encoder_dir()
        if clip_dir is None:
            raise ModelError(f"{spec.name}: no CLIP text encoder configured. {CLIP_HELP}")
        if not (clip_dir / "config.json").is_file():
            raise ModelError(
                f"{spec.name}: no CLIP text encoder at {clip_dir} (config.json missing). {CLIP_HELP}"
            )
        text_encoder = load_clip(clip_dir, device, int(spec.options.get("max_text_tokens", 77)), spec.name)
        return cls(spec.name, checkpoint, text_encoder, mean, std, device=device, options=spec.options)

    # -- generation --------------------------------------------------------------------------

    def generate(self, prompt: str, *, seed: int, duration_s: float) -> MotionClip:
        """One clip; the same prompt and seed give the same clip (noise comes from the seed)."""
        return self.generate_batch([prompt], [seed], duration_s)[0]

    def generate_batch(
        self, prompts: Sequence[str], seeds: Sequence[int], duration_s: float
    ) -> list[MotionClip]:
        """Sample clips of one duration together: ``min(round(20 * duration_s), 196)`` model frames
        each, de-normalised, mapped to ARKit order by name, interpolated to 30 fps."""
        import torch

        from studio.models.mdm.network import ddim_sample, ddpm_sample

        if len(prompts) != len(seeds):
            raise ValueError(f"{len(prompts)} prompts but {len(seeds)} seeds")
        duration_s = float(duration_s)
        if not (math.isfinite(duration_s) and duration_s > 0):
            raise ValueError(f"duration must be a positive number of seconds, got {duration_s}")
        wanted = max(2, round(duration_s * self.fps))
        n_model = min(wanted, self.max_frames)
        n_out = max(1, round(duration_s * OUTPUT_FPS))
        notices = []
        if wanted > self.max_frames:
            notices.append(
                f"{self.name} generates at most {self.max_frames} frames ({self.max_frames / self.fps:g} s "
                f"at {self.fps:g} fps); the last pose is held to {duration_s:g} s"
            )
        if self.device == "cpu" and self.steps > CPU_STEPS_HINT:
            notices.append(
                f"{self.name}: {self.steps} diffusion steps on the CPU are slow (Express4D's full-size MDM: "
                "~0.26 s per guided step here); options.steps: 50 with sampler: ddim is ~20x faster"
            )
        width = self.mean.shape[0]
        generators = [torch.Generator().manual_seed(int(s)) for s in seeds]
        noise = torch.stack([torch.randn((n_model, width), generator=g) for g in generators]).to(self.device)
        with torch.inference_mode():
            text = self.text_encoder(list(prompts)).to(self.device, torch.float32)
            if self.sampler == "ddpm":
                z = ddpm_sample(
                    self.denoiser,
                    noise,
                    text,
                    self._alpha_bar,
                    generators,
                    n_steps=self.steps,
                    guidance_scale=self.guidance_scale,
                )
            else:
                z = ddim_sample(
                    self.denoiser,
                    noise,
                    text,
                    self._alpha_bar,
                    n_steps=self.steps,
                    guidance_scale=self.guidance_scale,
                )
        raw = z.float().cpu().numpy() * self.std + self.mean  # (B, n_model, C), the checkpoint's order
        clips = []
        for prompt, seed, values in zip(prompts, seeds, raw, strict=True):
            arkit = to_output_rate(self._name_map.apply(values), self.fps, n_out, OUTPUT_FPS)
            meta = {
                "model": self.name,
                "family": FAMILY,
                "prompt": prompt,
                "seed": int(seed),
                "internal_fps": self.fps,
                "model_frames": n_model,
                "guidance_scale": self.guidance_scale,
                "steps": self.steps,
                "sampler": self.sampler,
                "checkpoint_sha256": self.checkpoint_sha256,
                "notices": tuple(notices),
            }
            clips.append(MotionClip(finish(arkit), OUTPUT_FPS, "arkit", ARKIT_CHANNELS, meta))
        return clips


def load_clip(folder: Path, device: str, max_tokens: int, name: str) -> Any:
    """The CLIP text encoder from ``folder``; any failure becomes one ModelError."""
    from studio.models.express4d.network import CLIPTextEncoder

    try:
        return CLIPTextEncoder(folder, device, max_tokens)
    except (OSError, ValueError, KeyError, RuntimeError) as exc:
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise ModelError(
            f"{name}: cannot load the CLIP text encoder from {folder}: {first}. {CLIP_HELP}"
        ) from None


def dataset_norm(spec: ModelSpec, checkpoint: Checkpoint) -> tuple[np.ndarray, np.ndarray]:
    """The dataset's per-channel mean and std: embedded in the checkpoint (``norm.mean``/``norm.std``),
    named in ``options.mean``/``options.std``, or ``mean.npy``/``std.npy`` beside the checkpoint."""
    if "norm.mean" in checkpoint.tensors and "norm.std" in checkpoint.tensors:
        return checkpoint.tensors["norm.mean"], checkpoint.tensors["norm.std"]
    pair = (spec.option_path("mean"), spec.option_path("std"))
    if pair == (None, None):
        folder = checkpoint.path.parent
        pair = next(((folder / m, folder / s) for m, s in NORM_FILES if (folder / m).is_file()), (None, None))
    if pair[0] is None or pair[1] is None:
        raise ModelError(
            f"{spec.name}: Express4D de-normalises with the dataset's mean and std, and none were found: "
            "embed them (`python -m studio models import ... --mean mean.npy --std std.npy`), put mean.npy "
            "and std.npy beside the checkpoint, or name them in options.mean / options.std"
        )
    try:
        return tuple(read_single_array(path) for path in pair)  # type: ignore[return-value]
    except FormatError as exc:
        raise ModelError(f"{spec.name}: {exc}") from None


def read_single_array(path: Path) -> np.ndarray:
    if not path.is_file():
        raise FormatError(path, "file not found")
    arrays = load_arrays(path)  # allow_pickle=False: a pickled .npy is refused
    if len(arrays) != 1:
        raise FormatError(path, f"expected one array, found {sorted(arrays)}")
    array = next(iter(arrays.values()))
    if array.dtype.kind not in "fiu":
        raise FormatError(path, f"expected numbers, found dtype {array.dtype}")
    return array.astype(np.float32).reshape(-1)
