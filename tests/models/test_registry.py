import sys

import pytest

from studio.formats import FormatError
from studio.formats.checkpoints import read_checkpoint, write_checkpoint
from studio.models import ModelError, ModelSpec, family_class, load_model, read_models_config, register_model


def test_duplicate_family_name_fails_at_registration():
    family_class("results")  # make sure it is registered
    with pytest.raises(ValueError, match="already registered"):

        @register_model("results")
        class Impostor:
            @classmethod
            def from_spec(cls, spec):
                return cls()

            def generate(self, prompt, *, seed, duration_s):
                return None


def test_unknown_family_in_config_is_named(tmp_path):
    path = tmp_path / "models.yaml"
    path.write_text("models:\n  - {name: x, family: telepathy}\n")
    with pytest.raises(FormatError, match=r"models\[0\].*unknown family 'telepathy'"):
        read_models_config(path)


@pytest.mark.parametrize(
    ("body", "message"),
    [
        ("models:\n  - {name: A B, family: results}\n", "name"),
        ("models:\n  - {name: a, family: results}\n  - {name: a, family: results}\n", "twice"),
        ("models:\n  - {name: a, family: results, sha256: xyz}\n", "64 hex"),
        ("models:\n  - {name: a, family: results, colour: red}\n", "unknown fields"),
        ("models: {a: 1}\n", "must be a list"),
        ("models: [\n", "not valid YAML"),
    ],
)
def test_bad_models_configs(tmp_path, body, message):
    path = tmp_path / "models.yaml"
    path.write_text(body)
    with pytest.raises(FormatError, match=message):
        read_models_config(path)


def test_toml_config_and_relative_paths(tmp_path, results_folder):
    path = tmp_path / "models.toml"
    path.write_text('[[models]]\nname = "stored"\nfamily = "results"\npath = "results"\n')
    (spec,) = read_models_config(path)
    assert spec.path == results_folder.resolve()
    assert load_model(spec).name == "stored"


def test_checkpoint_hash_mismatch_refuses_to_load(tmp_path):
    import numpy as np

    path = tmp_path / "m.safetensors"
    digest = write_checkpoint(
        path, {"w": np.arange(6, dtype=np.float32).reshape(2, 3)}, {"family": "x", "k": 3}
    )
    checkpoint = read_checkpoint(path, digest)
    assert checkpoint.config == {"family": "x", "k": 3} and checkpoint.tensors["w"].shape == (2, 3)
    assert (tmp_path / "m.json").is_file()
    with pytest.raises(FormatError, match="SHA-256 mismatch"):
        read_checkpoint(path, "0" * 64)
    path.write_bytes(path.read_bytes()[:20])
    with pytest.raises(FormatError, match="not a readable safetensors"):
        read_checkpoint(path)
    with pytest.raises(FormatError, match=r"must be \.safetensors"):
        read_checkpoint(tmp_path / "m.json")


def test_results_model_without_path_fails_clearly():
    with pytest.raises(ModelError, match="needs 'path'"):
        load_model(ModelSpec("stored", "results"))


def test_an_unexpected_load_failure_is_that_models_error_alone(monkeypatch):
    import studio.models as models

    class Exploding:
        @classmethod
        def from_spec(cls, spec):
            raise RuntimeError("size mismatch for weight:\ncopying a param of shape [3]")

    monkeypatch.setattr(models, "family_class", lambda family: Exploding)
    [report] = models.load_models([models.ModelSpec("boom", "whatever", "arkit")])
    assert report.model is None
    expected = "boom: unexpected error while loading: RuntimeError: size mismatch for weight: copying a param"
    assert report.error == expected + " of shape [3]"


NEW_FAMILY = """
import numpy as np

from studio.models import ExpressionModel, register_model
from studio.motion import ARKIT_CHANNELS, OUTPUT_FPS, MotionClip


@register_model("lab-smile")
class SmileModel(ExpressionModel):
    uses_text_encoder = False

    def __init__(self, name):
        self.name = name

    @classmethod
    def from_spec(cls, spec):
        return cls(spec.name)

    def generate(self, prompt, *, seed, duration_s):
        values = np.zeros((round(OUTPUT_FPS * duration_s), len(ARKIT_CHANNELS)), np.float32)
        values[:, ARKIT_CHANNELS.index("mouthSmileLeft")] = 0.5
        return MotionClip(values, OUTPUT_FPS, "arkit", ARKIT_CHANNELS, {"prompt": prompt})
"""


def test_a_new_folder_beside_the_built_ins_is_a_family(tmp_path, monkeypatch):
    """Adding a built-in family is one folder: nothing else names it."""
    import studio.models
    from studio.models import family_names, load_families, registry, run_model

    load_families()
    classes, statuses = dict(registry._classes), dict(registry._statuses)
    (tmp_path / "lab_smile").mkdir()
    (tmp_path / "lab_smile" / "__init__.py").write_text(NEW_FAMILY)
    monkeypatch.setattr(studio.models, "__path__", [*studio.models.__path__, str(tmp_path)])
    try:
        status = load_families(refresh=True)["lab-smile"]
        assert status.builtin and status.ok and "lab-smile" in family_names()
        config = tmp_path / "models.yaml"
        config.write_text("models:\n  - {name: smile, family: lab-smile}\n")
        clip = run_model(load_model(read_models_config(config)[0]), "smile", seed=0, duration_s=1.0).clip
        assert clip.channel("mouthSmileLeft").max() == pytest.approx(0.5)
    finally:
        registry._classes.clear()
        registry._classes.update(classes)
        registry._statuses.clear()
        registry._statuses.update(statuses)
        sys.modules.pop("studio.models.lab_smile", None)
