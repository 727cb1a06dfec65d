"""The multi-view diffusion stages: shapes, tiling, guidance, storage round trip, refusals."""

import json

import pytest
import torch
from safetensors import safe_open

from atom.model.multiview_diffusion import MultiViewDiffusionConfig, MultiViewDiffusionModel
from atom.render.crm_tiles import tile_views, untile_views
from atom.testing.tiny_multiview import TINY_MULTIVIEW, build_tiny_multiview, tiny_multiview_model

T = TINY_MULTIVIEW["tile_size"]
S = TINY_MULTIVIEW["input_size"]


def condition_for(stage, batch=2, seed=0):
    generator = torch.Generator().manual_seed(seed)
    shape = (batch, 3, S, S) if stage == "views" else (batch, 6, 3, T, T)
    return torch.rand(shape, generator=generator)


@pytest.mark.parametrize("stage", ["views", "ccms"])
def test_sample_shape_range_and_determinism(stage):
    model = build_tiny_multiview(stage)
    condition = condition_for(stage)
    first = model.sample(condition, generator=torch.Generator().manual_seed(1))
    again = model.sample(condition, generator=torch.Generator().manual_seed(1))
    other = model.sample(condition, generator=torch.Generator().manual_seed(2))
    assert first.shape == (2, 6, 3, T, T)
    assert float(first.min()) >= 0.0 and float(first.max()) <= 1.0
    assert torch.equal(first, again)
    assert not torch.allclose(first, other)


@pytest.mark.parametrize("stage", ["views", "ccms"])
def test_the_condition_reaches_the_output(stage):
    model = build_tiny_multiview(stage)
    a = model.sample(condition_for(stage, seed=0), generator=torch.Generator().manual_seed(1))
    b = model.sample(condition_for(stage, seed=5), generator=torch.Generator().manual_seed(1))
    assert (a - b).abs().max() > 1e-3


def test_canvas_is_crm_tiling_in_minus_one_to_one_and_inverts():
    model = build_tiny_multiview("ccms")
    views = torch.rand(2, 6, 3, T, T)
    canvas = model.to_canvas(views)
    assert canvas.shape == (2, 6, T, 3 * T)
    torch.testing.assert_close(canvas, tile_views(views) * 2 - 1)
    torch.testing.assert_close(model.from_canvas(canvas), views)


