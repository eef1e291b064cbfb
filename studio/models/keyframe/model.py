"""The ``keyframe`` family: keyframe descriptions -> ARKit poses (MLP on MiniLM) -> eased clip.

Regression head: ``[MiniLM(piece) ; MiniLM(context)] (768,)`` -> ``(61 + 4,)``: the keyframe's
pose as an offset from the rest face (ARKit order; blendshape weights and radians) and the
amplitudes (standard deviations, radians / weights) of head yaw, pitch, roll and jaw
oscillation around it — a keyframe cannot hold a head shake, so the head says how much of one
to add. A 2-hidden-layer GELU MLP trained in torch on the corpus keyframe annotations
(``keyframes`` JSON column: each keyframe's time and text); inference runs in numpy.

Checkpoint tensors (float32): ``mlp.0.weight (H, 768)``, ``mlp.0.bias``, ``mlp.1.weight (H, H)``,
``mlp.1.bias``, ``mlp.2.weight (65, H)``, ``mlp.2.bias``, ``target_mean (65,)``,
``target_std (65,)``, ``osc_floor (4,)`` (the oscillation idle life already has).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np

from studio.formats.checkpoints import write_checkpoint
from studio.models.base import ExpressionModel, ModelError, ModelSpec
from studio.models.common import family_checkpoint, performers, prompt_rng
from studio.models.keyframe.text import KeyframePlan, split_keyframes
from studio.models.registry import register_model
from studio.motion import ARKIT_CHANNELS, ARKIT_INDEX, N_ARKIT, MotionClip
from studio.threads import one_blas_thread

FAMILY = "keyframe"
FORMAT_VERSION = 1
FPS = 30.0
N_SHAPES = 52
TEXT_ENCODER = "all-MiniLM-L6-v2"
EMBED_DIM = 384
OSC_CHANNELS = ("headYaw", "headPitch", "headRoll", "jawOpen")
OSC_HZ = (2.3, 2.0, 1.5, 4.0)  # a head shake, a nod, a wobble, a laugh's or talk's jaw (corpus ranges)
N_OUT = N_ARKIT + len(OSC_CHANNELS)
WINDOW_S = 0.5  # oscillation is measured within +-0.5 s of a keyframe
_BLINKS = [ARKIT_INDEX["eyeBlinkLeft"], ARKIT_INDEX["eyeBlinkRight"]]
_LAYERS = ("mlp.0", "mlp.1", "mlp.2")


def _gelu(x: np.ndarray) -> np.ndarray:
    """GELU, tanh form (what ``torch.nn.GELU(approximate="tanh")`` computes)."""
    return 0.5 * x * (1.0 + np.tanh(0.7978845608028654 * (x + 0.044715 * x**3)))


def keyframe_targets(values: np.ndarray, fps: float, times_s: list[float]) -> np.ndarray:
    """Regression targets of a clip ``(T, 61)`` at keyframe times: ``(K, 65) float32``.

    Pose = the frame at each time minus the rest face (per-channel minimum of the blendshapes and
    median of the rotations over the first 0.3 s), taken as a median over +-0.1 s, and for the
    blink channels as a minimum over it (an idle blink caught at a keyframe is not the pose).
    Oscillation = the detrended standard deviation of each :data:`OSC_CHANNELS` within +-0.5 s.
    """
    head = values[: max(int(0.3 * fps), 1)]
    rest = np.concatenate([head[:, :N_SHAPES].min(axis=0), np.median(head[:, N_SHAPES:], axis=0)])
    n = len(values)
    near, wide = max(round(0.1 * fps), 1), max(round(WINDOW_S * fps), 2)
    out = np.zeros((len(times_s), N_OUT), np.float32)
    osc_cols = [ARKIT_INDEX[c] for c in OSC_CHANNELS]
    for k, t in enumerate(times_s):
        f = int(np.clip(round(t * fps), 0, n - 1))
        window = values[max(f - near, 0) : f + near + 1]
        pose = np.median(window, axis=0)
        pose[_BLINKS] = window[:, _BLINKS].min(axis=0)
        out[k, :N_ARKIT] = pose - rest
        segment = values[max(f - wide, 0) : f + wide + 1][:, osc_cols].astype(np.float64)
        if len(segment) >= 3:
            x = np.arange(len(segment))
            trend = np.polynomial.polynomial.polyfit(x, segment, 1)
            residual = segment - np.polynomial.polynomial.polyval(x, trend).T
            out[k, N_ARKIT:] = residual.std(axis=0)
    return out


def keyframe_times(count: int, duration_s: float, rng: np.random.Generator) -> np.ndarray:
    """``count`` increasing keyframe times (s) spread over the clip: the k-th near ``D (k+1) / (K+1)``."""
    spacing = duration_s / (count + 1)
    times = spacing * (np.arange(count) + 1) + rng.uniform(-0.12, 0.12, count) * spacing
    return np.maximum(times, 1e-3 + np.arange(count) * 1e-3)


@register_model(FAMILY)
class KeyframeModel(ExpressionModel):
    """Prompt -> keyframe plan -> one pose (and oscillation) per keyframe -> eased clip + idle life.

    ``generate`` returns ``(round(duration_s * 30), 61) float32`` ARKit at 30 fps; ``meta`` holds
    ``keyframes`` (the descriptions used), ``keyframe_times_s`` and ``script`` (whether the prompt
    was parsed as a KeyframeFace script).
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
            self.layers = [
                (tensors[f"{p}.weight"].astype(np.float32), tensors[f"{p}.bias"].astype(np.float32))
                for p in _LAYERS
            ]
            self.mean = tensors["target_mean"].astype(np.float32)
            self.std = tensors["target_std"].astype(np.float32)
            self.osc_floor = tensors["osc_floor"].astype(np.float32)
        except KeyError as exc:
            raise ModelError(f"{name}: checkpoint lacks tensor {exc}") from None
        if self.layers[0][0].shape[1] != 2 * EMBED_DIM or self.layers[-1][0].shape[0] != N_OUT:
            shape = (self.layers[0][0].shape[1], self.layers[-1][0].shape[0])
            raise ModelError(
                f"{name}: regression head maps {shape[0]} -> {shape[1]}, expected {2 * EMBED_DIM} -> {N_OUT}"
            )

    @classmethod
    def from_spec(cls, spec: ModelSpec) -> KeyframeModel:
        ckpt = family_checkpoint(spec, FAMILY)
        return cls(spec.name, ckpt.tensors, ckpt.config, ckpt.sha256)

    def predict(self, features: np.ndarray) -> np.ndarray:
        """``(K, 768)`` features -> ``(K, 65)``: pose offsets ``(K, 61)`` then oscillation amplitudes."""
        x = features.astype(np.float32)
        for i, (weight, bias) in enumerate(self.layers):
            x = x @ weight.T + bias
            if i < len(self.layers) - 1:
                x = _gelu(x)
        return x * self.std + self.mean

    def keyframes(self, plan: KeyframePlan) -> tuple[np.ndarray, np.ndarray]:
        """Poses ``(K, 61)`` and oscillation amplitudes ``(K, 4)`` (above idle) for a plan."""
        from studio.text import embed_text, embed_texts

        context = embed_text(plan.context)  # memoised: the same prompt with another seed is free
        pieces = [context if p == plan.context else None for p in plan.pieces]
        todo = [p for p, e in zip(plan.pieces, pieces, strict=True) if e is None]
        fresh = iter(embed_texts(todo)) if todo else iter(())
        rows = np.stack([e if e is not None else next(fresh) for e in pieces])
        features = np.concatenate([rows, np.broadcast_to(context, rows.shape)], axis=1)
        out = self.predict(features)
        return out[:, :N_ARKIT], np.clip(out[:, N_ARKIT:] - self.osc_floor, 0.0, None)

    def generate(self, prompt: str, *, seed: int, duration_s: float) -> MotionClip:
        with one_blas_thread():
            return self._generate(prompt, seed, duration_s)

    def _generate(self, prompt: str, seed: int, duration_s: float) -> MotionClip:
        from studio.corpus.synth import render

        plan = split_keyframes(prompt)
        poses, osc = self.keyframes(plan)
        rng = prompt_rng(prompt, seed)
        cast = performers()
        performer = cast[int(rng.integers(len(cast)))]
        times = keyframe_times(len(poses), duration_s, rng)
        n = max(round(duration_s * FPS), 1)
        # render() is the corpus's own synthesis: rest face + cosine-eased keyframe track (from
        # rest, holding the last pose, relaxing at the end) + the performer's style + idle life
        values = render((), duration_s, performer, rng, keyframes=(times, poses.astype(np.float64)))
        values = values[:n].astype(np.float64)
        values += self.oscillation(n, times, osc, rng)
        values[:, :N_SHAPES] = np.clip(values[:, :N_SHAPES], 0.0, 1.0)
        meta = {
            "model": self.name,
            "seed": seed,
            "keyframes": list(plan.pieces),
            "script": plan.script,
            "keyframe_times_s": [round(float(t), 3) for t in times],
        }
        return MotionClip(values.astype(np.float32), FPS, "arkit", ARKIT_CHANNELS, meta)

    @staticmethod
    def oscillation(
        n_frames: int, times: np.ndarray, amplitude: np.ndarray, rng: np.random.Generator
    ) -> np.ndarray:
        """Sinusoids ``(n_frames, 61)`` under a raised-cosine window around each keyframe.

        ``amplitude (K, 4)`` are standard deviations, so the sinusoid's peak is ``sqrt(2)`` times
        that; each window spans the keyframe's share of the clip (at most +-1 s).
        """
        t = np.arange(n_frames) / FPS
        out = np.zeros((n_frames, N_ARKIT))
        if not amplitude.any():
            return out
        half = min(1.0, (t[-1] + 1 / FPS) / (len(times) + 1))
        for k, centre in enumerate(times):
            window = 0.5 + 0.5 * np.cos(np.pi * np.clip((t - centre) / half, -1.0, 1.0))
            for c, (channel, hz) in enumerate(zip(OSC_CHANNELS, OSC_HZ, strict=True)):
                if amplitude[k, c] > 0:
                    phase = rng.uniform(0, 2 * np.pi)
                    wave = np.sin(2 * np.pi * hz * (t - centre) + phase)
                    if channel == "jawOpen":  # a jaw opens from its pose, never below it
                        wave = 0.5 + 0.5 * wave
                    out[:, ARKIT_INDEX[channel]] += np.sqrt(2) * amplitude[k, c] * window * wave
        return out

    @classmethod
    def train(
        cls,
        data: Path,
        out: Path,
        *,
        seed: int = 0,
        quick: bool = False,
        epochs: int | None = None,
        hidden: int | None = None,
    ) -> str:
        """Fit the regression head on a dataset folder's keyframe annotations; return the SHA-256.

        Every training item contributes one example per annotated keyframe (``keyframes`` JSON
        column: ``{"keyframes": [{"time_s", "text"}, ...]}``), paired with the whole prompt as
        context; when the prompt splits into as many pieces as it has keyframes, the pieces are
        added as further examples (what the model sees at inference). Items without annotations
        use keyframes picked from the clip (:func:`studio.formats.keyframeface.clip_to_keyframes`)
        described by the whole prompt. ``quick``: 60 items, a few epochs of a small head.
        """
        import torch

        from studio.formats import read_clip, read_dataset
        from studio.formats.keyframeface import clip_to_keyframes
        from studio.text import embed_texts

        dataset = read_dataset(data)
        train = dataset.split("train") or dataset.items
        val = dataset.split("val")
        if quick:  # a smoke run: embedding every keyframe text is what takes the time
            train, val = train[:60], val[:20]
        epochs = epochs or (4 if quick else 25)
        hidden = hidden or (64 if quick else 384)

        def examples(items) -> tuple[list[tuple[str, str]], np.ndarray]:
            pairs, targets = [], []
            for item in items:
                clip = read_clip(item.clip_path).clip
                if clip.space != "arkit":
                    raise ValueError(f"{item.clip_path}: the {FAMILY} family needs ARKit clips")
                texts, times = _annotations(item.labels.get("keyframes", ""))
                if not times:
                    times = [float(x) for x in clip_to_keyframes(clip)[0]]
                    texts = [item.prompt] * len(times)
                found = keyframe_targets(clip.values, clip.fps, times)
                pieces = split_keyframes(item.prompt).pieces
                for k, text in enumerate(texts):
                    pairs.append((text, item.prompt))
                    targets.append(found[k])
                    if len(pieces) == len(texts) and pieces[k] != text:
                        pairs.append((pieces[k], item.prompt))
                        targets.append(found[k])
            return pairs, np.array(targets, np.float32).reshape(-1, N_OUT)

        train_pairs, y_train = examples(train)
        val_pairs, y_val = examples(val) if val else ([], np.zeros((0, N_OUT), np.float32))
        strings = sorted({s for pair in train_pairs + val_pairs for s in pair})
        table = dict(zip(strings, embed_texts(strings), strict=True))

        def features(pairs: list[tuple[str, str]]) -> np.ndarray:
            return np.array([np.concatenate([table[a], table[b]]) for a, b in pairs], np.float32)

        x_train, x_val = features(train_pairs), features(val_pairs) if val_pairs else None
        mean = y_train.mean(axis=0)
        std = np.maximum(y_train.std(axis=0), 0.01)  # floor: near-constant channels are not amplified
        osc_floor = np.median(y_train[:, N_ARKIT:], axis=0)  # what idle sway and breathing already give

        torch.manual_seed(seed)
        net = torch.nn.Sequential(
            torch.nn.Linear(2 * EMBED_DIM, hidden),
            torch.nn.GELU(approximate="tanh"),
            torch.nn.Dropout(0.1),
            torch.nn.Linear(hidden, hidden),
            torch.nn.GELU(approximate="tanh"),
            torch.nn.Dropout(0.1),
            torch.nn.Linear(hidden, N_OUT),
        )
        xs = torch.from_numpy(x_train)
        ys = torch.from_numpy((y_train - mean) / std)
        batch = 256
        steps = epochs * max(1, int(np.ceil(len(xs) / batch)))
        optimiser = torch.optim.AdamW(net.parameters(), lr=1e-3, weight_decay=1e-4)
        schedule = torch.optim.lr_scheduler.OneCycleLR(optimiser, max_lr=2e-3, total_steps=steps)
        generator = torch.Generator().manual_seed(seed)
        net.train()
        for _ in range(epochs):
            order = torch.randperm(len(xs), generator=generator)
            for start in range(0, len(xs), batch):
                idx = order[start : start + batch]
                loss = torch.nn.functional.mse_loss(net(xs[idx]), ys[idx])
                optimiser.zero_grad()
                loss.backward()
                optimiser.step()
                schedule.step()
        net.eval()
        linear = [m for m in net if isinstance(m, torch.nn.Linear)]
        tensors = {
            f"{p}.{kind}": getattr(layer, kind).detach().numpy().astype(np.float32)
            for p, layer in zip(_LAYERS, linear, strict=True)
            for kind in ("weight", "bias")
        }
        tensors.update(target_mean=mean, target_std=std.astype(np.float32), osc_floor=osc_floor)

        report: dict[str, Any] = {}
        if x_val is not None:
            model = cls("train", tensors, {})
            pred = model.predict(x_val)
            for label, cols in (
                ("blendshapes", slice(0, N_SHAPES)),
                ("rotations", slice(N_SHAPES, N_ARKIT)),
                ("oscillation", slice(N_ARKIT, N_OUT)),
            ):
                err = float(np.mean((pred[:, cols] - y_val[:, cols]) ** 2))
                base = float(np.mean((mean[cols] - y_val[:, cols]) ** 2))
                report[f"val_r2_{label}"] = round(1.0 - err / max(base, 1e-12), 4)
        config = {
            "family": FAMILY,
            "format_version": FORMAT_VERSION,
            "text_encoder": TEXT_ENCODER,
            "fps": FPS,
            "hidden": hidden,
            "osc_channels": list(OSC_CHANNELS),
            "osc_hz": list(OSC_HZ),
            "training": {
                "data": dataset.name,
                "seed": seed,
                "quick": quick,
                "epochs": epochs,
                "train_items": len(train),
                "train_keyframes": len(train_pairs),
                "val_keyframes": len(val_pairs),
                **report,
            },
        }
        return write_checkpoint(out, tensors, config)


def _annotations(raw: str) -> tuple[list[str], list[float]]:
    """``keyframes`` label JSON -> (texts, times in s); empty when absent or unreadable."""
    try:
        keyframes = json.loads(raw)["keyframes"] if raw else []
        texts = [str(k.get("text") or k.get("state") or "") for k in keyframes]
        times = [float(k["time_s"]) for k in keyframes]
    except (json.JSONDecodeError, KeyError, TypeError, ValueError):
        return [], []
    keep = [i for i, text in enumerate(texts) if text.strip()]
    return [texts[i] for i in keep], [times[i] for i in keep]
