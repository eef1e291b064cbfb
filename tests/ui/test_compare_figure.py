"""The Compare tab's curve chart plots what the prompt is about, not the blinks."""

from __future__ import annotations

import numpy as np

from studio.compare import Comparison
from studio.models import Generation
from studio.motion import ARKIT_CHANNELS, MotionClip
from studio.ui.compare import comparison_figure


def arkit_clip(**ranges: float) -> MotionClip:
    values = np.zeros((60, 61), np.float32)
    ramp = np.sin(np.linspace(0, np.pi, 60))
    for name, peak in ranges.items():
        values[:, ARKIT_CHANNELS.index(name)] = peak * ramp
    return MotionClip(values, 30.0, "arkit", ARKIT_CHANNELS)


def test_a_smile_plots_the_smile_even_when_the_blinks_move_most():
    clip = arkit_clip(
        eyeBlinkLeft=1.0,
        eyeBlinkRight=1.0,
        mouthSmileLeft=0.5,
        mouthSmileRight=0.5,
        cheekSquintLeft=0.2,
        jawOpen=0.3,
        browInnerUp=0.2,
        mouthFunnel=0.1,
    )
    comparison = Comparison("A person smiles warmly at a friend", 0, 2.0, (Generation("a", clip, 1.0),))
    names = {trace.name.split(" · ")[1] for trace in comparison_figure(comparison).data}
    assert not {"eyeBlinkLeft", "eyeBlinkRight"} & names
    assert names & {"mouthSmileLeft", "mouthSmileRight"}


def test_flame_clips_plot_their_widest_moving_parameters():
    channels = (*tuple(f"expr_{i:03d}" for i in range(50)), "jaw_x", "jaw_y", "jaw_z")
    values = np.zeros((30, len(channels)), np.float32)
    values[:, 3] = np.linspace(0, 2, 30)
    clip = MotionClip(values, 30.0, "flame", channels)
    comparison = Comparison("A person smiles", 0, 1.0, (Generation("f", clip, 1.0),))
    assert [trace.name for trace in comparison_figure(comparison).data] == [f"f · {channels[3]}"]
