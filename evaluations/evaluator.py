"""The text–motion evaluator: contrastive features for FID, R-precision, MM-Dist and friends.

What it is (KeyframeFace's evaluator recipe, sized for a CPU):

* **Motion side**: ARKit clips resampled to 10 fps (:data:`~evaluations.data.EVAL_FPS`), cut at
  100 frames (10 s), z-scored per channel with the training split's mean and floored std, zero
  padded. Three 1-D convolutions (kernel 5; the last two stride 2) read the sequence; the valid
  part is mean-pooled in four equal time segments (so "X then Y" differs from "Y then X") and
  max-pooled as a whole; a two-layer head maps that to :data:`EMBED_DIM` features. A conv stack
  rather than a GRU or transformer: it trains in minutes on one CPU thread and its receptive
  field (~2 s) covers one facial action.
* **Text side**: the frozen all-MiniLM-L6-v2 sentence vector (384-D, :mod:`studio.text`) through
  a two-layer projection.
* Both sides are L2-normalised, so Euclidean and cosine rank alike and FID / MM-Dist come out on
  the unit-sphere scale KeyframeFace reports (GT FID ~0.01, MM-Dist ~1).
* **Training**: symmetric InfoNCE at τ = 0.07 (identical prompts in a batch are not counted as
  negatives of each other), AdamW lr 1e-4, linear warm-up then cosine decay, early stopping on
  validation R@1 (HumanML3D convention, batches of 32) with patience 10 epochs; the best epoch's
  weights are kept.

Every evaluator carries an :class:`EvaluatorProvenance` (checkpoint SHA-256, training-data
fingerprint, fps, frames, normalisation, loss); results made with different evaluators must not
share a table (see :mod:`evaluations.results`).
"""

from __future__ import annotations

import math
import time
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn
from torch.nn import functional as F  # noqa: N812 - the torch convention

from evaluations.data import (
    EVAL_FPS,
    EVALUATION_ASSETS_DIR,
    MAX_FRAMES,
    STD_FLOOR_BLENDSHAPE,
    STD_FLOOR_ROTATION,
    TrainingItems,
    TrainingItemsError,
    fit_normalisation,
    items_fingerprint,
    pad_batch,
    read_split,
    subsample,
    to_eval_rate,
)
from evaluations.metrics import R_PRECISION_BATCH_SIZE, R_PRECISION_CONVENTIONS, r_precision
from evaluations.results import EvaluatorProvenance
from studio.errors import StudioError
from studio.formats.checkpoints import CheckpointError, read_checkpoint, write_checkpoint
from studio.motion import ARKIT_CHANNELS, N_ARKIT, MotionClip
from studio.text import EMBEDDING_DIM, MODEL_NAME

KIND = "text-motion-evaluator"
FORMAT_VERSION = 1
EMBED_DIM = 128
SEGMENTS = 4  # time segments mean-pooled separately (keeps coarse order)
TEMPERATURE = 0.07
FEATURE_BATCH_SIZE = 256  # clips per forward pass when computing motion features
DEFAULT_CHECKPOINT = EVALUATION_ASSETS_DIR / "evaluator.safetensors"
SHA256SUMS = EVALUATION_ASSETS_DIR / "SHA256SUMS"
# The items an evaluator was trained on, beside its checkpoint (evaluations.data.TrainingItems):
# ``<stem>.training_items.json`` (what train() writes), else ``training_items.json`` in the
# folder (the shipped one, made by scripts/evaluator_training_items.py without retraining).
TRAINING_ITEMS_NAME = "training_items.json"
LOSS_DESCRIPTION = f"symmetric InfoNCE, tau={TEMPERATURE} (fixed), duplicate prompts masked"
NORMALISATION_DESCRIPTION = (
    f"per-channel z-score with the training split's mean/std over all frames at {EVAL_FPS:g} fps; "
    f"std floored at {STD_FLOOR_BLENDSHAPE} (blendshapes) / {STD_FLOOR_ROTATION} rad (rotations); "
    f"clips cut at {MAX_FRAMES} frames and zero-padded in z-space"
)


class EvaluatorError(StudioError, ValueError):
    """An evaluator checkpoint is unusable, or a clip cannot be scored by it."""


# --------------------------------------------------------------------------------------------
# Networks
# --------------------------------------------------------------------------------------------


