"""The pool of generated views + CCMs for fine-tuning the reconstruction model: training objects only, the
stages' own outputs, a file that round-trips and refuses held-out objects."""

from __future__ import annotations

import pytest
import torch

from atom.pipelines.image_to_mesh import ImageToMeshPipeline
from atom.render import make_rasterizer
from atom.testing.tiny_image_to_mesh import tiny_image_to_mesh_models
from atom.toyworld.crm_data import held_out_objects, is_held_out
from atom.toyworld.generated_pool import (
    GeneratedPool,
    generate_pool,
    load_generated_pool,
    save_generated_pool,
)
from atom.toyworld.multiview_data import sample_training_examples


@pytest.fixture(scope="module")
def pipeline(tmp_path_factory):
    folder = tiny_image_to_mesh_models(tmp_path_factory.mktemp("tiny_i2m"))
    return ImageToMeshPipeline.from_pretrained(folder)


def test_pool_holds_training_objects_and_the_stages_outputs_for_their_pictures(pipeline, tmp_path):
    pool = generate_pool(pipeline, 3, torch.Generator().manual_seed(3), batch_size=2, num_inference_steps=2)
    assert len(pool) == 3 and pool.views.shape == pool.ccms.shape == (3, 6, 3, 32, 32)
    assert not any(is_held_out(obj.shape, obj.color, obj.yaw) for obj in pool.objects)
    # the same draws, redone by hand: the pictures of the same objects through the two stages
    generator = torch.Generator().manual_seed(3)
    examples = sample_training_examples(2, generator, pipeline.input_size, 32, make_rasterizer("torch"), 32)
    views = pipeline.generate_views(examples.inputs, num_inference_steps=2, generator=generator)
    ccms = pipeline.generate_ccms(views, num_inference_steps=2, generator=generator)
    assert [obj.name for obj in examples.objects] == [obj.name for obj in pool.objects[:2]]
    torch.testing.assert_close(pool.views[:2], views)
    torch.testing.assert_close(pool.ccms[:2], ccms)
    assert torch.equal(pool.elevations[:2], examples.elevations)

    path = save_generated_pool(pool, tmp_path / "pool.safetensors")
    again = load_generated_pool(path)
    assert [obj.shape for obj in again.objects] == [obj.shape for obj in pool.objects]
    for loaded, original in zip(again.objects, pool.objects, strict=True):
        assert loaded.color == pytest.approx(original.color) and loaded.yaw == pytest.approx(original.yaw)
        assert loaded.scale == pytest.approx(original.scale)
    torch.testing.assert_close(again.views, pool.views, atol=1e-3, rtol=0)  # stored as float16
    assert again.settings["num_inference_steps"] == 2


def test_a_pool_holding_a_held_out_object_is_refused(tmp_path):
    held_out = held_out_objects()[5]
    views = torch.full((1, 6, 3, 32, 32), 0.5)
    pool = GeneratedPool(views, views, [held_out], torch.zeros(1), {})
    path = save_generated_pool(pool, tmp_path / "bad.safetensors")
    with pytest.raises(ValueError, match="held out"):
        load_generated_pool(path)


def test_a_pool_with_disagreeing_tensors_or_no_file_is_refused(tmp_path, pipeline):
    pool = generate_pool(pipeline, 1, torch.Generator().manual_seed(0), num_inference_steps=1)
    broken = GeneratedPool(pool.views, pool.ccms[:, :, :, :16, :16], pool.objects, pool.elevations, {})
    with pytest.raises(ValueError, match="views and ccms"):
        load_generated_pool(save_generated_pool(broken, tmp_path / "broken.safetensors"))
    with pytest.raises(FileNotFoundError, match="generated_pool"):
        load_generated_pool(tmp_path / "missing.safetensors")
