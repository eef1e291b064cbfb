from pathlib import Path

import pytest

from studio.config import StudioConfig


def test_defaults_serve_loopback_on_7860():
    config = StudioConfig.from_env({})
    assert (config.host, config.port) == ("127.0.0.1", 7860)


def test_environment_overrides(tmp_path):
    config = StudioConfig.from_env(
        {"STUDIO_PORT": "8000", "STUDIO_OUTPUT_DIR": str(tmp_path), "STUDIO_MAX_FRAMES": "100"}
    )
    assert config.port == 8000 and config.output_dir == tmp_path.resolve() and config.max_frames == 100


@pytest.mark.parametrize(
    ("name", "value"), [("STUDIO_PORT", "http"), ("STUDIO_PORT", "70000"), ("STUDIO_MAX_UPLOAD_MB", "0")]
)
def test_bad_values_are_refused_with_the_variable_name(name, value):
    with pytest.raises(ValueError, match=name):
        StudioConfig.from_env({name: value})


def test_config_is_frozen():
    with pytest.raises(AttributeError):
        StudioConfig().port = 1  # type: ignore[misc]


def test_study_settings_and_secrets_are_hidden_from_repr():
    config = StudioConfig.from_env(
        {
            "STUDIO_DB_URL": "postgresql://u@h/db",
            "STUDIO_STUDY_SECRET": "s" * 32,
            "STUDIO_ADMIN_TOKEN": "token-123456",
        }
    )
    assert config.db_url == "postgresql://u@h/db" and config.study_secret == "s" * 32
    assert "s" * 32 not in repr(config) and "token-123456" not in repr(config)
    assert (
        StudioConfig.from_env({}).db_url.startswith("sqlite:///") and "outputs" not in StudioConfig().db_url
    )


@pytest.mark.parametrize(("name", "value"), [("STUDIO_STUDY_SECRET", "short"), ("STUDIO_ADMIN_TOKEN", "abc")])
def test_weak_secrets_are_refused(name, value):
    with pytest.raises(ValueError, match=name):
        StudioConfig.from_env({name: value})


def test_spaces_server_settings_are_honoured_and_ours_win():
    spaces = {"GRADIO_SERVER_NAME": "0.0.0.0", "GRADIO_SERVER_PORT": "7861"}
    config = StudioConfig.from_env(spaces)
    assert (config.host, config.port) == ("0.0.0.0", 7861)
    ours = StudioConfig.from_env({**spaces, "STUDIO_HOST": "127.0.0.1", "STUDIO_PORT": "9000"})
    assert (ours.host, ours.port) == ("127.0.0.1", 9000)


def test_explore_data_folders_come_from_the_environment(tmp_path):
    import os

    assert StudioConfig.from_env({}).data_dirs == StudioConfig().data_dirs == (Path.cwd() / "data",)
    joined = os.pathsep.join([str(tmp_path / "a"), str(tmp_path / "b")])
    assert StudioConfig.from_env({"STUDIO_DATA_DIRS": joined}).data_dirs == (tmp_path / "a", tmp_path / "b")


def test_one_cache_root_from_the_environment(monkeypatch, tmp_path):
    from studio.config import cache_dir
    from tests.conftest import PROJECT_ROOT

    monkeypatch.setenv("STUDIO_CACHE_DIR", str(tmp_path / "mine"))
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    assert cache_dir() == tmp_path / "mine"
    monkeypatch.delenv("STUDIO_CACHE_DIR")
    assert cache_dir() == tmp_path / "xdg" / "expression-studio"
    monkeypatch.setenv("XDG_CACHE_HOME", "relative/path")  # invalid per the XDG spec: ignored
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    assert cache_dir() == tmp_path / "home" / ".cache" / "expression-studio"
    assert PROJECT_ROOT not in cache_dir().parents


def test_every_cache_lives_under_the_one_root(monkeypatch, tmp_path):
    from renderers import obj_rig
    from studio.analysis.embeddings import default_cache_dir
    from studio.config import cache_dir

    monkeypatch.setenv("STUDIO_CACHE_DIR", str(tmp_path))
    assert default_cache_dir().parent == cache_dir() == tmp_path
    assert obj_rig._cache_path(tmp_path / "rig", "k").is_relative_to(tmp_path / "rigs")


@pytest.mark.parametrize(
    ("command", "name", "value", "problem"),
    [
        (["-m", "studio", "models", "list"], "STUDIO_STUDY_SECRET", "short", "must be at least"),
        (["app.py"], "STUDIO_ADMIN_TOKEN", "abc", "must be at least"),  # the server's start-up
        (["-m", "studio.server"], "STUDIO_PORT", "http", "must be an integer"),
    ],
)
def test_a_bad_setting_at_start_up_is_one_line_and_exit_2(command, name, value, problem):
    import os
    import subprocess
    import sys

    from tests.conftest import PROJECT_ROOT

    env = {**os.environ, name: value}
    result = subprocess.run(
        [sys.executable, *command], cwd=PROJECT_ROOT, env=env, capture_output=True, text=True, timeout=300
    )
    assert result.returncode == 2
    assert result.stderr.count("\n") == 1 and result.stderr.startswith(f"error: {name} {problem}")


def test_a_weak_secret_in_a_given_mapping_is_a_config_error():
    from studio.config import ConfigError

    with pytest.raises(ConfigError, match="STUDIO_ADMIN_TOKEN"):
        StudioConfig.from_env({"STUDIO_ADMIN_TOKEN": "abc"})
