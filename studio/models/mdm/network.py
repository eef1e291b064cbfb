"""The MDM denoiser, the cosine noise schedule and the DDIM sampler (torch; imported lazily).

Shapes: a batch of motions is ``x (B, N, C) float32`` — ``N`` frames at the model's internal
rate, ``C = 61`` z-scored ARKit channels; ``mask (B, N) bool`` is True on real frames, False on
padding; text features are ``(B, 384)`` frozen MiniLM vectors; diffusion steps ``t (B,) int64``
in ``[0, n_steps)``. The denoiser predicts the clean motion ``x0`` (as MDM does), not the noise.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass

import numpy as np
import torch
import torch.nn.functional as F  # noqa: N812 - the usual spelling
from torch import nn

N_PHASE = 4  # Fourier terms of the clip phase (frame / length) fed beside the absolute position


@dataclass(frozen=True)
class NetConfig:
    """Denoiser size. ``max_period`` bounds the sinusoidal frame-position encoding (frames)."""

    n_channels: int = 61
    text_dim: int = 384
    d_model: int = 128
    n_layers: int = 4
    n_heads: int = 4
    ff_mult: int = 2
    dropout: float = 0.0
    max_period: float = 1000.0

    def to_dict(self) -> dict[str, float | int]:
        return asdict(self)


def sinusoid(values: torch.Tensor, dim: int, max_period: float) -> torch.Tensor:
    """``(...,)`` positions or steps -> ``(..., dim)`` sin/cos features (Transformer style)."""
    half = dim // 2
    freqs = torch.exp(-math.log(max_period) * torch.arange(half, device=values.device) / half)
    angles = values.float()[..., None] * freqs
    return torch.cat([torch.sin(angles), torch.cos(angles)], dim=-1)


class Block(nn.Module):
    """Pre-norm transformer block whose norms are modulated by the condition (adaLN-zero, DiT).

    MDM prepends one condition token; modulating every block instead lets each layer see the text
    and the step directly, which matters when the training budget is minutes on a CPU.
    """

    def __init__(self, cfg: NetConfig) -> None:
        super().__init__()
        d = cfg.d_model
        self.n_heads = cfg.n_heads
        self.norm1 = nn.LayerNorm(d, elementwise_affine=False)
        self.qkv = nn.Linear(d, 3 * d)
        self.proj = nn.Linear(d, d)
        self.norm2 = nn.LayerNorm(d, elementwise_affine=False)
        self.ff = nn.Sequential(nn.Linear(d, cfg.ff_mult * d), nn.GELU(), nn.Linear(cfg.ff_mult * d, d))
        self.modulation = nn.Linear(d, 6 * d)  # shift/scale/gate for attention and feed-forward
        self.dropout = cfg.dropout

    def forward(self, h: torch.Tensor, cond: torch.Tensor, attn_mask: torch.Tensor | None) -> torch.Tensor:
        """``h (B, N, d)``, ``cond (B, d)``, ``attn_mask (B, 1, 1, N) bool`` or None -> ``(B, N, d)``."""
        shift1, scale1, gate1, shift2, scale2, gate2 = self.modulation(F.silu(cond))[:, None].chunk(6, -1)
        x = self.norm1(h) * (1 + scale1) + shift1
        b, n, d = x.shape
        q, k, v = self.qkv(x).view(b, n, 3, self.n_heads, d // self.n_heads).permute(2, 0, 3, 1, 4)
        drop = self.dropout if self.training else 0.0
        a = F.scaled_dot_product_attention(q, k, v, attn_mask=attn_mask, dropout_p=drop)
        h = h + gate1 * self.proj(a.transpose(1, 2).reshape(b, n, d))
        x = self.norm2(h) * (1 + scale2) + shift2
        return h + gate2 * F.dropout(self.ff(x), drop, self.training)


class Denoiser(nn.Module):
    """``(x_t, t, text, mask) -> x0``: predicts the clean z-scored motion from a noised one."""

    def __init__(self, cfg: NetConfig) -> None:
        super().__init__()
        self.cfg = cfg
        d = cfg.d_model
        self.in_proj = nn.Linear(cfg.n_channels, d)
        self.phase_proj = nn.Linear(2 * N_PHASE, d)
        self.time_mlp = nn.Sequential(nn.Linear(d, d), nn.SiLU(), nn.Linear(d, d))
        # frozen MiniLM features -> model width; a zero vector is the "no text" condition (CFG)
        self.text_mlp = nn.Sequential(nn.Linear(cfg.text_dim, d), nn.SiLU(), nn.Linear(d, d))
        self.blocks = nn.ModuleList(Block(cfg) for _ in range(cfg.n_layers))
        self.out_norm = nn.LayerNorm(d, elementwise_affine=False)
        self.out_modulation = nn.Linear(d, 2 * d)
        self.out_proj = nn.Linear(d, cfg.n_channels)
        for block in self.blocks:  # adaLN-zero: every block starts as the identity
            nn.init.zeros_(block.modulation.weight)
            nn.init.zeros_(block.modulation.bias)
        nn.init.zeros_(self.out_modulation.weight)
        nn.init.zeros_(self.out_modulation.bias)

    def forward(
        self, x: torch.Tensor, t: torch.Tensor, text: torch.Tensor, mask: torch.Tensor | None = None
    ) -> torch.Tensor:
        """``x (B, N, C)``, ``t (B,)``, ``text (B, 384)``, ``mask (B, N) bool`` -> ``x0 (B, N, C)``."""
        b, n, _ = x.shape
        frames = torch.arange(n, device=x.device)
        lengths = torch.full((b,), n, device=x.device) if mask is None else mask.sum(1)
        # the phase (0 at the start, 1 at the last real frame) tells every frame where it sits in
        # the clip, so "X and then Y" can split any requested duration
        phase = frames[None].float() / (lengths[:, None].float() - 1).clamp(min=1)
        k = torch.arange(1, N_PHASE + 1, device=x.device).float()
        angles = math.pi * phase[..., None] * k
        phase_feats = torch.cat([torch.sin(angles), torch.cos(angles)], -1)
        h = self.in_proj(x) + sinusoid(frames, self.cfg.d_model, self.cfg.max_period)[None]
        h = h + self.phase_proj(phase_feats)
        cond = self.time_mlp(sinusoid(t, self.cfg.d_model, 10000.0)) + self.text_mlp(text)
        attn_mask = None if mask is None else mask[:, None, None, :]
        for block in self.blocks:
            h = block(h, cond, attn_mask)
        shift, scale = self.out_modulation(F.silu(cond))[:, None].chunk(2, -1)
        return self.out_proj(self.out_norm(h) * (1 + scale) + shift)


def cosine_alpha_bar(n_steps: int = 1000, s: float = 0.008, max_beta: float = 0.999) -> np.ndarray:
    """Cumulative signal fraction ``alpha_bar[t]`` of the cosine schedule (Nichol & Dhariwal 2021).

    ``(n_steps,) float64``; betas are clipped at ``max_beta`` so the last step stays finite.
    """

    def f(u: np.ndarray) -> np.ndarray:
        return np.cos((u / n_steps + s) / (1 + s) * math.pi / 2) ** 2

    steps = np.arange(n_steps, dtype=np.float64)
    betas = np.minimum(1 - f(steps + 1) / f(steps), max_beta)
    return np.cumprod(1 - betas)


def ddim_timesteps(n_train: int, n_sample: int) -> list[int]:
    """``n_sample`` descending steps from ``n_train - 1`` to 0 (trailing spacing: the first
    step starts from pure noise, as training's last step does)."""
    n_sample = max(1, min(int(n_sample), n_train))
    if n_sample == 1:
        return [n_train - 1]
    return sorted({round(float(v)) for v in np.linspace(n_train - 1, 0, n_sample)}, reverse=True)


def guided_x0(
    net: nn.Module,
    x: torch.Tensor,
    t: int,
    text: torch.Tensor,
    guidance_scale: float,
    mask: torch.Tensor | None = None,
) -> torch.Tensor:
    """One denoiser call with classifier-free guidance on the x0 prediction.

    ``x (B, N, C)``, ``text (B, D)``; the "no text" condition is a zero text vector (MDM zeroes the
    encoded text the same way). ``x0 = x0_uncond + s * (x0_text - x0_uncond)``: ``s = 1`` is plain
    conditional sampling (one forward), ``s = 0`` unconditional. ``mask (B, N) bool`` marks real
    frames when clips of different lengths share a padded batch (only a masked net takes one).
    """
    b = x.shape[0]
    extra = {} if mask is None else {"mask": mask}
    if guidance_scale == 1.0 or guidance_scale == 0.0:
        text_in = text if guidance_scale == 1.0 else torch.zeros_like(text)
        return net(x, torch.full((b,), t, device=x.device, dtype=torch.long), text_in, **extra)
    if mask is not None:
        extra = {"mask": torch.cat([mask, mask])}
    pred = net(
        torch.cat([x, x]),
        torch.full((2 * b,), t, device=x.device, dtype=torch.long),
        torch.cat([text, torch.zeros_like(text)]),
        **extra,
    )
    cond, uncond = pred[:b], pred[b:]
    return uncond + guidance_scale * (cond - uncond)


@torch.no_grad()
def ddim_sample(
    net: nn.Module,
    noise: torch.Tensor,
    text: torch.Tensor,
    alpha_bar: torch.Tensor,
    *,
    n_steps: int = 50,
    guidance_scale: float = 2.5,
    x0_low: torch.Tensor | None = None,
    x0_high: torch.Tensor | None = None,
    mask: torch.Tensor | None = None,
) -> torch.Tensor:
    """Deterministic DDIM (eta = 0) with classifier-free guidance (:func:`guided_x0`).

    ``noise (B, N, C)`` is the start ``x_T``; ``text (B, D)``; ``alpha_bar (n_train,)``.
    ``x0_low/high (C,)`` clamp the prediction to the training range in z units, which keeps
    strong guidance from running off; ``mask (B, N) bool`` marks real frames of a padded batch.
    Returns ``x0 (B, N, C)`` in z units.
    """
    x = noise
    steps = ddim_timesteps(len(alpha_bar), n_steps)
    x0 = x
    for i, t in enumerate(steps):
        x0 = guided_x0(net, x, t, text, guidance_scale, mask)
        if x0_low is not None and x0_high is not None:
            x0 = torch.maximum(torch.minimum(x0, x0_high), x0_low)
        if i == len(steps) - 1:
            break
        a_t, a_next = alpha_bar[t], alpha_bar[steps[i + 1]]
        eps = (x - a_t.sqrt() * x0) / (1 - a_t).sqrt()
        x = a_next.sqrt() * x0 + (1 - a_next).sqrt() * eps
    return x0


@torch.no_grad()
def ddpm_sample(
    net: nn.Module,
    noise: torch.Tensor,
    text: torch.Tensor,
    alpha_bar: torch.Tensor,
    generators: list[torch.Generator],
    *,
    n_steps: int = 1000,
    guidance_scale: float = 2.5,
) -> torch.Tensor:
    """Ancestral sampling (MDM's ``p_sample_loop``) with the fixed-small posterior variance.

    The denoiser predicts x0; each step draws ``x_{t'} ~ q(x_{t'} | x_t, x0)``. With fewer than
    ``len(alpha_bar)`` steps the schedule is respaced (improved-diffusion's ``SpacedDiffusion``):
    the kept steps' ``alpha_bar`` define new betas. ``generators[i]`` draws clip ``i``'s noise (on
    the CPU, so a seed gives the same clip on any device). Returns ``x0 (B, N, C)`` in z units:
    at the last step the posterior mean is exactly the x0 prediction.
    """
    x = noise
    steps = ddim_timesteps(len(alpha_bar), n_steps)
    x0 = x
    for i, t in enumerate(steps):
        x0 = guided_x0(net, x, t, text, guidance_scale)
        if i == len(steps) - 1:
            break
        a_t, a_prev = alpha_bar[t], alpha_bar[steps[i + 1]]
        beta = 1 - a_t / a_prev
        mean = (a_prev.sqrt() * beta / (1 - a_t)) * x0 + ((1 - beta).sqrt() * (1 - a_prev) / (1 - a_t)) * x
        variance = beta * (1 - a_prev) / (1 - a_t)
        z = torch.stack([torch.randn(x.shape[1:], generator=g) for g in generators]).to(x.device)
        x = mean + variance.sqrt() * z
    return x0