def test_views_condition_channels_are_the_picture_upright_in_every_view():
    model = build_tiny_multiview("views")
    picture = torch.full((1, 3, S, S), 0.5)
    picture[:, 0, : S // 2] = 1.0  # the top half red: any turn of a tile shows
    picture[:, 1, :, : S // 4] = 0.0  # the left quarter without green
    prepared = model.encode_condition(picture)
    assert prepared.channels.shape == (1, 6, T, 3 * T)
    resized = torch.nn.functional.interpolate(picture * 2 - 1, size=(T, T), mode="area")
    views = untile_views(prepared.channels)  # [1, 6, 3, T, T]: in view space every copy is the picture
    for view in range(6):
        torch.testing.assert_close(views[:, view], resized)
    assert prepared.tokens.shape == (1, model.config.num_tokens, model.config.embedding_dim)


@pytest.mark.parametrize("stage", ["views", "ccms"])
def test_dropped_rows_get_the_null_condition(stage):
    model = build_tiny_multiview(stage)
    condition = condition_for(stage)
    prepared = model.encode_condition(condition, drop=torch.tensor([True, False]))
    null = model.null_condition(1)
    full = model.encode_condition(condition)
    torch.testing.assert_close(prepared.channels[:1], null.channels)
    torch.testing.assert_close(prepared.tokens[:1], null.tokens)
    torch.testing.assert_close(prepared.channels[1:], full.channels[1:])
    torch.testing.assert_close(prepared.tokens[1:], full.tokens[1:])


@pytest.mark.parametrize("stage", ["views", "ccms"])
def test_guidance_scale_one_is_conditional_and_zero_unconditional(stage):
    model = build_tiny_multiview(stage)
    prepared = model.encode_condition(condition_for(stage))
    canvas = torch.randn(2, 6, T, 3 * T)
    with torch.no_grad():
        conditional = model(canvas, 500, prepared)
        unconditional = model(canvas, 500, model.null_condition(2))
        assert (conditional - unconditional).abs().max() > 1e-4  # otherwise the checks below are empty
        torch.testing.assert_close(model.guided_prediction(canvas, 500, prepared, 1.0), conditional,
                                   rtol=1e-5, atol=1e-5)
        torch.testing.assert_close(model.guided_prediction(canvas, 500, prepared, 0.0), unconditional,
                                   rtol=1e-5, atol=1e-5)
        torch.testing.assert_close(model.guided_prediction(canvas, 500, prepared, 3.0),
                                   unconditional + 3.0 * (conditional - unconditional), rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize("stage", ["views", "ccms"])
def test_save_load_round_trip_gives_identical_samples(tmp_path, stage):
    model = build_tiny_multiview(stage)
    path = model.save_pretrained(tmp_path / stage)
    loaded = MultiViewDiffusionModel.from_pretrained(path)
    assert loaded.config == model.config
    assert not loaded.training
    condition = condition_for(stage)
    expected = model.sample(condition, generator=torch.Generator().manual_seed(3))
    assert torch.equal(loaded.sample(condition, generator=torch.Generator().manual_seed(3)), expected)


def test_float16_storage_loads_as_float32(tmp_path):
    model = build_tiny_multiview("views", weights_dtype="float16")
    path = tiny_multiview_model(tmp_path / "half", "views", weights_dtype="float16")
    with safe_open(str(path / "model.safetensors"), framework="pt") as handle:
        assert {handle.get_tensor(name).dtype for name in handle.keys()} == {torch.float16}
    loaded = MultiViewDiffusionModel.from_pretrained(path)
    for name, tensor in loaded.state_dict().items():
        assert tensor.dtype == torch.float32
        torch.testing.assert_close(tensor, model.state_dict()[name].half().float(), rtol=0, atol=0)


def test_float16_storage_is_about_half_the_size(tmp_path):
    full = tiny_multiview_model(tmp_path / "full", "ccms") / "model.safetensors"
    half = tiny_multiview_model(tmp_path / "half", "ccms", weights_dtype="float16") / "model.safetensors"
    assert 0.45 < half.stat().st_size / full.stat().st_size < 0.6


def test_views_stage_refuses_a_wrong_picture_naming_the_expected_shape():
    model = build_tiny_multiview("views")
    with pytest.raises(ValueError, match=rf"\[B, 3, {S}, {S}\].*got \[2, 3, 40, 40\]"):
        model.sample(torch.rand(2, 3, 40, 40))
    with pytest.raises(ValueError, match=rf"\[B, 3, {S}, {S}\]"):
        model.sample(torch.rand(2, 6, 3, T, T))
    with pytest.raises(ValueError, match=r"in \[0, 1\]"):
        model.sample(torch.rand(1, 3, S, S) * 2)


def test_ccms_stage_refuses_wrong_views_naming_the_expected_shape():
    model = build_tiny_multiview("ccms")
    with pytest.raises(ValueError, match=rf"\[B, 6, 3, {T}, {T}\].*got \[1, 5, 3, {T}, {T}\]"):
        model.sample(torch.rand(1, 5, 3, T, T))
    with pytest.raises(ValueError, match=rf"\[B, 6, 3, {T}, {T}\]"):
        model.sample(torch.rand(1, 6, 3, 16, 16))


def test_forward_refuses_a_wrong_canvas():
    model = build_tiny_multiview("ccms")
    prepared = model.encode_condition(condition_for("ccms", batch=1))
    with pytest.raises(ValueError, match=rf"\[B, 6, {T}, {3 * T}\]"):
        model(torch.randn(1, 6, T, T), 10, prepared)


def test_unknown_config_keys_are_refused(tmp_path):
    with pytest.raises(ValueError, match=r"unknown MultiViewDiffusionConfig keys \['colour'\]"):
        MultiViewDiffusionModel(colour=1)
    path = tiny_multiview_model(tmp_path / "model", "views")
    values = json.loads((path / "config.json").read_text())
    values["text_encoder"] = "clip"
    (path / "config.json").write_text(json.dumps(values))
    with pytest.raises(ValueError, match=r"\['text_encoder'\]"):
        MultiViewDiffusionModel.from_pretrained(path)


@pytest.mark.parametrize(
    ("field", "value", "message"),
    [("stage", "normals", "stage must be one of"), ("prediction_type", "sample", "prediction_type"),
     ("weights_dtype", "int8", "weights_dtype"), ("tile_size", 30, "tile_size must be a multiple of 8"),
     ("input_size", 36, "input_size must be a multiple of 8")],
)
def test_bad_config_values_are_refused(field, value, message):
    with pytest.raises(ValueError, match=message):
        MultiViewDiffusionConfig(**{**TINY_MULTIVIEW, "encoder_channels": (8, 16, 16), field: value})


def test_missing_folder_is_named(tmp_path):
    with pytest.raises(FileNotFoundError, match="multi-view diffusion model"):
        MultiViewDiffusionModel.from_pretrained(tmp_path / "nowhere")


def test_a_folder_of_another_model_is_refused(tmp_path):
    from atom.testing.tiny_reconstruction import tiny_reconstruction_model

    path = tiny_reconstruction_model(tmp_path / "reconstruction")
    with pytest.raises(ValueError, match="ReconstructionModel"):
        MultiViewDiffusionModel.from_pretrained(path)
