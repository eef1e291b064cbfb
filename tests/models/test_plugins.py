"""Plugins: families from installed packages (a real dist-info on sys.path, not a mock)."""

import importlib
import sys
import textwrap

import pytest

from studio.cli import main
from studio.models import load_families, load_model, read_models_config, registry, run_model
from studio.models.registry import ENTRY_POINT_GROUP

# The README example, as a package: a class and an entry point naming it (no decorator needed).
GOOD_PLUGIN = '''
import numpy as np

from studio.models import ExpressionModel
from studio.motion import ARKIT_CHANNELS, MotionClip


class LabModel(ExpressionModel):
    """Raises the brows for as long as asked."""

    space = "arkit"
    uses_text_encoder = False

    def __init__(self, name, strength):
        self.name, self.strength = name, strength

    @classmethod
    def from_spec(cls, spec):
        return cls(spec.name, float(spec.options.get("strength", 0.5)))

    def generate(self, prompt, *, seed, duration_s):
        values = np.zeros((round(30 * duration_s), 61), np.float32)
        values[:, ARKIT_CHANNELS.index("browInnerUp")] = self.strength
        return MotionClip(values, 30.0, "arkit", ARKIT_CHANNELS, {"prompt": prompt})
'''


EXTRA_CLASSES = """

class NotAModel:
    pass


class HalfModel(ExpressionModel):
    space = "arkit"
"""


def install(site, dist, entries, modules):
    """Write ``modules`` (name -> source) and a ``dist`` dist-info declaring ``entries`` into ``site``."""
    for name, source in modules.items():
        (site / name).mkdir(parents=True, exist_ok=True)
        (site / name / "__init__.py").write_text(textwrap.dedent(source))
    info = site / f"{dist}-0.1.dist-info"
    info.mkdir(parents=True)
    (info / "METADATA").write_text(f"Metadata-Version: 2.1\nName: {dist}\nVersion: 0.1\n")
    lines = "\n".join(f"{name} = {target}" for name, target in entries.items())
    (info / "entry_points.txt").write_text(f"[{ENTRY_POINT_GROUP}]\n{lines}\n")


@pytest.fixture
def site(tmp_path, monkeypatch):
    """A fresh site folder on sys.path; afterwards every trace of the test plugins is removed."""
    folder = tmp_path / "site"
    folder.mkdir()
    monkeypatch.syspath_prepend(str(folder))
    load_families()
    classes, statuses, modules = dict(registry._classes), dict(registry._statuses), set(sys.modules)
    yield folder
    registry._classes.clear()
    registry._classes.update(classes)
    registry._statuses.clear()
    registry._statuses.update(statuses)
    for name in set(sys.modules) - modules:
        if name.startswith(("lab_", "broken_")):
            del sys.modules[name]
    monkeypatch.undo()
    importlib.invalidate_caches()


def test_a_broken_plugin_is_listed_with_its_error_and_the_others_load(site, tmp_path, capsys):
    install(site, "lab-models", {"lab-brows": "lab_models:LabModel"}, {"lab_models": GOOD_PLUGIN})
    install(
        site,
        "broken-models",
        {"lab-broken": "broken_models"},
        {"broken_models": "raise ImportError('needs CUDA 13, found none')"},
    )
    importlib.invalidate_caches()
    statuses = load_families(refresh=True)
    assert statuses["lab-brows"].ok and statuses["lab-brows"].source == "lab-models"
    assert not statuses["lab-broken"].ok and "needs CUDA 13" in statuses["lab-broken"].error
    assert registry.family_class("lab-brows").family == "lab-brows"

    config = tmp_path / "models.yaml"
    config.write_text("models:\n  - {name: brows, family: lab-brows, options: {strength: 0.7}}\n")
    model = load_model(read_models_config(config)[0])
    clip = run_model(model, "anything", seed=0, duration_s=1.0).clip
    assert clip.channel("browInnerUp").max() == pytest.approx(0.7)

    assert main(["models", "list", "--config", str(config)]) == 1  # something is broken: say so
    out = capsys.readouterr().out
    assert "brows" in out and "OK (" in out
    assert "lab-broken" in out and "FAILED: import failed: ImportError: needs CUDA 13" in out


def test_a_config_naming_a_plugin_family_finds_it(site, tmp_path):
    install(site, "lab-models", {"lab-brows": "lab_models:LabModel"}, {"lab_models": GOOD_PLUGIN})
    importlib.invalidate_caches()
    registry._loaded = False  # a fresh process: nothing discovered yet
    config = tmp_path / "models.yaml"
    config.write_text("models:\n  - {name: brows, family: lab-brows}\n")
    assert read_models_config(config)[0].family == "lab-brows"


@pytest.mark.parametrize(
    ("entries", "message"),
    [
        ({"mdm": "lab_models:LabModel"}, "built into the studio"),
        ({"Lab Brows": "lab_models:LabModel"}, "not a valid family name"),
        ({"lab-none": "lab_models"}, "registered no family named 'lab-none'"),
        ({"lab-bad": "lab_models:NotAModel"}, "must subclass studio.models.ExpressionModel"),
        ({"lab-half": "lab_models:HalfModel"}, "must define from_spec() and generate()"),
    ],
)
def test_plugins_that_cannot_be_a_family(site, entries, message):
    install(site, "lab-models", entries, {"lab_models": GOOD_PLUGIN + EXTRA_CLASSES})
    importlib.invalidate_caches()
    (status,) = [s for s in load_families(refresh=True).values() if s.source == "lab-models"]
    assert not status.ok and message in status.error
    assert load_families()["mdm"].builtin and load_families()["mdm"].ok
