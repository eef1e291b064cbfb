"""``python -m studio study ...``: create, render, status, report, export; mistakes are one line, exit 2."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from studio.cli import main
from studio.study.parsing import load_definition
from studio.study.schema import sqlite_url
from studio.study.storage import StudyStore
from tests.study.conftest import SECRET
from tests.study.simulate import simulate
from tests.study.test_stimuli import CHECK_PROMPT, DECOY_PROMPT, PROMPTS, results_folder

ROOT = Path(__file__).resolve().parents[2]
EXAMPLE = ROOT / "examples" / "study_rank3.yaml"


@pytest.fixture
def env(tmp_path, monkeypatch) -> Path:
    monkeypatch.setenv("STUDIO_STUDY_SECRET", SECRET.decode())
    monkeypatch.setenv("STUDIO_DB_URL", sqlite_url(tmp_path / "studio.db"))
    monkeypatch.setenv("STUDIO_OUTPUT_DIR", str(tmp_path / "outputs"))
    monkeypatch.delenv("STUDIO_MODELS_CONFIG", raising=False)
    return tmp_path


def run(capsys, *argv: str) -> tuple[int, str, str]:
    code = main(["study", *argv])
    out, err = capsys.readouterr()
    return code, out, err


def one_line_error(capsys, *argv: str) -> str:
    code, _, err = run(capsys, *argv)
    assert code == 2
    assert err.startswith("error: ") and len(err.strip().splitlines()) == 1, err
    return err


def test_the_example_config_is_a_valid_three_prompt_rank_study():
    from studio.models import read_models_config

    known = [spec.name for spec in read_models_config(ROOT / "assets" / "models.yaml")]
    study = load_definition(EXAMPLE, known_models=known)
    assert study.trial_type == "rank" and len(study.prompts) == 3
    assert [m.name for m in study.models] == known  # every built-in model
    assert study.attention_checks and study.exclusion.failed_attention_checks_at_least == 1
    assert study.exclusion.median_dwell_below_s is not None
    assert study.trials_per_participant == 4  # three rank screens and the check


def test_create_prints_the_study_and_its_prolific_link(env, capsys):
    code, out, _ = run(capsys, "create", str(EXAMPLE))
    assert code == 0
    assert "study 1 created" in out
    assert "/study?study=1&PROLIFIC_PID={{%PROLIFIC_PID%}}&STUDY_ID={{%STUDY_ID%}}" in out
    assert "16 clips to render" in out
    code, out, _ = run(capsys, "create", str(EXAMPLE))
    assert code == 0 and "study 1 already stored" in out  # frozen: same config, same study
    code, out, _ = run(capsys, "list")
    assert code == 0 and "Built-in models, three prompts (rank)" in out


def test_mistakes_are_one_line_with_exit_code_2(env, capsys, monkeypatch):
    bad = env / "bad.yaml"
    bad.write_text("name: x\ntrial_type: rnak\nseed: 1\nprompts: [a smile]\nmodels: [mdm, emotion-label]\n")
    assert "did you mean 'rank'?" in one_line_error(capsys, "create", str(bad))
    broken = env / "broken.yaml"
    broken.write_text("name: [unclosed\n")
    assert "line 2" in one_line_error(capsys, "create", str(broken))
    assert "not in the models config" in one_line_error(
        capsys, "create", str(_write(env / "unknown.json", {**_config(env), "models": ["nope", "mdm"]}))
    )
    assert "no study '7'" in one_line_error(capsys, "status", "7")
    assert "no study 'abcdef'" in one_line_error(capsys, "report", "abcdef", "--out", str(env / "r"))
    assert "unsupported database URL" in one_line_error(capsys, "--db", "mysql://localhost/x", "list")
    assert "unsupported database URL" in one_line_error(capsys, "list", "--db", "mysql://localhost/x")
    assert run(capsys, "create", str(EXAMPLE))[0] == 0  # options are checked on a study that exists
    assert "frame size must be in [64, 2048]" in one_line_error(capsys, "render", "1", "--size", "9")
    assert "bootstrap resamples" in one_line_error(capsys, "report", "1", "--out", "r", "--bootstrap", "-1")
    assert "reduction must be one of" in one_line_error(
        capsys, "report", "1", "--out", "r", "--reduction", "x"
    )
    monkeypatch.delenv("STUDIO_STUDY_SECRET")
    assert "STUDIO_STUDY_SECRET" in one_line_error(capsys, "create", str(EXAMPLE))
    monkeypatch.setenv("STUDIO_STUDY_SECRET", "short")
    assert "at least 16" in one_line_error(capsys, "list")


def _config(root: Path) -> dict:
    every = [*PROMPTS, CHECK_PROMPT, DECOY_PROMPT]
    return {
        "name": "cli study",
        "trial_type": "pairwise",
        "seed": 9,
        "prompts": PROMPTS,
        "models": [
            {"name": "alpha", "results": str(results_folder(root / "alpha", 1, every))},
            {"name": "beta", "results": str(results_folder(root / "beta", 2, every))},
        ],
        "stimulus": {"duration_s": 0.5, "fps": 10},
        "attention_checks": [
            {"kind": "contradiction", "prompt": CHECK_PROMPT, "decoy_prompt": DECOY_PROMPT, "model": "beta"}
        ],
        "exclusion": {"failed_attention_checks_at_least": 1},
    }


def _write(path: Path, config: dict) -> Path:
    path.write_text(json.dumps(config))
    return path


def test_render_then_rerun_reuses(env, capsys):
    pytest.importorskip("OpenGL")
    from renderers import RenderUnavailableError, get_rasterizer

    try:
        get_rasterizer(64)
    except (RenderUnavailableError, OSError) as exc:
        pytest.skip(f"no offscreen OpenGL here ({exc})")
    config = _write(env / "study.json", _config(env))
    assert run(capsys, "create", str(config))[0] == 0
    code, out, err = run(capsys, "render", "1", "--size", "64")
    assert code == 0 and "6 stimuli" in out and "6 rendered now" in out
    assert "6/6" in err  # the progress bar
    code, out, _ = run(capsys, "render", "1", "--size", "64")
    assert code == 0 and "0 rendered now" in out
    code, out, _ = run(capsys, "status", "1")
    assert code == 0 and "stimuli:       6 rendered" in out


def test_status_report_and_export_of_a_simulated_study(env, capsys):
    config = _write(env / "study.json", _config(env))
    assert run(capsys, "create", str(config))[0] == 0
    with StudyStore(sqlite_url(env / "studio.db"), SECRET) as store:
        study = store.get_study(1)
        simulate(store, study, 4, {"alpha": 1.0, "beta": -1.0}, careless=[1], seed=2)
    code, out, _ = run(capsys, "status", study.sha256[:8])  # a hash prefix names the study too
    assert code == 0
    assert "participants:  4 started, 4 completed, 1 excluded, 3 analysed" in out
    assert "participant 1: failed 1 attention checks" in out
    assert "stimuli:       NOT rendered" in out
    code, out, _ = run(capsys, "report", "1", "--out", str(env / "report"), "--bootstrap", "50")
    assert code == 0 and "3 of 4 participants analysed" in out and "Fleiss' kappa" in out
    assert (env / "report" / "report.html").is_file()
    code, out, _ = run(capsys, "export", "1", "--out", str(env / "export"))
    assert code == 0
    assert sorted(p.name for p in (env / "export").iterdir()) == [
        "answers.csv",
        "answers.parquet",
        "codebook.json",
        "codebook.md",
        "participants.csv",
        "participants.parquet",
    ]