def conv_lengths(lengths: torch.Tensor) -> torch.Tensor:
    """Valid lengths after the two stride-2 convolutions (k=5, padding 2): ⌈⌈L/2⌉/2⌉."""
    return torch.div(torch.div(lengths + 1, 2, rounding_mode="floor") + 1, 2, rounding_mode="floor")


class MotionEncoder(nn.Module):
    """``(B, MAX_FRAMES, 61)`` z-scored motion + ``(B,)`` lengths -> ``(B, embed_dim)`` unit vectors."""

    def __init__(self, width: int = 128, embed_dim: int = EMBED_DIM, segments: int = SEGMENTS) -> None:
        super().__init__()
        self.segments = segments
        self.conv = nn.Sequential(
            nn.Conv1d(N_ARKIT, width, 5, padding=2),
            nn.GELU(),
            nn.Conv1d(width, width, 5, stride=2, padding=2),
            nn.GELU(),
            nn.Conv1d(width, width, 5, stride=2, padding=2),
            nn.GELU(),
        )
        self.head = nn.Sequential(
            nn.Linear(width * (segments + 1), 256), nn.GELU(), nn.Linear(256, embed_dim)
        )

    def forward(self, x: torch.Tensor, lengths: torch.Tensor) -> torch.Tensor:
        h = self.conv(x.transpose(1, 2))  # (B, W, T')
        valid = conv_lengths(lengths).clamp(min=1, max=h.shape[-1])
        pos = torch.arange(h.shape[-1], device=h.device)[None].expand(h.shape[0], -1)  # (B, T')
        inside = pos < valid[:, None]
        segment = torch.div(pos * self.segments, valid[:, None], rounding_mode="floor")
        weights = F.one_hot(segment.clamp(max=self.segments - 1), self.segments).float()  # (B, T', S)
        weights = weights * inside[..., None]
        # a clip shorter than SEGMENTS frames leaves segments empty: they pool to zero
        weights = weights / weights.sum(1, keepdim=True).clamp(min=1.0)
        pooled = torch.einsum("bwt,bts->bsw", h, weights).flatten(1)
        peak = h.masked_fill(~inside[:, None, :], float("-inf")).amax(-1)
        return F.normalize(self.head(torch.cat([pooled, peak], 1)), dim=-1)


class TextProjection(nn.Module):
    """``(B, 384)`` frozen MiniLM vectors -> ``(B, embed_dim)`` unit vectors."""

    def __init__(self, embed_dim: int = EMBED_DIM) -> None:
        super().__init__()
        self.net = nn.Sequential(nn.Linear(EMBEDDING_DIM, 256), nn.GELU(), nn.Linear(256, embed_dim))

    def forward(self, text: torch.Tensor) -> torch.Tensor:
        return F.normalize(self.net(text), dim=-1)


# --------------------------------------------------------------------------------------------
# The loaded evaluator
# --------------------------------------------------------------------------------------------


