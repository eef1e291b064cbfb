"""Property: every mutation of a valid file, of every format the readers take, is read as a valid
clip (or index) or refused with one clear FormatError/ClipError — never another exception, a
warning, a hang or a large allocation.

The mutations (truncation, flipped bytes, renamed and duplicated columns, nesting, huge numbers,
other encodings, zip bombs, symlinks out of a folder...) are the fuzzing benchmark's
(benchmarks/fuzz_formats.py); hypothesis draws them, derandomised, so a run is reproducible
and a failure shrinks to a small case.
"""

from __future__ import annotations

import tempfile
import tracemalloc
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from benchmarks.fuzz_formats import CASE_TIMEOUT_S, KINDS, make_case, run_case, scratch_root, warm_up

EXAMPLES_PER_KIND = 30


@pytest.fixture(scope="module")
def scratch():
    warm_up()
    tracemalloc.start()  # each case's traced peak is checked against CASE_MEMORY_MB
    with tempfile.TemporaryDirectory(prefix="fuzz-test-", dir=scratch_root()) as tmp:
        yield Path(tmp)
    tracemalloc.stop()


@pytest.mark.parametrize("kind", KINDS)
@settings(
    max_examples=EXAMPLES_PER_KIND,
    derandomize=True,
    database=None,
    deadline=None,  # the case itself has a time cap (CASE_TIMEOUT_S); a loaded machine is slow
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(rng=st.randoms(use_true_random=False))
def test_a_mutated_file_is_a_valid_clip_or_one_clear_error(scratch, kind, rng):
    case = make_case(kind, rng)
    outcome = run_case(case, scratch / kind)
    assert outcome.result in ("accepted", "clear"), f"{kind} / {case.op}: {outcome.detail}"
    assert outcome.seconds < CASE_TIMEOUT_S
