"""CRM's reconstruction system in the generic Trainer: losses by hand, gradients, checkpoints and resume."""

from __future__ import annotations

import math

import pytest
import torch
from hydra import compose, initialize_config_dir
from omegaconf import OmegaConf
from safetensors.torch import load_file

from atom.config import CONF_DIR, SystemKind, TrainConfig, register_configs
from atom.evaluation.reconstruction import evaluate_reconstruction, format_reconstruction_table
from atom.toyworld.crm_data import RenderedViews, held_out_objects
from atom.training.build import build_trainer
from atom.training.crm_system import CRMSystem, reconstruction_losses

register_configs()

TINY = (
    "crm.objects_per_step=1", "crm.supervision_views=2", "crm.supervision_resolution=24", "crm.mesh_resolution=16",
    "crm.preview_objects=1", "crm.eval_resolution=24", "trainer.evaluate_at_end=false", "trainer.image_every=0",
    "trainer.progress=false", "trainer.checkpoint_every=2", "logger.kind=none",
)


def _config(*overrides: str) -> TrainConfig:
    with initialize_config_dir(str(CONF_DIR), version_base="1.3"):
        cfg = compose("train", overrides=["experiment=crm_toy", *TINY, *overrides])
    return OmegaConf.to_object(cfg)


def test_the_crm_toy_experiment_selects_the_crm_system():
    cfg = _config()
    assert cfg.system is SystemKind.crm
    assert cfg.crm.preset.value == "toy" and cfg.crm.tile_size == 32


def test_losses_match_hand_computed_values():
    def views(rgb, mask, depth, hard):
        as_image = [torch.tensor(v, dtype=torch.float32).reshape(1, 1, 2, 2) for v in (rgb, mask, depth, hard)]
        return RenderedViews(as_image[0].expand(1, 3, 2, 2), *as_image[1:])

    prediction = views([0.5, 0.5, 0.5, 0.5], [1.0, 0.5, 0.0, 0.0], [2.0, 3.0, 0.0, 0.0], [1, 1, 0, 0])
    target = views([0.0, 1.0, 0.5, 0.5], [1.0, 1.0, 0.0, 1.0], [2.5, 2.0, 0.0, 4.0], [1, 1, 0, 1])
    terms = reconstruction_losses(prediction, target)
    assert float(terms["color"]) == pytest.approx((0.25 + 0.25) / 4)
    assert float(terms["mask"]) == pytest.approx((0.25 + 1.0) / 4)
    assert float(terms["depth"]) == pytest.approx((0.25 + 1.0) / 2)  # only the two pixels covered in both


def test_gradients_reach_the_unet_the_heads_and_the_flexicubes_weight_head():
    # the regularisers off: every gradient below comes through FlexiCubes and the rendered images
    cfg = _config("crm.deviation_weight=0", "crm.sign_weight=0", "crm.flexicubes_weight_weight=0")
    system = CRMSystem(cfg, torch.device("cpu"))
    batch = system.sample_batch(0, torch.Generator().manual_seed(0))
    out = system(batch)
    assert math.isfinite(float(out.loss.detach())) and all(math.isfinite(v) for v in out.scalars.values())
    out.loss.backward()
    model = system.model
    for name, module in (("unet", model.unet), ("sdf", model.sdf_deformation_head), ("color", model.color_head),
                         ("flexicubes_weights", model.weight_head)):
        grads = [p.grad for p in module.parameters()]
        assert all(g is not None for g in grads), name
        assert sum(float(g.abs().sum()) for g in grads) > 0, name
    assert model.learned_plane.grad is not None and float(model.learned_plane.grad.abs().sum()) > 0


def test_batches_are_determined_by_the_loop_generator():
    system = CRMSystem(_config(), torch.device("cpu"))
    first = system.sample_batch(0, torch.Generator().manual_seed(5))
    again = system.sample_batch(0, torch.Generator().manual_seed(5))
    assert torch.equal(first.unet_input, again.unet_input) and torch.equal(first.target.rgb, again.target.rgb)


