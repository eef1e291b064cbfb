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
    code = main(["generate", "--config", str(config), "--model", "stored", "--prompt", STORED_PROMPTS[0],
                 "--seed", "1", "-o", str(out)])  # fmt: skip
    assert code == 0 and read_clip(out).clip.n_frames == 60
    code = main(
        ["generate", "--config", str(config), "--model", "stored", "--prompt", "nope", "-o", str(out)]
    )
    assert code == 2 and "no stored output" in capsys.readouterr().err


def test_compare_renders_every_model_side_by_side_even_when_one_fails(tmp_path, results_folder, capsys):
    import json

    import numpy as np

    from renderers.video import read_mp4

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

    from renderers.flame import convert_flame_pickle
    from renderers.video import read_mp4
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
        args = ["compare", "--config", str(config), "--models", "flame-out", "--prompt", STORED_PROMPTS[0],
                "--duration", "2", "--size", "128", "-o", str(out)]  # fmt: skip
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
