"""Timeline steps: the activation envelope of one action instance."""

from __future__ import annotations

import dataclasses

import numpy as np

from studio.corpus.steps import FPS, Step, envelope


def test_envelope_shape():
    t = np.arange(0, 5, 1 / FPS)
    step = Step("smile", start=1.0, onset=0.4, apex=1.0, offset=0.6)
    env = envelope(t, step)
    assert env.min() >= 0 and env.max() <= 1
    assert np.all(env[t < 1.0] == 0) and np.all(env[t > 3.0 + 1e-9] == 0)
    apex = env[(t > 1.45) & (t < 2.35)]
    assert apex.min() > 0.85  # apex holds, sagging at most ~10 %
    rise = env[(t >= 1.0) & (t <= 1.4)]
    assert np.all(np.diff(rise) >= 0)  # monotone onset
    twice = envelope(t, dataclasses.replace(step, start=0.2, reps=2, gap=0.3, apex=0.5))
    onsets = np.flatnonzero((twice[1:] >= 0.5) & (twice[:-1] < 0.5))
    assert len(onsets) == 2  # two repetitions, two rises
