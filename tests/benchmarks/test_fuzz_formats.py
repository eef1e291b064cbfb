"""The format fuzzing benchmark, run briefly: every kind of file, mutated, through the readers
and the command line, with no crash and the JSON keys the benchmark promises."""

from __future__ import annotations

import json
import subprocess
import sys

from benchmarks import fuzz_formats


def test_a_short_fuzz_run_finds_no_crash(capsys):
    result = fuzz_formats.run(cases=60, seed=3, cli_every=3, workers=1)
    assert set(result) == {"cases", "clear_errors", "crashes", "max_rss_mb", "max_s"}
    assert result["cases"] == 60 and result["crashes"] == 0, capsys.readouterr().err
    assert 0 < result["clear_errors"] <= 60
    assert 0 < result["max_s"] < fuzz_formats.CASE_TIMEOUT_S and result["max_rss_mb"] > 0


def test_the_command_prints_the_json_object():
    command = [sys.executable, "-m", "benchmarks.fuzz_formats", "--json", "--cases", "20", "--workers", "1"]
    result = subprocess.run(command, capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout.strip().splitlines()[-1])["cases"] == 20
