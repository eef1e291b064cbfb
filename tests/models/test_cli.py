import pytest

from studio.cli import main
from studio.formats import read_clip
from tests.models.conftest import STORED_PROMPTS


def write_config(tmp_path, results_folder):
    config = tmp_path / "models.yaml"
    config.write_text(
        "models:\n"
        f"  - {{name: stored, family: results, space: arkit, path: {results_folder}}}\n"
        f"  - {{name: broken, family: results, space: arkit, path: {tmp_path / 'nowhere'}}}\n"
    )
    return config


def test_models_list_shows_each_model_and_why_one_failed(tmp_path, results_folder, capsys):
    assert main(["models", "list", "--config", str(write_config(tmp_path, results_folder))]) == 1
    out = capsys.readouterr().out
    assert "stored" in out and "OK (" in out
    assert "broken" in out and "FAILED: broken:" in out and "no manifest" in out


def test_generate_writes_the_clip(tmp_path, results_folder, capsys):
    config = write_config(tmp_path, results_folder)
    out = tmp_path / "out.npz"
    code = main(
        [
            "generate",
            "--config",
            str(config),
            "--model",
            "stored",
            "--prompt",
            STORED_PROMPTS[0],
            "--seed",
            "1",
            "-o",
            str(out),
        ]
    )
    assert code == 0 and read_clip(out).clip.n_frames == 60
    code = main(
        ["generate", "--config", str(config), "--model", "stored", "--prompt", "nope", "-o", str(out)]
    )
    assert code == 2 and "no stored output" in capsys.readouterr().err


def test_compare_renders_every_model_side_by_side_even_when_one_fails(tmp_path, results_folder, capsys):
    import json

    import numpy as np

    from renderers import read_mp4

    flame = tmp_path / "flame"
    flame.mkdir()
    np.save(flame / "a.npy", np.zeros((48, 53)))
    (flame / "manifest.jsonl").write_text(
        json.dumps({"prompt": STORED_PROMPTS[0], "seed": 0, "file": "a.npy"})
    )
    config = tmp_path / "models.yaml"
    config.write_text(
        "models:\n"
        f"  - {{name: stored, family: results, space: arkit, path: {results_folder}}}\n"
        f"  - {{name: flame-out, family: results, space: flame, path: {flame}}}\n"
        f"  - {{name: broken, family: results, space: arkit, path: {tmp_path / 'nowhere'}}}\n"
    )
    out = tmp_path / "compare.mp4"
    args = ["--models", "stored,flame-out,broken", "--prompt", STORED_PROMPTS[0], "--duration", "2"]
    code = main(["compare", "--config", str(config), *args, "--size", "128", "-o", str(out)])
    assert code == 0, capsys.readouterr()
    frames, fps = read_mp4(out)
    assert fps == 30 and frames.shape[0] == 60  # the longest clip: 2 s at 30 fps
    assert frames.shape[2] >= 3 * 128  # three panels: two clips and the failure card
    printed = capsys.readouterr().out
    assert "warning: broken" in printed and "stored" in printed


def test_compare_renders_flame_results_on_the_configured_flame_head(tmp_path, monkeypatch, capsys):
    """With STUDIO_FLAME_DIR the FLAME panel is a posed head, not the curves-and-instructions card."""
    import numpy as np

    from renderers import convert_flame_pickle, read_mp4
    from tests.renderers.test_flame import _pickle_with_fake_chumpy, tiny_flame_model

    pytest.importorskip("pyrender")
    (tmp_path / "FLAME_NEUTRAL.pkl").write_bytes(_pickle_with_fake_chumpy(tiny_flame_model()))
    convert_flame_pickle(tmp_path / "FLAME_NEUTRAL.pkl", tmp_path / "flame-model" / "flame_model.npz")
    flame = tmp_path / "flame"
    flame.mkdir()
    sequence = np.zeros((48, 53), np.float32)
    sequence[:, 50] = np.linspace(0, 0.5, 48)  # the jaw opens over the clip (CTEG layout: 50 expr + 3 jaw)
    np.save(flame / "a.npy", sequence)
    (flame / "manifest.csv").write_text(f"prompt,seed,file\n{STORED_PROMPTS[0]},0,a.npy\n")
    config = tmp_path / "models.yaml"
    config.write_text(f"models:\n  - {{name: flame-out, family: results, space: flame, path: {flame}}}\n")

    def render(out):
        args = [
            "compare",
            "--config",
            str(config),
            "--models",
            "flame-out",
            "--prompt",
            STORED_PROMPTS[0],
            "--duration",
            "2",
            "--size",
            "128",
            "-o",
            str(out),
        ]
        code = main(args)
        if code == 2 and "OpenGL" in capsys.readouterr().err:
            pytest.skip("no offscreen OpenGL here")
        assert code == 0
        return read_mp4(out)[0]

    monkeypatch.delenv("STUDIO_FLAME_DIR", raising=False)
    curves = render(tmp_path / "curves.mp4")
    monkeypatch.setenv("STUDIO_FLAME_DIR", str(tmp_path / "flame-model"))
    head = render(tmp_path / "head.mp4")
    assert head.shape == curves.shape and np.abs(head[0].astype(int) - curves[0].astype(int)).mean() > 10
    assert np.abs(head[-1].astype(int) - head[0].astype(int)).sum() > 1000  # the jaw moved the mesh


