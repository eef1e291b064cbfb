"""Shared Compare links: every query value is untrusted, and a link reproduces its request."""

from __future__ import annotations

import urllib.parse

import pytest

from studio.compare import CompareRequest
from studio.models.base import MAX_SEED
from studio.models.prompts import MAX_PROMPT_CHARS
from studio.ui.compare import DURATION_MAX_S, DURATION_MIN_S, parse_shared, share_link

MODELS = ("alpha", "beta")
RIGS = ("default",)
CAMERAS = ("front", "three-quarter")


def parse(**query: str):
    return parse_shared(query, MODELS, RIGS, CAMERAS)


def test_a_plain_visit_changes_nothing():
    assert parse() is None
    assert parse(__theme="dark") is None  # Gradio's own parameters are not ours


def test_a_link_round_trips_its_request():
    request = CompareRequest(
        "A person smiles & then — frowns?\n2. #tag",
        ("beta", "alpha"),
        seed=42,
        duration_s=2.5,
        camera="three-quarter",
        curves=True,
    )
    link = share_link(request)
    assert link.startswith("?prompt=") and "autorun=1" in link and " " not in link
    shared = parse_shared(dict(urllib.parse.parse_qsl(link[1:])), MODELS, RIGS, CAMERAS)
    assert shared is not None and shared.notices == ()
    assert (shared.prompt, shared.models, shared.seed, shared.duration_s) == (
        request.prompt,
        ("beta", "alpha"),
        42,
        2.5,
    )
    assert (shared.rig, shared.camera, shared.curves, shared.autorun) == (
        "default",
        "three-quarter",
        True,
        True,
    )
    assert "autorun" not in share_link(request, autorun=False)


def test_unknown_models_are_dropped_with_a_notice():
    shared = parse(models="alpha,<img src=x onerror=alert(1)>,alpha, ,gamma")
    assert shared.models == ("alpha",)
    assert shared.notices == ("2 linked models are not configured here",)
    assert "img" not in " ".join(shared.notices)  # the untrusted text is never echoed
    nothing = parse(models="gamma")
    assert nothing.models is None and "keeping this page's selection" in nothing.notices[0]


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("7", 7),
        (" 12 ", 12),
        ("-5", 0),
        (str(MAX_SEED + 1), MAX_SEED),
        ("9" * 100, MAX_SEED),
        ("x", 0),
        ("1.5", 0),
    ],
)
def test_the_seed_is_clamped(raw, expected):
    shared = parse(seed=raw)
    assert shared.seed == expected
    assert bool(shared.notices) == (raw.strip() != str(expected))


@pytest.mark.parametrize(
    ("raw", "expected"),
    [("3", 3.0), ("2.5", 2.5), ("2.7", 2.5), ("0", DURATION_MIN_S), ("1e9", DURATION_MAX_S), ("-inf", None)],
)
def test_the_duration_is_clamped_to_the_slider(raw, expected):
    shared = parse(duration=raw)
    assert shared.duration_s == expected
    for bad in ("nan", "ten", "inf"):
        assert parse(duration=bad).duration_s is None


def test_rig_and_camera_must_be_offered():
    shared = parse(rig="/etc/passwd", camera="top")
    assert shared.rig is None and shared.camera is None and len(shared.notices) == 2
    assert parse(rig="default", camera="front").notices == ()


def test_the_prompt_is_bounded_and_cleaned():
    shared = parse(prompt="x" * (5 * MAX_PROMPT_CHARS))
    assert len(shared.prompt) == MAX_PROMPT_CHARS and "cut to" in shared.notices[0]
    shared = parse(prompt="a\u202eb\x00c\nd")
    assert shared.prompt == "abc\nd" and "control characters" in shared.notices[0]
    assert parse(prompt="  ").prompt is None


def test_autorun_is_off_unless_asked():
    assert not parse(prompt="hi").autorun
    assert parse(prompt="hi", autorun="1").autorun and not parse(prompt="hi", autorun="0").autorun
