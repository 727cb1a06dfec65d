"""``python -m atom.evaluate metric=clip`` on the tiny checkpoint with a tiny CLIP built offline."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest

from atom.testing.tiny_clip import build_tiny_clip_model


@pytest.fixture(scope="module")
def tiny_clip(tmp_path_factory):
    return build_tiny_clip_model(tmp_path_factory.mktemp("clip") / "clip")


def test_cli_scores_the_checkpoints_own_prompts_with_seen_and_unseen(tiny_checkpoint, tiny_clip, tmp_path) -> None:
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "TRANSFORMERS_OFFLINE": "1"}
    output = tmp_path / "clip.json"
    result = subprocess.run(
        [sys.executable, "-m", "atom.evaluate", f"ckpt={tiny_checkpoint}", "metric=clip", f"clip.path={tiny_clip}",
         "clip.views=2", "clip.resolution=32", "grid_resolution=10", f"output={output}"],
        cwd=tmp_path, env=env, capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr
    results = json.loads(output.read_text())
    # the tiny training config: three train prompts and one held out
    assert [(row["prompt"], row["split"]) for row in results["per_prompt"]] == [
        ("a red cube", "seen"), ("a blue sphere", "seen"), ("a green cone", "seen"), ("a red sphere", "unseen")]
    assert {split: row["count"] for split, row in results["summary"].items()} == {"all": 4, "seen": 3, "unseen": 1}
    for row in results["per_prompt"]:
        assert 0.0 <= row["r_at_1"] <= row["r_at_5"] <= 1.0 and -1.0 <= row["clip_similarity"] <= 1.0
    all_r1 = sum(row["r_at_1"] for row in results["per_prompt"]) / 4
    assert results["summary"]["all"]["r_at_1"] == pytest.approx(all_r1)
    assert results["protocol"]["views"] == 2 and results["clip"] == str(tiny_clip)
    assert "| split | prompts | CLIP R@1 |" in result.stdout and "| unseen | 1 |" in result.stdout
    assert f"wrote {output}" in result.stdout


def test_prompts_file_is_split_by_what_the_checkpoint_trained_on(tiny_checkpoint, tiny_clip, tmp_path,
                                                                  monkeypatch) -> None:
    from atom.evaluate import main

    monkeypatch.chdir(tmp_path)
    prompts = tmp_path / "prompts.txt"
    prompts.write_text("a blue sphere\na purple torus\n")
    monkeypatch.setattr(sys, "argv", ["atom.evaluate", f"ckpt={tiny_checkpoint}", "metric=clip",
                                      f"clip.path={tiny_clip}", "clip.views=1", "clip.resolution=32",
                                      "grid_resolution=8", f"prompts_file={prompts}", f"output={tmp_path / 'o.json'}"])
    main()
    results = json.loads((tmp_path / "o.json").read_text())
    assert [(row["prompt"], row["split"]) for row in results["per_prompt"]] == [
        ("a blue sphere", "seen"), ("a purple torus", "unseen")]


def test_missing_clip_path_exits_with_a_clear_reason(tiny_checkpoint, tmp_path, monkeypatch, capsys) -> None:
    from atom.evaluate import main

    monkeypatch.chdir(tmp_path)
    monkeypatch.setattr(sys, "argv", ["atom.evaluate", f"ckpt={tiny_checkpoint}", "metric=clip",
                                      f"clip.path={tmp_path / 'nowhere'}"])
    with pytest.raises(SystemExit) as exit_info:
        main()
    assert exit_info.value.code == 2
    stderr = capsys.readouterr().err
    assert "atom.evaluate: error: could not load a CLIP model" in stderr and "nowhere" in stderr
    assert "Traceback" not in stderr
    monkeypatch.setattr(sys, "argv", ["atom.evaluate", f"ckpt={tiny_checkpoint}", "metric=clip"])
    with pytest.raises(SystemExit):
        main()
    assert "clip.path=<CLIP model folder or hub id>" in capsys.readouterr().err
    assert list(tmp_path.iterdir()) == [], "nothing may be written on bad input"
