"""The ``llm-keyframe`` family (KeyframeFace-style LLM over an OpenAI-compatible API): importing
this module registers it. See :mod:`studio.models.llm_keyframe.model`."""

from studio.models.llm_keyframe.model import LLMKeyframeModel, script_for

__all__ = ["LLMKeyframeModel", "script_for"]
