"""Dataset and model analysis: FACS emotion categories of prompts and motion, t-SNE maps, charts.

* :func:`analyse_dataset` (a dataset folder -> :class:`DatasetAnalysis`), :func:`analyse_models`
  and :func:`select_rows` (what models produced, and how consistent it is with the prompt);
* :func:`build_figures` and the pure ``chart_*`` functions in :mod:`studio.analysis.charts`
  (arrays in, ``plotly.graph_objects.Figure`` out);
* categorisers in :mod:`studio.analysis.categorise` (offline zero-shot MiniLM, motion via
  :mod:`studio.facs`) and :mod:`studio.analysis.llm` (OpenAI-compatible endpoint);
* :func:`write_report` writes HTML + PNG charts, ``categories.csv`` and ``summary.json``.

``python -m studio analyze DATA --out DIR [--models a,b]`` is the command line.
"""

from studio.analysis.embeddings import EmbeddingCache, default_cache_dir
from studio.analysis.report import (
    DatasetAnalysis,
    LabelAccuracy,
    ModelAnalysis,
    analyse_dataset,
    analyse_models,
    build_figures,
    consistency_table,
    select_rows,
)

__all__ = [
    "DatasetAnalysis",
    "EmbeddingCache",
    "LabelAccuracy",
    "ModelAnalysis",
    "analyse_dataset",
    "analyse_models",
    "build_figures",
    "consistency_table",
    "default_cache_dir",
    "select_rows",
    "write_report",
]


def write_report(*args, **kwargs):
    """See :func:`studio.analysis.export.write_report`."""
    from studio.analysis.export import write_report as _write_report

    return _write_report(*args, **kwargs)
