"""Widgets and helpers that more than one tab uses, so that tabs never import each other."""

from __future__ import annotations

from pathlib import Path

import gradio as gr

from renderers import CAMERA_PRESETS, ict_dir
from studio.config import StudioConfig
from studio.formats import FormatError
from studio.formats.paths import resolve_inside


def camera_radio() -> gr.Radio:
    """The camera preset picker: labels and names from :data:`renderers.CAMERA_PRESETS`."""
    return gr.Radio([(label, name) for name, label in CAMERA_PRESETS.items()], value="front", label="Camera")


def rig_choices() -> list[str]:
    """The rigs that can load here: the default head always, the ICT-FaceKit head when its folder
    is found (``STUDIO_ICT_DIR``); offering one that fails would fail every render."""
    return ["default", *(["ict"] if ict_dir() is not None else [])]


def rig_dropdown() -> gr.Dropdown:
    return gr.Dropdown(rig_choices(), value="default", label="Rig")


def dataset_choices(config: StudioConfig) -> list[str]:
    """Dataset folders (holding ``prompts.csv``) in or directly under the configured data folders."""
    found: list[str] = []
    for root in config.data_dirs:
        if (root / "prompts.csv").is_file():
            found.append(str(root))
        if root.is_dir():
            found += sorted(str(p.parent) for p in root.glob("*/prompts.csv"))
    return list(dict.fromkeys(found))


def resolve_dataset(config: StudioConfig, text: str | None) -> Path:
    """The dataset folder named by ``text``, or ValueError saying why it cannot be opened.

    Only folders inside ``config.data_dirs`` open: a browser user must not be able to make the
    server read arbitrary paths.
    """
    if not text or not text.strip():
        raise ValueError("Choose or type a dataset folder.")
    typed = text.strip()
    # a folder inside one of the roots, named absolutely or relative to it; symlinks are followed,
    # so a link inside a data folder pointing out of it is refused too. Messages name what was
    # typed, never where it resolved to.
    inside = False
    for root in config.data_dirs:
        try:
            path = resolve_inside(root, typed)
        except FormatError:
            continue
        if (path / "prompts.csv").is_file():
            return path
        inside = True
    if inside:
        raise ValueError(f"'{typed[:200]}' is not a dataset folder (no prompts.csv; see README).")
    raise ValueError(
        f"'{typed[:200]}' is outside the data folders this studio may open (the server's STUDIO_DATA_DIRS)."
    )