class Evaluator:
    """A trained evaluator: clips and prompts in, ``(N, EMBED_DIM) float32`` unit features out.

    Deterministic and batch-independent (no batch norm, eval mode), so a clip's features do not
    depend on what else is scored with it.
    """

    def __init__(self, config: dict[str, Any], tensors: dict[str, np.ndarray], sha256: str) -> None:
        if config.get("kind") != KIND:
            raise EvaluatorError(f"not an evaluator checkpoint (kind {config.get('kind')!r})")
        if config.get("fps") != EVAL_FPS or config.get("max_frames") != MAX_FRAMES:
            raise EvaluatorError(
                f"checkpoint expects {config.get('fps')} fps / {config.get('max_frames')} frames; this "
                f"code reads clips at {EVAL_FPS:g} fps / {MAX_FRAMES} frames"
            )
        if list(config.get("channels", ())) != list(ARKIT_CHANNELS):
            raise EvaluatorError("checkpoint channels are not the 61 ARKit channels in Live Link order")
        net = config["net"]
        self.config = config
        self.motion_encoder = MotionEncoder(int(net["width"]), int(net["embed_dim"]), int(net["segments"]))
        self.text_projection = TextProjection(int(net["embed_dim"]))
        try:
            self.motion_encoder.load_state_dict(_sub_state(tensors, "motion."), strict=True)
            self.text_projection.load_state_dict(_sub_state(tensors, "text."), strict=True)
            self.mean = np.asarray(tensors["norm.mean"], np.float32)
            self.std = np.asarray(tensors["norm.std"], np.float32)
        except (KeyError, RuntimeError) as exc:
            raise EvaluatorError(f"checkpoint does not match the evaluator layout: {exc}") from None
        self.motion_encoder.eval()
        self.text_projection.eval()
        self.provenance = EvaluatorProvenance.from_config(config, sha256)
        self.source: Path | None = None  # the checkpoint file, when loaded from one

    def training_items(self) -> tuple[TrainingItems | None, str]:
        """This checkpoint's training items (:data:`TRAINING_ITEMS_NAME`) and a note: how exact
        they are, or why there are none (no file beside the checkpoint, a file for another
        checkpoint, an unreadable file)."""
        if self.source is None:
            return None, "the evaluator was not loaded from a checkpoint file"
        notes = []
        for path in training_items_paths(self.source):
            if not path.is_file():
                continue
            try:
                items = TrainingItems.read(path)
            except TrainingItemsError as exc:
                notes.append(str(exc))
                continue
            if items.evaluator_sha256 != self.provenance.checkpoint_sha256:
                notes.append(
                    f"{path.name} is for evaluator {items.evaluator_sha256[:12]}, "
                    f"not {self.provenance.checkpoint_sha256[:12]}"
                )
                continue
            exact = items.provenance.get("exact")
            how = "exact" if exact else str(items.provenance.get("summary", "approximate"))
            return items, f"{path.name} ({how})"
        if not notes:
            notes.append(f"no {TRAINING_ITEMS_NAME} beside {self.source.name}")
        return None, "; ".join(notes)

    @classmethod
    def load(cls, path: str | Path, sha256: str | None = None) -> Evaluator:
        """Load a checkpoint, refusing a SHA-256 mismatch (CheckpointError) or a foreign layout."""
        checkpoint = read_checkpoint(path, sha256)
        try:
            evaluator = cls(checkpoint.config, checkpoint.tensors, checkpoint.sha256)
        except EvaluatorError as exc:
            raise CheckpointError(path, str(exc)) from None
        evaluator.source = Path(path)
        return evaluator

    @property
    def embed_dim(self) -> int:
        return int(self.config["net"]["embed_dim"])

    def motion_features(
        self, motions: Sequence[MotionClip | np.ndarray], batch_size: int = FEATURE_BATCH_SIZE
    ) -> np.ndarray:
        """Clips (any rate) or ``(T, 61)`` arrays already at :data:`EVAL_FPS` -> ``(N, D) float32``."""
        arrays = [
            to_eval_rate(m) if isinstance(m, MotionClip) else np.asarray(m, np.float32) for m in motions
        ]
        for i, a in enumerate(arrays):
            if a.ndim != 2 or a.shape[1] != N_ARKIT or len(a) < 1 or not np.all(np.isfinite(a)):
                raise EvaluatorError(
                    f"motion {i}: expected finite (T, {N_ARKIT}) ARKit values, got {a.shape}"
                )
        out = np.zeros((len(arrays), self.embed_dim), np.float32)
        with torch.inference_mode():
            for start in range(0, len(arrays), batch_size):
                x, lengths = pad_batch(arrays[start : start + batch_size], self.mean, self.std)
                feats = self.motion_encoder(torch.from_numpy(x), torch.from_numpy(lengths))
                out[start : start + len(x)] = feats.numpy()
        return out

    def text_features(self, prompts: Sequence[str]) -> np.ndarray:
        """Prompts -> ``(N, D) float32`` unit vectors (MiniLM, then the trained projection)."""
        from studio.text import embed_texts

        return self.text_features_from_embeddings(embed_texts(list(prompts)))

    def text_features_from_embeddings(self, embeddings: np.ndarray) -> np.ndarray:
        """``(N, 384)`` MiniLM vectors -> ``(N, D) float32``."""
        with torch.inference_mode():
            return self.text_projection(torch.from_numpy(np.asarray(embeddings, np.float32))).numpy()

    def normalise(self, motion: np.ndarray) -> np.ndarray:
        """``(T, 61)`` ARKit values at the eval rate -> z-scores with this evaluator's statistics."""
        return (np.asarray(motion, np.float32) - self.mean) / self.std


