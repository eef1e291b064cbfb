"""The emotion recogniser behind the EmoteGPT-style scores: emotion accuracy and valence/arousal CCC.

EmoteGPT scores generated faces with a 4-layer MLP with batch norm trained on expression
parameters. Here the input is a clip's per-channel statistics (mean, std, min, max of each of
the 61 ARKit channels at 10 fps: 244 numbers, standardised with the training split's feature
mean/std), the MLP is 244 → 256 → 128 → 64 → 8 (Linear + BatchNorm + ReLU + dropout 0.1 on the
hidden layers), and the 8 outputs are six emotion logits (Express4D order) plus valence and
arousal.

Targets: the six FACS category scores of the training clip (``prompts.csv``, summing to 1; soft
cross-entropy) and the valence/arousal point they imply on the circumplex (MSE):
``(v, a) = Σ_k p_k · EMOTION_VA[k]``. :data:`EMOTION_VA` places the six categories on Russell's
(1980) circumplex, using the pleasure/arousal values usually quoted from Russell & Mehrabian
(1977) (scale −1..1; quoted, not re-derived here): happiness (0.76, 0.48), sadness (−0.63, −0.27),
fear (−0.64, 0.60), surprise (0.40, 0.67), anger (−0.51, 0.59), disgust (−0.60, 0.35). The
mapping is a documented convention, not a measurement: CCC is only comparable under the same
table (it is stored in every checkpoint and result).

Scores (:func:`emotion_scores_against_prompts`): a generated clip counts as correct when the
recogniser's top category equals the prompt's top category; V/A CCC is Lin's CCC between the
recogniser's V/A for the clips and the prompts' circumplex V/A, averaged over the two axes.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn
from torch.nn import functional as F  # noqa: N812 - the torch convention

from evaluations.data import (
    EVAL_FPS,
    EVALUATION_ASSETS_DIR,
    items_fingerprint,
    read_split,
    subsample,
    to_eval_rate,
)
from evaluations.metrics import ccc
from studio.errors import StudioError
from studio.facs import EMOTIONS, N_EMOTIONS
from studio.formats.checkpoints import CheckpointError, read_checkpoint, write_checkpoint
from studio.motion import N_ARKIT, MotionClip

KIND = "emotion-recogniser"
FORMAT_VERSION = 1
DEFAULT_CHECKPOINT = EVALUATION_ASSETS_DIR / "emotion_recogniser.safetensors"
STATISTICS = ("mean", "std", "min", "max")
N_FEATURES = len(STATISTICS) * N_ARKIT  # 244
HIDDEN = (256, 128, 64)

#: (valence, arousal) per category, Express4D order; see the module docstring for the source.
EMOTION_VA = np.array(
    [
        [0.76, 0.48],  # happiness
        [-0.63, -0.27],  # sadness
        [-0.64, 0.60],  # fear
        [0.40, 0.67],  # surprise
        [-0.51, 0.59],  # anger
        [-0.60, 0.35],  # disgust
    ],
    np.float32,
)
CIRCUMPLEX_DESCRIPTION = (
    "(v, a) = sum_k p_k * EMOTION_VA[k]; EMOTION_VA (Russell & Mehrabian 1977 pleasure/arousal as usually "
    "quoted): "
    + ", ".join(f"{e} ({v:+.2f}, {a:+.2f})" for e, (v, a) in zip(EMOTIONS, EMOTION_VA, strict=True))
)


def va_from_scores(scores: np.ndarray) -> np.ndarray:
    """``(N, 6)`` category scores (any non-negative weights) -> ``(N, 2) float32`` valence, arousal."""
    p = np.asarray(scores, np.float64)
    if p.ndim != 2 or p.shape[1] != N_EMOTIONS:
        raise ValueError(f"scores must be (N, {N_EMOTIONS}), got {p.shape}")
    p = p / np.clip(p.sum(1, keepdims=True), 1e-12, None)
    return (p @ EMOTION_VA).astype(np.float32)


def clip_statistics(motion: np.ndarray) -> np.ndarray:
    """``(T, 61)`` ARKit values at the eval rate -> ``(244,) float32``: per-channel mean, std, min, max."""
    m = np.asarray(motion, np.float64)
    return np.concatenate([m.mean(0), m.std(0), m.min(0), m.max(0)]).astype(np.float32)


class EmotionMLP(nn.Module):
    """``(B, 244)`` standardised statistics -> ``(B, 8)``: six emotion logits, then valence, arousal."""

    def __init__(self, hidden: Sequence[int] = HIDDEN, dropout: float = 0.1) -> None:
        super().__init__()
        layers: list[nn.Module] = []
        width = N_FEATURES
        for h in hidden:
            layers += [nn.Linear(width, h), nn.BatchNorm1d(h), nn.ReLU(), nn.Dropout(dropout)]
            width = h
        layers.append(nn.Linear(width, N_EMOTIONS + 2))
        self.net = nn.Sequential(*layers)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.net(x)


class EmotionRecogniserError(StudioError, ValueError):
    """An emotion-recogniser checkpoint is unusable."""


class EmotionRecogniser:
    """A trained recogniser: clips in, category probabilities ``(N, 6)`` and V/A ``(N, 2)`` out."""

    def __init__(self, config: dict[str, Any], tensors: dict[str, np.ndarray], sha256: str) -> None:
        if config.get("kind") != KIND:
            raise EmotionRecogniserError(
                f"not an emotion-recogniser checkpoint (kind {config.get('kind')!r})"
            )
        if config.get("fps") != EVAL_FPS:
            raise EmotionRecogniserError(
                f"checkpoint reads clips at {config.get('fps')} fps, this code at {EVAL_FPS}"
            )
        self.config = config
        self.sha256 = sha256
        self.net = EmotionMLP(tuple(config["hidden"]))
        try:
            self.net.load_state_dict(
                {k[4:]: torch.from_numpy(np.array(v)) for k, v in tensors.items() if k.startswith("net.")},
                strict=True,
            )
            self.feature_mean = np.asarray(tensors["features.mean"], np.float32)
            self.feature_std = np.asarray(tensors["features.std"], np.float32)
        except (KeyError, RuntimeError) as exc:
            raise EmotionRecogniserError(f"checkpoint does not match the recogniser layout: {exc}") from None
        if not np.allclose(np.asarray(config["emotion_va"], np.float32), EMOTION_VA):
            raise EmotionRecogniserError("checkpoint was trained with a different circumplex table")
        self.net.eval()

    @classmethod
    def load(cls, path: str | Path, sha256: str | None = None) -> EmotionRecogniser:
        checkpoint = read_checkpoint(path, sha256)
        try:
            return cls(checkpoint.config, checkpoint.tensors, checkpoint.sha256)
        except EmotionRecogniserError as exc:
            raise CheckpointError(path, str(exc)) from None

    @property
    def provenance(self) -> dict[str, Any]:
        training = self.config.get("training", {})
        return {
            "kind": KIND,
            "checkpoint_sha256": self.sha256,
            "training_data": training.get("dataset"),
            "training_data_sha256": training.get("data_fingerprint"),
            "fps": EVAL_FPS,
            "features": self.config.get("features"),
            "circumplex": self.config.get("circumplex"),
            "validation": self.config.get("validation"),
        }

    def predict(self, motions: Sequence[MotionClip | np.ndarray]) -> tuple[np.ndarray, np.ndarray]:
        """Clips (any rate) or ``(T, 61)`` arrays at the eval rate -> probs ``(N, 6)``, V/A ``(N, 2)``."""
        arrays = [
            to_eval_rate(m) if isinstance(m, MotionClip) else np.asarray(m, np.float32) for m in motions
        ]
        feats = np.stack([clip_statistics(a) for a in arrays])
        x = (feats - self.feature_mean) / self.feature_std
        with torch.inference_mode():
            out = self.net(torch.from_numpy(x.astype(np.float32)))
        probs = torch.softmax(out[:, :N_EMOTIONS], 1).numpy()
        return probs, out[:, N_EMOTIONS:].numpy()


def load_default_recogniser() -> EmotionRecogniser:
    """The recogniser shipped in ``assets/evaluator/``, checked against ``SHA256SUMS``."""
    from evaluations.evaluator import read_sha256sums

    if not DEFAULT_CHECKPOINT.is_file():
        raise CheckpointError(
            DEFAULT_CHECKPOINT, "the shipped emotion recogniser is missing; run scripts/train_evaluators.sh"
        )
    return EmotionRecogniser.load(DEFAULT_CHECKPOINT, read_sha256sums().get(DEFAULT_CHECKPOINT.name))


@dataclass(frozen=True)
class EmotionScores:
    """Per-clip outcomes against the prompts' labels (for bootstrapping) and the headline numbers."""

    correct: np.ndarray  # (N,) bool: recognised top category == prompt's top category
    va_pred: np.ndarray  # (N, 2)
    va_target: np.ndarray  # (N, 2)

    @property
    def accuracy(self) -> float:
        return float(self.correct.mean())

    @property
    def va_ccc(self) -> float:
        return ccc(self.va_target, self.va_pred).value


