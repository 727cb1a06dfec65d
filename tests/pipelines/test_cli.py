"""``python -m atom.infer`` as a user runs it (one subprocess), and its exit status 2 with a one-line reason on
bad input."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest


def _infer(*arguments: str, cwd) -> subprocess.CompletedProcess:
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "TRANSFORMERS_OFFLINE": "1"}
    return subprocess.run([sys.executable, "-m", "atom.infer", *arguments], cwd=cwd, env=env, capture_output=True,
                          text=True, timeout=300)


def test_cli_writes_meshes_previews_and_prints_a_table(tiny_checkpoint, tmp_path):
    result = _infer(f"ckpt={tiny_checkpoint}", "prompts=[a red cube,a blue sphere]", "grid_resolution=10",
                    "preview.views=2", "preview.resolution=24", "out_dir=out", cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    out = tmp_path / "out"
    summary = json.loads((out / "summary.json").read_text())
    assert [r["prompt"] for r in summary["prompts"]] == ["a red cube", "a blue sphere"]
    for record in summary["prompts"]:
        for key in ("mesh", "preview", "turntable"):
            assert (out / record[key]).is_file()
    assert (out / "index.html").is_file()
    assert "a blue sphere" in result.stdout and "meshes/000_a_red_cube.glb" in result.stdout
    assert "wrote out/index.html" in result.stdout
    assert sorted(p.name for p in tmp_path.iterdir()) == ["out"], "nothing but out_dir may be written"


def test_cli_bad_input_exits_with_a_clear_reason(tmp_path, monkeypatch, capsys):
    from atom.infer import main  # in-process: the same Hydra entry point without a second interpreter start

    monkeypatch.chdir(tmp_path)
    monkeypatch.setattr(sys, "argv", ["atom.infer", f"ckpt={tmp_path / 'missing'}", "prompts=[a red cube]"])
    with pytest.raises(SystemExit) as exit_info:
        main()
    assert exit_info.value.code == 2
    stderr = capsys.readouterr().err
    assert "atom.infer: error: checkpoint path" in stderr and "does not exist" in stderr
    assert "Traceback" not in stderr
    assert list(tmp_path.iterdir()) == [], "nothing may be written on bad input"
