"""``keyframe``: the KeyframeFace idea without an LLM.

Text -> keyframe descriptions (a KeyframeFace script, or free text split on "then", ";",
"while" ...) -> one ARKit pose per keyframe (plus head-shake / nod / jaw oscillation amplitudes)
from a small MLP on MiniLM features -> eased interpolation with idle life.
"""

from studio.models.keyframe.model import KeyframeModel
from studio.models.keyframe.text import KeyframePlan, split_keyframes

__all__ = ["KeyframeModel", "KeyframePlan", "split_keyframes"]
