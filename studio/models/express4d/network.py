"""Express4D's MDM transformer with MDM's own parameter names, and the CLIP text encoder (torch).

The module tree mirrors ``model/mdm.py`` of MDM (Tevet et al.) as Express4D configures it
(``data_rep='hml_vec'``, ``arch='trans_enc'``, text condition), so that a converted checkpoint's
state dict loads with ``strict`` key checking::

    input_process.poseEmbedding        Linear(njoints * nfeats -> latent)
    sequence_pos_encoder.pe            (max_len, 1, latent) sinusoid buffer
    embed_timestep.time_embed.{0,2}    Linear, SiLU, Linear on pe[t]
    embed_timestep.sequence_pos_encoder.pe   (the same buffer, listed twice)
    seqTransEncoder.layers.{i}.*       nn.TransformerEncoderLayer (post-norm, GELU, seq-first)
    embed_text                         Linear(clip_dim -> latent)
    output_process.poseFinal           Linear(latent -> njoints * nfeats)

Shapes: motion ``x (B, njoints, nfeats, N)`` (Express4D: ``(B, 61, 1, 196)`` at 20 fps, z-scored),
``timesteps (B,) int64``, encoded text ``(B, clip_dim)``; MDM predicts the clean motion x0.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
import torch
from torch import nn

MAX_POSITIONS = 5000  # MDM's PositionalEncoding max_len


@dataclass(frozen=True)
class MDMConfig:
    """MDM's constructor arguments that shape the weights (Express4D's defaults)."""

    njoints: int = 61
    nfeats: int = 1
    latent_dim: int = 512
    ff_size: int = 1024
    num_layers: int = 8
    num_heads: int = 4
    activation: str = "gelu"
    clip_dim: int = 512

    def to_dict(self) -> dict[str, int | str]:
        return asdict(self)

    @classmethod
    def from_state_dict(
        cls, state: dict[str, np.ndarray], num_heads: int = 4, activation: str = "gelu"
    ) -> MDMConfig:
        """Read the sizes off the weights; heads and activation leave no trace in them."""
        latent, input_feats = state["input_process.poseEmbedding.weight"].shape
        layers = {int(k.split(".")[2]) for k in state if k.startswith("seqTransEncoder.layers.")}
        ff_size = state["seqTransEncoder.layers.0.linear1.weight"].shape[0]
        clip_dim = state["embed_text.weight"].shape[1]
        return cls(
            int(input_feats), 1, int(latent), int(ff_size), len(layers), num_heads, activation, int(clip_dim)
        )


def sinusoid_table(max_len: int, dim: int) -> torch.Tensor:
    """MDM's positional table ``(max_len, 1, dim)``: sin on even, cos on odd columns."""
    position = torch.arange(max_len, dtype=torch.float32)[:, None]
    div_term = torch.exp(torch.arange(0, dim, 2).float() * (-math.log(10000.0) / dim))
    table = torch.zeros(max_len, dim)
    table[:, 0::2] = torch.sin(position * div_term)
    table[:, 1::2] = torch.cos(position * div_term)
    return table[:, None, :]


class PositionalEncoding(nn.Module):
    def __init__(self, dim: int) -> None:
        super().__init__()
        self.register_buffer("pe", sinusoid_table(MAX_POSITIONS, dim))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """``x (S, B, d)`` -> ``x + pe[:S]`` (dropout is a no-op at inference)."""
        return x + self.pe[: x.shape[0]]


class TimestepEmbedder(nn.Module):
    def __init__(self, dim: int, positions: PositionalEncoding) -> None:
        super().__init__()
        self.sequence_pos_encoder = positions
        self.time_embed = nn.Sequential(nn.Linear(dim, dim), nn.SiLU(), nn.Linear(dim, dim))

    def forward(self, timesteps: torch.Tensor) -> torch.Tensor:
        """``(B,)`` steps -> ``(1, B, d)``."""
        return self.time_embed(self.sequence_pos_encoder.pe[timesteps]).permute(1, 0, 2)


class InputProcess(nn.Module):
    def __init__(self, input_feats: int, dim: int) -> None:
        super().__init__()
        self.poseEmbedding = nn.Linear(input_feats, dim)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """``(B, J, F, N)`` -> ``(N, B, d)``."""
        b, j, f, n = x.shape
        return self.poseEmbedding(x.permute(3, 0, 1, 2).reshape(n, b, j * f))


