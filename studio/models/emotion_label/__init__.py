"""``emotion-label``: classify the prompt into one of six emotions, play that emotion's canned pose.

The classic pipeline the text-to-expression papers argue against, kept as the weak baseline:
MiniLM prompt features -> a multinomial logistic classifier -> the emotion's prototype pose
(the median apex pose of the most typical training clips of that emotion) under an eased
onset / apex / offset envelope, on top of synthetic idle life (blinks, sway, gaze).
"""

from studio.models.emotion_label.model import EmotionLabelModel

__all__ = ["EmotionLabelModel"]
