"""The Explore clip table's search, filters and pages (pure functions, no browser)."""

from __future__ import annotations

import pytest

from studio.ui.explore import (
    ANY,
    TableCache,
    filter_rows,
    markdown_text,
    page_markdown,
    page_of,
    split_choices,
    watch_item,
)

ROWS = [
    [
        f"clip-{i:03d}",
        f"A person {'smiles' if i % 3 else 'FROWNS'} (take {i})",
        ["train", "test", ""][i % 3],
        1.0,
        2,
        "happiness (0.80)" if i % 2 else "sadness (0.55)",
        "",
    ]
    for i in range(120)
]


def test_search_is_a_case_insensitive_substring_of_prompt_or_id():
    assert len(filter_rows(ROWS, "frowns")) == 40
    assert [r[0] for r in filter_rows(ROWS, "  CLIP-007 ")] == ["clip-007"]
    assert len(filter_rows(ROWS, "")) == len(filter_rows(ROWS, None)) == 120
    assert filter_rows(ROWS, "nothing like this") == []
    assert len(filter_rows(ROWS, "(take 1")) == 31  # 1, 10-19, 100-119: no regex, brackets are text


def test_split_and_category_filters_combine_with_search():
    assert len(filter_rows(ROWS, split="train")) == 40
    assert len(filter_rows(ROWS, split=ANY, category=ANY)) == 120
    assert len(filter_rows(ROWS, category="happiness")) == 60
    both = filter_rows(ROWS, "smiles", split="test", category="sadness")
    assert both and all(r[2] == "test" and r[5].startswith("sadness") and "smiles" in r[1] for r in both)
    assert filter_rows(ROWS, category="happ") == []  # a category is a whole name, not a prefix


@pytest.mark.parametrize(
    ("page", "expected", "first"),
    [
        (1, 1, "clip-000"),
        (2, 2, "clip-050"),
        (3, 3, "clip-100"),
        (9, 3, "clip-100"),
        (0, 1, "clip-000"),
        (-4, 1, "clip-000"),
        (None, 1, "clip-000"),
        (float("nan"), 1, "clip-000"),
    ],
)
def test_pages_are_clamped(page, expected, first):
    rows, number, n_pages = page_of(ROWS, page)
    assert (number, n_pages, rows[0][0]) == (expected, 3, first)
    assert len(rows) == (20 if expected == 3 else 50)


def test_no_rows_is_one_empty_page():
    assert page_of([], 5) == ([], 1, 1)
    assert page_markdown(0, 120, 1, 1) == "page 1 of 1 · 0 of 120 clips match"
    assert split_choices(ROWS) == [ANY, "test", "train"]


def test_the_table_cache_keeps_the_last_few():
    cache = TableCache(size=2)
    for i in range(3):
        cache.put((f"/data/{i}", 10), [[i]])
    assert cache.get(("/data/0", 10)) is None and cache.get(("/data/2", 10)) == [[2]]


def test_prompts_and_ids_show_literally_in_markdown():
    assert markdown_text("a *bold* [link](x) <b>") == r"a \*bold\* \[link\]\(x\) \<b\>"
    assert markdown_text("two\n\nlines  here") == "two lines here"  # one line: a prompt cannot end the quote
    assert markdown_text("x" * 700).endswith("x…") and len(markdown_text("x" * 700)) == 600


def test_an_id_the_folder_lacks_opens_nothing(tmp_path):
    # a map click sends an id from the browser: only an id of the opened folder is read and rendered
    from studio.config import StudioConfig
    from tests.analysis.conftest import write_tiny_dataset

    root = write_tiny_dataset(tmp_path / "data" / "tiny")
    config = StudioConfig(output_dir=tmp_path / "out", data_dirs=(tmp_path / "data",))
    for forged in ("item-99", "../tiny/clips/item-00", "", None):
        video, message, curves = watch_item(config, str(root), forged, "front")
        assert (video, curves) == (None, None) and message == "Click a row of the table or a point of a map."
    assert not (tmp_path / "out").exists()  # nothing was rendered
