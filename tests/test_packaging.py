"""The studio as an installed package: a wheel in a fresh venv, and a plugin installed beside it.

The fresh venvs are made without pip and see the test venv's site-packages through a ``.pth``
line, so the pinned dependencies need no download; the studio itself comes only from the wheel
(the checkout is not on their path: they run from a temporary folder).
"""

from __future__ import annotations

import os
import subprocess
import sys
import sysconfig
import textwrap
from pathlib import Path

import pytest

from tests.conftest import PROJECT_ROOT

pytestmark = pytest.mark.slow


def run(command: list[str], cwd: Path, timeout: float = 300) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "VIRTUAL_ENV")}
    result = subprocess.run(command, cwd=cwd, env=env, capture_output=True, text=True, timeout=timeout)
    assert result.returncode == 0, f"{' '.join(command)} failed:\n{result.stdout}\n{result.stderr}"
    return result


@pytest.fixture(scope="module")
def wheel(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("wheel")
    pip = [sys.executable, "-m", "pip", "--disable-pip-version-check"]
    run(
        [*pip, "wheel", "--quiet", "--no-deps", "--no-build-isolation", "-w", str(out), str(PROJECT_ROOT)],
        out,
    )
    (built,) = out.glob("expression_studio-*.whl")
    return built


def fresh_venv(folder: Path) -> Path:
    """A venv without the studio whose Python also sees this venv's packages; returns its bin/."""
    run([sys.executable, "-m", "venv", "--without-pip", str(folder)], folder.parent)
    python = folder / "bin" / "python"
    site = run([str(python), "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"], folder)
    (Path(site.stdout.strip()) / "_test_dependencies.pth").write_text(sysconfig.get_paths()["purelib"] + "\n")
    return folder / "bin"


def pip_install(bin_dir: Path, *args: str) -> None:
    command = [str(bin_dir / "python"), "-m", "pip", "install", "--quiet", "--disable-pip-version-check"]
    run([*command, "--no-deps", "--no-build-isolation", *args], bin_dir)


def test_the_wheel_installs_and_runs_from_anywhere(wheel, tmp_path):
    bin_dir = fresh_venv(tmp_path / "venv")
    pip_install(bin_dir, str(wheel))
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()

    usage = run([str(bin_dir / "expression-studio"), "--help"], elsewhere).stdout
    assert usage.startswith("usage: expression-studio") and "models" in usage and "render" in usage

    where = run([str(bin_dir / "python"), "-c", "import studio.config as c; print(c.ASSETS_DIR)"], elsewhere)
    assets = Path(where.stdout.strip())
    assert assets.is_relative_to(tmp_path / "venv") and (assets / "default_rig.npz").is_file()
    # the shipped models config and checkpoints load from the installed copy
    listing = run([str(bin_dir / "expression-studio"), "models", "list"], elsewhere).stdout
    assert "retrieval" in listing and "FAILED" not in listing


PLUGIN_MODULE = """
    import numpy as np

    from studio.models import ExpressionModel
    from studio.motion import ARKIT_CHANNELS, OUTPUT_FPS, MotionClip


    class SquintModel(ExpressionModel):
        uses_text_encoder = False

        def __init__(self, name):
            self.name = name

        @classmethod
        def from_spec(cls, spec):
            return cls(spec.name)

        def generate(self, prompt, *, seed, duration_s):
            values = np.zeros((round(OUTPUT_FPS * duration_s), len(ARKIT_CHANNELS)), np.float32)
            values[:, ARKIT_CHANNELS.index("eyeSquintLeft")] = 0.6
            return MotionClip(values, OUTPUT_FPS, "arkit", ARKIT_CHANNELS, {"prompt": prompt})
"""

PLUGIN_PROJECT = """
    [build-system]
    requires = ["hatchling"]
    build-backend = "hatchling.build"

    [project]
    name = "lab-squint"
    version = "0.1.0"

    [project.entry-points."expression_studio.families"]
    lab-squint = "lab_squint:SquintModel"
"""


def test_an_editable_plugin_package_adds_its_family(wheel, tmp_path):
    bin_dir = fresh_venv(tmp_path / "venv")
    pip_install(bin_dir, str(wheel))
    plugin = tmp_path / "lab-squint"
    (plugin / "lab_squint").mkdir(parents=True)
    (plugin / "lab_squint" / "__init__.py").write_text(textwrap.dedent(PLUGIN_MODULE))
    (plugin / "pyproject.toml").write_text(textwrap.dedent(PLUGIN_PROJECT))
    pip_install(bin_dir, "-e", str(plugin))

    families = run([str(bin_dir / "expression-studio"), "models", "families"], tmp_path).stdout
    (line,) = [line for line in families.splitlines() if "lab-squint" in line]
    assert line.split()[:3] == ["lab-squint", "lab-squint", "OK"]

    config = tmp_path / "models.yaml"
    config.write_text("models:\n  - {name: squint, family: lab-squint}\n")
    listing = run([str(bin_dir / "expression-studio"), "models", "list", "--config", str(config)], tmp_path)
    assert "squint" in listing.stdout and "OK (" in listing.stdout
