"""``retrieval``: play the training clip whose prompt is nearest to the request in MiniLM space.

The seed picks among the top-k neighbours; the clip is fitted to the requested duration by a
bounded time-stretch, then cropped to its most expressive window or padded with idle life.
"""

from studio.models.retrieval.model import RetrievalModel

__all__ = ["RetrievalModel"]