def test_training_steps_write_a_checkpoint_and_resume_and_atom_evaluate_reads_it(tmp_path, monkeypatch):
    run_dir = tmp_path / "run"
    trainer = build_trainer(_config("trainer.max_steps=2"), run_dir)
    summary = trainer.fit()
    assert summary["steps"] == 2 and math.isfinite(summary["final_loss"])
    checkpoint = run_dir / "checkpoints" / "step_0000002"
    assert (checkpoint / "model.safetensors").is_file()
    assert OmegaConf.load(checkpoint / "train_config.yaml").system == "crm"
    assert (run_dir / "renders" / "step_0000002.png").is_file()  # the preview grid at the end

    resumed = build_trainer(_config("trainer.max_steps=3"), run_dir)
    assert resumed.step == 2
    saved = load_file(str(checkpoint / "model.safetensors"))
    assert all(torch.equal(saved[k], v) for k, v in resumed.system.model.state_dict().items())
    assert resumed.fit()["steps"] == 3

    # atom.evaluate recognises the checkpoint's kind and runs the held-out evaluation (one object here)
    import atom.toyworld.crm_data as crm_data
    from atom.config import EvaluateConfig
    from atom.evaluate import evaluate_checkpoint

    monkeypatch.setattr(crm_data, "held_out_objects", lambda: held_out_objects()[:1])
    output = tmp_path / "heldout.json"
    results = evaluate_checkpoint(EvaluateConfig(ckpt=str(run_dir), device="cpu", output=str(output)))
    assert [row["category"] for row in results["per_object"]] == ["diagonal"] and output.is_file()


def test_held_out_table_of_an_untrained_model():
    system = CRMSystem(_config(), torch.device("cpu"))
    torus = [obj for obj in held_out_objects() if obj.shape == 4][:1]
    results = evaluate_reconstruction(system.model, torus, system.rasterizer, 16, views=2, resolution=24)
    row = results["per_object"][0]
    assert row["genus"] == 0  # the sphere prior of an untrained model has no hole
    assert results["tori_with_hole"] == "0/1"
    assert 0 <= row["f_score"] <= 1 and 0 <= row["volume_iou"] <= 1 and row["psnr"] > 0
    table = format_reconstruction_table(results)
    assert "F@0.05" in table and "tori with a hole" in table


def test_init_from_copies_trained_weights_and_refuses_another_config(tmp_path):
    source = CRMSystem(_config(), torch.device("cpu")).model
    with torch.no_grad():
        for parameter in source.parameters():
            parameter.add_(0.01 * torch.randn(parameter.shape, generator=torch.Generator().manual_seed(1)))
    folder = source.save_pretrained(tmp_path / "trained")
    system = CRMSystem(_config(f"crm.init_from={folder}"), torch.device("cpu"))
    assert all(torch.equal(value, system.model.state_dict()[name]) for name, value in source.state_dict().items())
    fresh = CRMSystem(_config(), torch.device("cpu")).model
    assert not torch.equal(fresh.learned_plane, system.model.learned_plane)
    with pytest.raises(ValueError, match="another config"):
        CRMSystem(_config(f"crm.init_from={folder}", "crm.tile_size=16"), torch.device("cpu"))


def test_generated_pool_supplies_the_inputs_of_a_share_of_each_step(tmp_path):
    from atom.render.crm_tiles import crm_unet_input
    from atom.toyworld.crm_data import render_albedo_views, sample_training_object
    from atom.toyworld.generated_pool import GeneratedPool, save_generated_pool

    generator = torch.Generator().manual_seed(2)
    objects = [sample_training_object(generator) for _ in range(3)]
    views = torch.rand(3, 6, 3, 32, 32, generator=generator)
    ccms = torch.rand(3, 6, 3, 32, 32, generator=generator)
    path = save_generated_pool(GeneratedPool(views, ccms, objects, torch.zeros(3), {}), tmp_path / "pool.safetensors")
    system = CRMSystem(_config("crm.objects_per_step=4", f"crm.generated_pool={path}", "crm.generated_fraction=0.5"),
                       torch.device("cpu"))
    assert system.generated_per_step == 2
    batch = system.sample_batch(0, torch.Generator().manual_seed(0))
    assert batch.unet_input.shape[0] == 4
    pooled = crm_unet_input(views.half().float(), ccms.half().float())
    for b in range(2):  # each generated input is one pool entry, and its targets are that entry's object
        matches = [i for i in range(3) if torch.allclose(batch.unet_input[b], pooled[i])]
        assert len(matches) == 1
        cameras = batch.cameras[system._views(b)]
        truth = render_albedo_views(objects[matches[0]].mesh(16), cameras, 24, system.rasterizer)
        torch.testing.assert_close(batch.target.rgb[system._views(b)], truth.rgb)
    assert not any(torch.allclose(batch.unet_input[b], pooled[i]) for b in (2, 3) for i in range(3))
    with pytest.raises(ValueError, match="generated_fraction"):
        CRMSystem(_config(f"crm.generated_pool={path}", "crm.generated_fraction=1.5"), torch.device("cpu"))
