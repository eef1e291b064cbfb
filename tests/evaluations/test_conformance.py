"""The conformance check: every metric agrees with its independent reference within tolerance.

Also shows the check can fail: a metric swapped for a wrong reading is caught, and the script
exits non-zero.
"""

import importlib.util
import json
from pathlib import Path

import numpy as np
import pytest

from evaluations import conformance
from evaluations import metrics as M  # noqa: N812

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def checks():
    return conformance.run_checks(seed=0)


def test_every_metric_matches_its_reference(checks):
    failed = [c for c in checks if not c.passed]
    assert not failed, conformance.markdown_table(failed)
    covered = {c.metric.split(" (")[0] for c in checks}
    for name in (
        "FID",
        "R-precision R@1..3",
        "MM-Dist",
        "Diversity",
        "MultiModality",
        "W-Dist",
        "V-CCC",
        "A-CCC",
        "Emotion accuracy",
        "Variation",
        "FgD",
        "DoT",
        "Cppl",
        "Fleiss' kappa",
        "Kendall's W",
        "Krippendorff's alpha",
        "Bradley–Terry strengths",
        "Bootstrap SE",
    ):
        assert name in covered, name
    inputs = " ".join(c.inputs for c in checks)
    for kind in (conformance.TIES, conformance.SINGULAR, conformance.RAGGED, conformance.FAR, "6 dropped"):
        assert kind in inputs


def test_a_wrong_reading_is_caught(monkeypatch):
    # The pre-issue-17 Variation (variance over time) and a per-sequence FgD must fail eq. 13 / 14.
    monkeypatch.setattr(M, "variation", M.temporal_variation)

    def per_sequence_fgd(seqs):
        return M.SequenceMetricResult(
            float(np.mean([np.linalg.norm(np.diff(s, axis=0), axis=1).mean() for s in seqs])), "FgD", 0, 0, ""
        )

    monkeypatch.setattr(M, "fine_grained_diversity", per_sequence_fgd)
    failed = {c.metric for c in conformance.run_checks(seed=0) if not c.passed}
    assert {"Variation (eq. 13)", "FgD (eq. 14)"} <= failed


def test_tables_and_json(checks):
    table = conformance.markdown_table(checks)
    assert table.startswith("| Metric | Reference | Inputs | Max abs diff | Tolerance | Pass |")
    assert len(table.strip().splitlines()) == len(checks) + 2
    rows = json.loads(conformance.to_json(checks))
    assert rows[0].keys() == {"metric", "reference", "inputs", "max_abs_diff", "tolerance", "passed"}


def test_script_writes_the_table_and_exits_non_zero_on_failure(tmp_path, monkeypatch, capsys):
    spec = importlib.util.spec_from_file_location("conformance_script", ROOT / "scripts" / "conformance.py")
    script = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(script)
    fake = [
        conformance.Check("A", "ref", "random", 0.0, 1e-12, True),
        conformance.Check("B", "ref", "ties", 1.0, 1e-12, False),
    ]
    monkeypatch.setattr(conformance, "run_checks", lambda seed=0: fake[:1])
    assert script.main(["--out", str(tmp_path / "c.md")]) == 0
    assert (tmp_path / "c.md").read_text().count("\n") == 3
    monkeypatch.setattr(conformance, "run_checks", lambda seed=0: fake)
    assert script.main(["--json", "--out", str(tmp_path / "c.json")]) == 1
    assert [r["passed"] for r in json.loads((tmp_path / "c.json").read_text())] == [True, False]
    assert "1 of 2 checks FAILED: B (ties)" in capsys.readouterr().err
