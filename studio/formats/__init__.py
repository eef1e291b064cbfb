"""Readers and writers: every file the studio touches goes through here.

``read_clip(path)`` picks the reader from the file name (and, for ``.csv``, the header):

=====================  =====================================================
``*.keyframes.csv``    KeyframeFace keyframe CSV (interpolated into a clip)
``*.csv``              Live Link Face CSV (``Keyframe`` header: keyframe CSV)
``*.npz``              studio npz, or FLAME parameters by key
``*.npy``              packed FLAME parameters, ``(T, 53)``, ``(50,)``...
``*.json``             a KeyframeFace model answer ``{"Keyframe_1": {...}}``
=====================  =====================================================

Every reader raises :class:`FormatError` (file, place, problem) and never returns half a file.
"""

from studio.formats.clips import WRITE_FORMATS, clip_format, read_clip, write_clip
from studio.formats.dataset import Dataset, DatasetItem, read_dataset, write_dataset
from studio.formats.errors import DEFAULT_MAX_FRAMES, FormatError, LoadedClip
from studio.formats.paths import resolve_inside

__all__ = [
    "DEFAULT_MAX_FRAMES",
    "WRITE_FORMATS",
    "Dataset",
    "DatasetItem",
    "FormatError",
    "LoadedClip",
    "clip_format",
    "read_clip",
    "read_dataset",
    "resolve_inside",
    "write_clip",
    "write_dataset",
]
