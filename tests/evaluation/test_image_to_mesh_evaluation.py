"""The image-to-mesh chain's held-out evaluation: its R@1 against the posed truths, and a run of
``python -m atom.evaluate`` on a folder of tiny stage models (random weights: the table, not the scores)."""

import json

import pytest

from atom.evaluation.image_to_mesh import held_out_distances
from atom.testing.tiny_image_to_mesh import tiny_image_to_mesh_models
from atom.toyworld.crm_data import held_out_objects
from atom.toyworld.metrics import rank1_hits

GT = 32


@pytest.fixture(scope="module")
def objects():
    return held_out_objects()[:8] + held_out_objects()[8:10]  # every shape, and one shape in two colors


def test_the_truths_retrieve_themselves_and_a_swap_is_a_miss(objects):
    meshes = [obj.mesh(GT) for obj in objects]
    shape, color = held_out_distances(meshes, objects, n_points=1024)
    targets = list(range(len(objects)))
    assert all(rank1_hits(shape, color, targets, "both"))
    swapped = [1, 0, *targets[2:]]
    assert rank1_hits(shape, color, swapped, "both")[:2] == [False, False]
    # the same shape in two colors (objects 0 and 8): shape alone nearly ties (sampling noise), color tells them apart
    assert shape[0, 8] < 0.5 * shape[0, 1] and color[0, 8] > color[0, 0] + 0.1


def test_evaluate_runs_the_whole_chain_on_a_pipeline_folder(tmp_path, monkeypatch):
    from hydra import compose, initialize_config_dir
    from omegaconf import OmegaConf

    from atom.config import CONF_DIR, register_configs
    from atom.evaluate import evaluate_checkpoint

    folder = tiny_image_to_mesh_models(tmp_path / "models")
    register_configs()
    output = tmp_path / "eval.json"
    with initialize_config_dir(str(CONF_DIR / "evaluate"), version_base="1.3"):
        cfg = compose("evaluate", overrides=[f"ckpt={folder}", f"output={output}", "num_inference_steps=2",
                                              "device=cpu"])
    results = evaluate_checkpoint(OmegaConf.to_object(cfg))
    assert json.loads(output.read_text())["tori_with_hole"] == results["tori_with_hole"]
    assert results["summary"]["all"]["count"] == 24
    assert set(results["summary"]) == {"diagonal", "unseen color", "unseen yaw", "all"}
    row = results["per_object"][0]
    assert {"f_score", "r1_both", "view_psnr", "ccm_psnr", "psnr"} <= set(row)
    assert results["seconds_per_object"] > 0
