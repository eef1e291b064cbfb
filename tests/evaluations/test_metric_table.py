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