def training_items_paths(checkpoint: str | Path) -> tuple[Path, Path]:
    """Where a checkpoint's training items may be, in the order they are tried."""
    checkpoint = Path(checkpoint)
    return checkpoint.with_name(f"{checkpoint.stem}.{TRAINING_ITEMS_NAME}"), checkpoint.with_name(
        TRAINING_ITEMS_NAME
    )


def _sub_state(tensors: dict[str, np.ndarray], prefix: str) -> dict[str, torch.Tensor]:
    return {
        k[len(prefix) :]: torch.from_numpy(np.array(v)) for k, v in tensors.items() if k.startswith(prefix)
    }


def read_sha256sums(path: Path = SHA256SUMS) -> dict[str, str]:
    """``sha256sum``-format file -> {file name: hex digest} (empty when the file is missing)."""
    if not path.is_file():
        return {}
    sums = {}
    for line in path.read_text(encoding="utf-8").splitlines():
        parts = line.split()
        if len(parts) == 2:
            sums[parts[1].lstrip("*")] = parts[0]
    return sums


def load_default_evaluator() -> Evaluator:
    """The evaluator shipped in ``assets/evaluator/``, checked against ``SHA256SUMS``."""
    if not DEFAULT_CHECKPOINT.is_file():
        raise CheckpointError(
            DEFAULT_CHECKPOINT, "the shipped evaluator is missing; run scripts/train_evaluators.sh"
        )
    return Evaluator.load(DEFAULT_CHECKPOINT, read_sha256sums().get(DEFAULT_CHECKPOINT.name))


# --------------------------------------------------------------------------------------------
# Training
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class TrainConfig:
    """Everything that decides a training run (with the seed and the data)."""

    batch_size: int = 256
    max_epochs: int = 60
    patience: int = 10  # epochs without a better val R@1 (KeyframeFace)
    lr: float = 1e-4
    weight_decay: float = 0.01
    warmup_steps: int = 100
    temperature: float = TEMPERATURE
    width: int = 128
    embed_dim: int = EMBED_DIM
    segments: int = SEGMENTS
    threads: int = 1
    max_items: int | None = None  # None = the whole training split
    max_val_items: int | None = None
    net: dict[str, Any] = field(default_factory=dict)


FULL = TrainConfig()
QUICK = TrainConfig(
    batch_size=32, max_epochs=3, patience=2, lr=1e-3, warmup_steps=2, width=32, max_items=96, max_val_items=64
)


def info_nce(
    text: torch.Tensor, motion: torch.Tensor, groups: torch.Tensor, temperature: float
) -> torch.Tensor:
    """Symmetric InfoNCE over a batch of matched unit vectors ``(B, D)``.

    ``groups[i]`` names the prompt of pair i; another pair with the same prompt is a false
    negative, so its logit is masked out of both softmaxes.
    """
    logits = text @ motion.T / temperature
    same = (groups[:, None] == groups[None, :]) & ~torch.eye(
        len(groups), dtype=torch.bool, device=text.device
    )
    logits = logits.masked_fill(same, float("-inf"))
    target = torch.arange(len(groups), device=text.device)
    return 0.5 * (F.cross_entropy(logits, target) + F.cross_entropy(logits.T, target))


def _log(message: str) -> None:
    print(f"[evaluator {time.strftime('%H:%M:%S')}] {message}", flush=True)