# -- one model's unexpected failure stays in its own row or panel (security review) --------------


class _Fails:
    """A model whose generate raises what no one expects."""

    uses_text_encoder = False
    space = "arkit"

    def __init__(self, name, exc):
        self.name, self.exc = name, exc

    def generate(self, prompt, *, seed, duration_s):
        raise self.exc


def test_run_comparison_keeps_any_model_failure_in_its_generation(results_folder):
    from studio.compare import run_comparison
    from studio.models import ModelSpec, load_model

    good = load_model(ModelSpec("stored", "results", "arkit", path=results_folder))
    models = [
        _Fails("keyerror", KeyError("weights")),
        good,
        _Fails("memory", MemoryError()),
        _Fails("runtime", RuntimeError("CUDA error\nwith a second line")),
    ]
    comparison = run_comparison(models, STORED_PROMPTS[0], seed=0, duration_s=2)
    by_name = {g.model: g for g in comparison.generations}
    assert by_name["stored"].clip is not None
    assert by_name["keyerror"].error == "keyerror: unexpected error: KeyError: 'weights'"
    assert by_name["memory"].error == "memory: unexpected error: MemoryError"
    assert by_name["runtime"].error.endswith("RuntimeError: CUDA error with a second line")  # one line
    assert comparison.panel(by_name["runtime"])[1] == "runtime · error"


def test_generate_and_list_report_an_unexpected_failure_in_one_line(
    tmp_path, results_folder, capsys, monkeypatch
):
    from studio.models.results import ResultsFolderModel

    config = write_config(tmp_path, results_folder)
    monkeypatch.setattr(ResultsFolderModel, "generate", lambda *a, **k: {}["missing"])
    code = main(
        [
            "generate",
            "--config",
            str(config),
            "--model",
            "stored",
            "--prompt",
            STORED_PROMPTS[0],
            "-o",
            str(tmp_path / "o.npz"),
        ]
    )
    err = capsys.readouterr().err
    assert code == 2 and err == "error: stored: unexpected error: KeyError: 'missing'\n"

    original = ResultsFolderModel.from_spec.__func__

    def from_spec(cls, spec):
        if spec.name == "stored":
            raise IndexError("list index out of range")
        return original(cls, spec)

    monkeypatch.setattr(ResultsFolderModel, "from_spec", classmethod(from_spec))
    assert main(["models", "list", "--config", str(config)]) == 1
    out = capsys.readouterr().out
    assert "FAILED: stored: unexpected error while loading: IndexError: list index out of range" in out
    assert "FAILED: broken:" in out and "no manifest" in out  # the next model was still tried


def test_generate_refuses_a_format_the_clip_cannot_take_in_one_line(tmp_path, capsys):
    import numpy as np

    folder = tmp_path / "flame"
    folder.mkdir()
    np.save(folder / "a.npy", np.zeros((48, 53)))
    (folder / "manifest.csv").write_text("prompt,seed,file\njoy,0,a.npy\n")
    config = tmp_path / "models.yaml"
    config.write_text(f"models:\n  - {{name: flame-out, family: results, space: flame, path: {folder}}}\n")
    code = main(
        [
            "generate",
            "--config",
            str(config),
            "--model",
            "flame-out",
            "--prompt",
            "joy",
            "-o",
            str(tmp_path / "out.csv"),
        ]
    )
    err = capsys.readouterr().err
    assert code == 2 and err.count("\n") == 1 and "only ARKit clips can be written as Live Link CSV" in err