def emotion_scores_against_prompts(
    recogniser: EmotionRecogniser, motions: Sequence[MotionClip | np.ndarray], prompt_scores: np.ndarray
) -> EmotionScores:
    """Score clips against their prompts' six-way labels ``(N, 6)``."""
    probs, va = recogniser.predict(motions)
    target = np.asarray(prompt_scores, np.float32)
    return EmotionScores(probs.argmax(1) == target.argmax(1), va, va_from_scores(target))


# --------------------------------------------------------------------------------------------
# Training
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class TrainConfig:
    batch_size: int = 256
    max_epochs: int = 80
    patience: int = 10
    lr: float = 1e-3
    weight_decay: float = 1e-4
    dropout: float = 0.1
    va_weight: float = 1.0
    threads: int = 1
    max_items: int | None = None
    max_val_items: int | None = None


FULL = TrainConfig()
QUICK = TrainConfig(batch_size=32, max_epochs=3, patience=2, max_items=96, max_val_items=64)


def _log(message: str) -> None:
    print(f"[emotion {time.strftime('%H:%M:%S')}] {message}", flush=True)


def train(
    data: Path, out: Path, *, seed: int = 0, quick: bool = False, cfg: TrainConfig | None = None
) -> str:
    """Train on the train split (early stopping on val accuracy); write ``out``; return its SHA-256."""
    from studio.formats import read_dataset

    cfg = cfg or (QUICK if quick else FULL)
    torch.manual_seed(seed)
    rng = np.random.default_rng(seed)
    previous_threads = torch.get_num_threads()
    torch.set_num_threads(cfg.threads)
    start = time.perf_counter()
    try:
        dataset = read_dataset(data)
        train_items, val_items = list(dataset.split("train")), list(dataset.split("val"))
        if not train_items or len(val_items) < 2:
            raise EmotionRecogniserError(
                f"{dataset.root}: training needs train and val splits (splits/*.txt)"
            )
        train_items = subsample(train_items, cfg.max_items, rng)
        val_items = subsample(val_items, cfg.max_val_items, rng)
        tr, va = read_split(dataset, "train", train_items), read_split(dataset, "val", val_items)
        if tr.emotion_scores is None or va.emotion_scores is None:
            raise EmotionRecogniserError(
                f"{dataset.root}: every item needs the six emotion score columns ({', '.join(EMOTIONS)})"
            )
        fingerprint = items_fingerprint(train_items + val_items)
        f_tr = np.stack([clip_statistics(m) for m in tr.motions])
        f_va = np.stack([clip_statistics(m) for m in va.motions])
        f_mean = f_tr.mean(0).astype(np.float32)
        f_std = np.maximum(f_tr.std(0), 1e-3).astype(np.float32)  # constant features stay finite
        x_tr = torch.from_numpy((f_tr - f_mean) / f_std)
        x_va = torch.from_numpy((f_va - f_mean) / f_std)
        p_tr = torch.from_numpy(tr.emotion_scores)
        va_tr = torch.from_numpy(va_from_scores(tr.emotion_scores))
        _log(f"read {len(tr)} train / {len(va)} val clips in {time.perf_counter() - start:.0f} s")

        net = EmotionMLP(HIDDEN, cfg.dropout)
        optimiser = torch.optim.AdamW(net.parameters(), lr=cfg.lr, weight_decay=cfg.weight_decay)
        batch = min(cfg.batch_size, len(tr))
        history, best = [], None
        for epoch in range(1, cfg.max_epochs + 1):
            net.train()
            order = torch.from_numpy(rng.permutation(len(tr)))
            losses = []
            for s in range(max(1, len(tr) // batch)):
                idx = order[s * batch : (s + 1) * batch]
                if len(idx) < 2:  # batch norm needs two samples
                    continue
                out_ = net(x_tr[idx])
                loss = -(p_tr[idx] * F.log_softmax(out_[:, :N_EMOTIONS], 1)).sum(1).mean()
                loss = loss + cfg.va_weight * F.mse_loss(out_[:, N_EMOTIONS:], va_tr[idx])
                optimiser.zero_grad(set_to_none=True)
                loss.backward()
                optimiser.step()
                losses.append(loss.item())
            accuracy, va_ccc = _validate(net, x_va, va.emotion_scores)
            history.append(
                {
                    "epoch": epoch,
                    "train_loss": float(np.mean(losses)),
                    "val_accuracy": accuracy,
                    "val_va_ccc": va_ccc,
                }
            )
            if best is None or accuracy > best[0]:
                best = (accuracy, epoch, {k: v.detach().clone() for k, v in net.state_dict().items()}, va_ccc)
            if epoch - best[1] >= cfg.patience:
                break
        assert best is not None
        accuracy, best_epoch, state, va_ccc = best
    finally:
        torch.set_num_threads(previous_threads)
    _log(
        f"best epoch {best_epoch}: val accuracy {accuracy:.3f}, V/A CCC {va_ccc:.3f} "
        f"({time.perf_counter() - start:.0f} s)"
    )
    config = {
        "kind": KIND,
        "format_version": FORMAT_VERSION,
        "fps": EVAL_FPS,
        "hidden": list(HIDDEN),
        "features": "per-channel mean, std, min, max of the 61 ARKit channels at 10 fps (clips cut at 10 s), "
        "standardised with the training split's feature mean/std",
        "emotions": list(EMOTIONS),
        "emotion_va": EMOTION_VA.tolist(),
        "circumplex": CIRCUMPLEX_DESCRIPTION,
        "loss": f"soft cross-entropy on the six scores + {cfg.va_weight} x MSE on circumplex (v, a)",
        "training": {
            **asdict(cfg),
            "seed": seed,
            "quick": quick,
            "dataset": dataset.name,
            "data_fingerprint": fingerprint,
            "n_train": len(tr),
            "n_val": len(va),
            "best_epoch": best_epoch,
            "epochs_run": len(history),
            "history": history,
        },
        "validation": {"accuracy": accuracy, "va_ccc": va_ccc, "n": len(va)},
    }
    tensors = {f"net.{k}": v.numpy() for k, v in state.items()}
    tensors |= {"features.mean": f_mean, "features.std": f_std}
    return write_checkpoint(out, tensors, config)


def _validate(net: EmotionMLP, x: torch.Tensor, scores: np.ndarray) -> tuple[float, float]:
    net.eval()
    with torch.inference_mode():
        out = net(x).numpy()
    accuracy = float((out[:, :N_EMOTIONS].argmax(1) == scores.argmax(1)).mean())
    try:
        va_ccc = ccc(va_from_scores(scores), out[:, N_EMOTIONS:]).value
    except ValueError:  # constant targets in a tiny val set
        va_ccc = float("nan")
    return accuracy, va_ccc
