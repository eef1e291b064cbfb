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
