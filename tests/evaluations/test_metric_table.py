"""The metric table: every key once, and the one table that results and the runner share."""

from evaluations import metric_table as table
from evaluations import results


def test_keys_are_unique_and_indexed():
    keys = [m.key for m in table.METRICS]
    assert len(keys) == len(set(keys))
    assert {m.key: m for m in table.METRICS} == table.METRIC_INDEX
    assert {m.group for m in table.METRICS} == set(table.GROUP_TITLES)
    assert {m.better for m in table.METRICS} <= {table.HIGHER, table.LOWER, table.CLOSER_TO_GT}


def test_key_builders_match_the_table():
    assert [table.r_precision_key(k) for k in (1, 2, 3)] == [m.key for m in table.METRICS[:3]]
    assert table.METRIC_INDEX[table.vertex_l1_key("lip")].title == "L1 lip mm"
    assert table.METRIC_INDEX[table.FID].arrow == "↓" and table.METRIC_INDEX[table.DIVERSITY].arrow == "→"


def test_results_reads_the_same_table():
    assert results.METRICS is table.METRICS and results.GROUP_TITLES is table.GROUP_TITLES


def test_emotegpt_reports_valence_and_arousal_separately_and_free_running_cppl_is_not_cteg():
    emotegpt = [m.key for m in table.METRICS if m.group == table.EMOTEGPT]
    assert table.V_CCC in emotegpt and table.A_CCC in emotegpt and "va_ccc" not in table.METRIC_INDEX
    cteg = {m.key: m for m in table.METRICS if m.group == table.CTEG}
    assert set(cteg) == {table.VARIATION, table.TEMPORAL_VARIATION, table.FGD, table.DOT}
    assert "not CTEG" in cteg[table.TEMPORAL_VARIATION].title
    free = table.METRIC_INDEX[table.CPPL_FREE_RUNNING]
    assert (free.title, free.group) == ("Cppl (free-running)", table.FREE_RUNNING)
    assert "not the paper's" in table.GROUP_TITLES[table.FREE_RUNNING]