class OutputProcess(nn.Module):
    def __init__(self, dim: int, njoints: int, nfeats: int) -> None:
        super().__init__()
        self.njoints, self.nfeats = njoints, nfeats
        self.poseFinal = nn.Linear(dim, njoints * nfeats)

    def forward(self, h: torch.Tensor) -> torch.Tensor:
        """``(N, B, d)`` -> ``(B, J, F, N)``."""
        n, b, _ = h.shape
        return self.poseFinal(h).reshape(n, b, self.njoints, self.nfeats).permute(1, 2, 3, 0)


class MDM(nn.Module):
    """MDM's text-conditioned transformer encoder (inference only: no CLIP inside, no dropout)."""

    def __init__(self, cfg: MDMConfig) -> None:
        super().__init__()
        self.cfg = cfg
        d = cfg.latent_dim
        self.input_process = InputProcess(cfg.njoints * cfg.nfeats, d)
        self.sequence_pos_encoder = PositionalEncoding(d)
        layer = nn.TransformerEncoderLayer(
            d, cfg.num_heads, cfg.ff_size, dropout=0.0, activation=cfg.activation
        )
        # the nested-tensor fast path only applies to padded batches; keep the plain path everywhere
        self.seqTransEncoder = nn.TransformerEncoder(layer, cfg.num_layers, enable_nested_tensor=False)
        self.embed_timestep = TimestepEmbedder(d, self.sequence_pos_encoder)
        self.embed_text = nn.Linear(cfg.clip_dim, d)
        self.output_process = OutputProcess(d, cfg.njoints, cfg.nfeats)

    def forward(
        self,
        x: torch.Tensor,
        timesteps: torch.Tensor,
        text: torch.Tensor,
        padding: torch.Tensor | None = None,
    ) -> torch.Tensor:
        """``x (B, J, F, N)``, ``timesteps (B,)``, ``text (B, clip_dim)`` (zeros = no text),
        ``padding (B, N) bool`` True on padded frames -> x0 ``(B, J, F, N)``."""
        emb = self.embed_timestep(timesteps) + self.embed_text(text)  # (1, B, d)
        seq = self.sequence_pos_encoder(torch.cat([emb, self.input_process(x)], dim=0))
        mask = None
        if padding is not None:  # the condition token is never padding
            mask = torch.cat([torch.zeros_like(padding[:, :1]), padding], dim=1)
        return self.output_process(self.seqTransEncoder(seq, src_key_padding_mask=mask)[1:])


class SequenceDenoiser(nn.Module):
    """Adapts :class:`MDM` to the studio samplers' ``(x (B, N, C), t (B,), text) -> x0 (B, N, C)``."""

    def __init__(self, mdm: MDM) -> None:
        super().__init__()
        self.mdm = mdm

    def forward(self, x: torch.Tensor, t: torch.Tensor, text: torch.Tensor) -> torch.Tensor:
        out = self.mdm(x.permute(0, 2, 1)[:, :, None, :], t, text)  # (B, C, 1, N)
        return out[:, :, 0, :].permute(0, 2, 1)


class CLIPTextEncoder:
    """CLIP's text tower from a local folder: prompts -> ``(B, projection_dim) float32``.

    The folder is what ``transformers`` saves for a CLIP model (``config.json``,
    ``model.safetensors``, ``vocab.json``, ``merges.txt``...), e.g. a copy of
    ``openai/clip-vit-base-patch32``. The vector is the projected end-of-text feature, which is
    what OpenAI's ``clip.encode_text`` (and so MDM) computes. Nothing is downloaded; only
    safetensors weights are read.
    """

    def __init__(self, folder: Path, device: str = "cpu", max_tokens: int = 77) -> None:
        from transformers import CLIPTextModelWithProjection, CLIPTokenizer
        from transformers.utils import logging as hf_logging

        hf_logging.disable_progress_bar()  # one line per model in `models list`, not a progress bar
        self.folder = folder
        self.device = device
        self.max_tokens = max_tokens
        self.tokenizer = CLIPTokenizer.from_pretrained(str(folder), local_files_only=True)
        self.model = CLIPTextModelWithProjection.from_pretrained(
            str(folder), local_files_only=True, use_safetensors=True
        )
        self.model.to(device).eval()
        self.dim = int(self.model.config.projection_dim)

    def __call__(self, prompts: list[str]) -> torch.Tensor:
        tokens = self.tokenizer(
            prompts, padding="max_length", truncation=True, max_length=self.max_tokens, return_tensors="pt"
        )
        with torch.inference_mode():
            out = self.model(
                input_ids=tokens["input_ids"].to(self.device),
                attention_mask=tokens["attention_mask"].to(self.device),
            )
        return out.text_embeds.float()