def train(
    data: Path, out: Path, *, seed: int = 0, quick: bool = False, cfg: TrainConfig | None = None
) -> str:
    """Train on ``data`` (train split; early stopping on val); write ``out``; return its SHA-256."""
    from studio.formats import read_dataset
    from studio.text import embed_texts

    cfg = cfg or (QUICK if quick else FULL)
    torch.manual_seed(seed)
    rng = np.random.default_rng(seed)
    previous_threads = torch.get_num_threads()
    torch.set_num_threads(cfg.threads)
    try:
        start = time.perf_counter()
        dataset = read_dataset(data)
        train_items, val_items = _train_val_items(dataset, cfg, rng)
        tr, va = read_split(dataset, "train", train_items), read_split(dataset, "val", val_items)
        fingerprint = items_fingerprint(list(train_items) + list(val_items))
        _log(f"read {len(tr)} train / {len(va)} val clips in {time.perf_counter() - start:.0f} s")
        mean, std = fit_normalisation(tr.motions)
        x_tr, len_tr = pad_batch(tr.motions, mean, std)
        x_va, len_va = pad_batch(va.motions, mean, std)
        prompts = sorted(set(tr.prompts) | set(va.prompts))
        table = dict(zip(prompts, embed_texts(prompts), strict=True))
        text_tr = np.stack([table[p] for p in tr.prompts])
        text_va = np.stack([table[p] for p in va.prompts])
        group_tr = np.unique(np.array(tr.prompts), return_inverse=True)[1]
        _log(f"embedded {len(prompts)} prompts; {time.perf_counter() - start:.0f} s so far")

        motion_net = MotionEncoder(cfg.width, cfg.embed_dim, cfg.segments)
        text_net = TextProjection(cfg.embed_dim)
        params = list(motion_net.parameters()) + list(text_net.parameters())
        optimiser = torch.optim.AdamW(params, lr=cfg.lr, weight_decay=cfg.weight_decay)
        batch = min(cfg.batch_size, len(tr))
        steps_per_epoch = max(1, len(tr) // batch)
        total = steps_per_epoch * cfg.max_epochs
        schedule = torch.optim.lr_scheduler.LambdaLR(
            optimiser, lambda s: _lr_factor(s, cfg.warmup_steps, total)
        )
        tensors_tr = (
            torch.from_numpy(x_tr),
            torch.from_numpy(len_tr),
            torch.from_numpy(text_tr),
            torch.from_numpy(group_tr),
        )
        history: list[dict[str, float]] = []
        best: tuple[float, int, dict[str, torch.Tensor]] | None = None
        for epoch in range(1, cfg.max_epochs + 1):
            motion_net.train()
            text_net.train()
            order = torch.from_numpy(rng.permutation(len(tr)))
            losses = []
            for step in range(steps_per_epoch):
                idx = order[step * batch : (step + 1) * batch]
                x, lengths, text, groups = (t[idx] for t in tensors_tr)
                loss = info_nce(text_net(text), motion_net(x, lengths), groups, cfg.temperature)
                optimiser.zero_grad(set_to_none=True)
                loss.backward()
                optimiser.step()
                schedule.step()
                losses.append(loss.item())
            r1 = _val_r1(motion_net, text_net, x_va, len_va, text_va)
            history.append({"epoch": epoch, "train_loss": float(np.mean(losses)), "val_r1": r1})
            improved = best is None or r1 > best[0]
            if improved:
                state = {f"motion.{k}": v.detach().clone() for k, v in motion_net.state_dict().items()}
                state |= {f"text.{k}": v.detach().clone() for k, v in text_net.state_dict().items()}
                best = (r1, epoch, state)
            _log(
                f"epoch {epoch}: loss {np.mean(losses):.4f}, val R@1 {r1:.3f}{' *' if improved else ''} "
                f"({time.perf_counter() - start:.0f} s)"
            )
            if best is not None and epoch - best[1] >= cfg.patience:
                _log(f"early stop: no better val R@1 for {cfg.patience} epochs")
                break
        assert best is not None  # at least one epoch ran
        r1_best, best_epoch, state = best
        motion_net.load_state_dict({k[7:]: v for k, v in state.items() if k.startswith("motion.")})
        text_net.load_state_dict({k[5:]: v for k, v in state.items() if k.startswith("text.")})
        val_report = _val_report(motion_net, text_net, x_va, len_va, text_va)
    finally:
        torch.set_num_threads(previous_threads)
    config = {
        "kind": KIND,
        "format_version": FORMAT_VERSION,
        "fps": EVAL_FPS,
        "max_frames": MAX_FRAMES,
        "channels": list(ARKIT_CHANNELS),
        "net": {"width": cfg.width, "embed_dim": cfg.embed_dim, "segments": cfg.segments},
        "text_encoder": f"{MODEL_NAME} (frozen, {EMBEDDING_DIM}-D) + 2-layer projection",
        "normalisation": NORMALISATION_DESCRIPTION,
        "loss": LOSS_DESCRIPTION,
        "training": {
            **{k: v for k, v in asdict(cfg).items() if k != "net"},
            "seed": seed,
            "quick": quick,
            "dataset": dataset.name,
            "data_fingerprint": fingerprint,
            "n_train": len(tr),
            "n_val": len(va),
            "best_epoch": best_epoch,
            "epochs_run": len(history),
            "seconds": round(time.perf_counter() - start, 1),
            "history": history,
        },
        "validation": {"r1_best": r1_best, **val_report},
    }
    tensors = {k: v.numpy() for k, v in state.items()} | {"norm.mean": mean, "norm.std": std}
    digest = write_checkpoint(out, tensors, config)
    # the benchmark refuses to score these items with this evaluator (evaluations.benchmark)
    sidecar = TrainingItems.from_splits(
        (tr, va),
        evaluator_sha256=digest,
        training_data_sha256=fingerprint,
        provenance={
            "exact": True,
            "summary": "hashed by evaluations.evaluator.train from the items it trained on",
            "dataset": dataset.name,
            "n_train": len(tr),
            "n_val": len(va),
        },
    ).write(training_items_paths(out)[0])
    _log(f"best epoch {best_epoch}: val R@1 {r1_best:.3f}; wrote {out} and {sidecar.name}")
    return digest


def _train_val_items(dataset: Any, cfg: TrainConfig, rng: np.random.Generator) -> tuple[list, list]:
    train_items = list(dataset.split("train"))
    val_items = list(dataset.split("val"))
    if not train_items or not val_items:
        raise EvaluatorError(
            f"{dataset.root}: training an evaluator needs train and val splits (splits/*.txt)"
        )
    train_items = subsample(train_items, cfg.max_items, rng)
    val_items = subsample(val_items, cfg.max_val_items, rng)
    if len(val_items) < 4:
        raise EvaluatorError(f"{dataset.root}: the val split has {len(val_items)} items; need ≥ 4")
    return train_items, val_items


def _val_batch(n: int) -> int:
    """Batches of 32 (the protocol), or the whole val set when a tiny dataset has fewer items."""
    return min(R_PRECISION_BATCH_SIZE, n)


def _lr_factor(step: int, warmup: int, total: int) -> float:
    if step < warmup:
        return (step + 1) / warmup
    progress = min(1.0, (step - warmup) / max(1, total - warmup))
    return 0.5 * (1.0 + math.cos(math.pi * progress))


def _encode(
    motion_net: MotionEncoder, text_net: TextProjection, x: np.ndarray, lengths: np.ndarray, text: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    motion_net.eval()
    text_net.eval()
    with torch.inference_mode():
        m = torch.cat(
            [
                motion_net(torch.from_numpy(x[i : i + 512]), torch.from_numpy(lengths[i : i + 512]))
                for i in range(0, len(x), 512)
            ]
        )
        t = text_net(torch.from_numpy(text))
    return t.numpy(), m.numpy()


def _val_r1(
    motion_net: MotionEncoder, text_net: TextProjection, x: np.ndarray, lengths: np.ndarray, text: np.ndarray
) -> float:
    t, m = _encode(motion_net, text_net, x, lengths, text)
    return r_precision(t, m, batch_size=_val_batch(len(t)), seed=0).rates[0]


def _val_report(
    motion_net: MotionEncoder, text_net: TextProjection, x: np.ndarray, lengths: np.ndarray, text: np.ndarray
) -> dict[str, Any]:
    t, m = _encode(motion_net, text_net, x, lengths, text)
    batch = _val_batch(len(t))
    code = r_precision(t, m, batch_size=batch, seed=0)
    metric, direction = R_PRECISION_CONVENTIONS["express4d-paper"]
    paper = r_precision(t, m, batch_size=batch, metric=metric, direction=direction, seed=0)
    return {
        "r_precision_humanml3d_code": list(code.rates),
        "r_precision_express4d_paper": list(paper.rates),
        "n_pairs": code.n_pairs,
        "batch_size": batch,
    }


def describe(evaluator: Evaluator) -> str:
    """One line for terminals: hash, data fingerprint, fps, loss."""
    p = evaluator.provenance
    return (
        f"evaluator {p.checkpoint_sha256[:12]} (trained on {p.training_data} "
        f"{p.training_data_sha256[:12]}, {p.fps:g} fps, {p.loss})"
    )
