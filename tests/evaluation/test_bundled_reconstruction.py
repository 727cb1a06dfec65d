"""The bundled toy CRM reconstruction model (atom/weights/toy_crm) against the toy world's ground truth: a
held-out torus (never drawn in training) comes back close to the truth, hole included."""

from pathlib import Path

from atom.config import asset_path
from atom.evaluation.reconstruction import object_metrics, reconstruct
from atom.model.reconstruction import ReconstructionModel
from atom.render import make_rasterizer
from atom.toyworld.crm_data import held_out_objects, is_held_out

BUNDLED = Path(asset_path("toy_crm"))


def test_bundled_reconstruction_model_recovers_a_held_out_torus_with_its_hole():
    model = ReconstructionModel.from_pretrained(BUNDLED)
    assert model.config.tile_size == 32 and (BUNDLED / "README.md").is_file()
    torus = next(obj for obj in held_out_objects() if obj.name.startswith("torus") and obj.category == "unseen yaw")
    assert is_held_out(torus.shape, torus.color, torus.yaw)
    rasterizer = make_rasterizer("torch")
    (mesh,) = reconstruct(model, [torus], rasterizer, mesh_resolution=32)
    row = object_metrics(mesh, torus, rasterizer, views=2, resolution=48, n_points=4000, iou_resolution=48)
    assert row["genus"] == 1
    assert row["f_score"] >= 0.9 and row["volume_iou"] >= 0.8 and row["color_error"] <= 0.08
