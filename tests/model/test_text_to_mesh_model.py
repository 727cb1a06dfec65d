"""TextToMeshModel: shapes, sphere start, finite-difference gradients, training signal, save/load."""

import json
from pathlib import Path

import pytest
import torch

from atom.model.text_to_mesh_model import TextToMeshConfig, TextToMeshModel
from atom.render.field import FieldSamples

TINY = TextToMeshConfig(
    text_dim=16,
    query_resolution=4,
    hidden_dim=32,
    num_blocks=1,
    num_heads=4,
    triplane_resolution=16,
    triplane_channels=8,
    head_hidden=32,
    head_layers=2,
)


def inputs(batch: int = 2, length: int = 5) -> tuple[torch.Tensor, torch.Tensor]:
    return torch.randn(batch, length, TINY.text_dim), torch.ones(batch, length, dtype=torch.bool)


def perturb_zero_init_layers(model: TextToMeshModel, std: float = 0.3) -> None:
    with torch.no_grad():
        for head in (model.sdf_head, model.deformation_head):
            head.net[-1].weight.normal_(std=std)
            head.net[-1].bias.normal_(std=std)


@pytest.fixture
def model() -> TextToMeshModel:
    return TextToMeshModel(TINY)


def test_shapes(model: TextToMeshModel) -> None:
    triplane = model(*inputs())
    assert triplane.shape == (2, 3, 8, 16, 16)
    points = torch.rand(2, 30, 3) * 2 - 1
    assert model.sdf(triplane, points).shape == (2, 30)
    assert model.color(triplane, points).shape == (2, 30, 3)
    assert model.deformation(triplane, points, cell_size=0.05).shape == (2, 30, 3)
    sdf, gradient = model.sdf_and_gradient(triplane, points)
    assert sdf.shape == (2, 30) and gradient.shape == (2, 30, 3)
    samples = model.field(triplane)(points)
    assert isinstance(samples, FieldSamples)
    assert (
        samples.sdf.shape == (2, 30)
        and samples.gradient.shape == (2, 30, 3)
        and samples.rgb.shape == (2, 30, 3)
    )
    torch.testing.assert_close(samples.sdf, sdf)
    torch.testing.assert_close(samples.gradient, gradient)
    torch.testing.assert_close(samples.rgb, model.color(triplane, points))


def test_keyword_construction_and_errors() -> None:
    model = TextToMeshModel(triplane_resolution=32, triplane_channels=4)
    assert model.config == TextToMeshConfig(triplane_resolution=32, triplane_channels=4)
    assert TextToMeshModel(TINY, head_layers=1).config.head_layers == 1
    assert TextToMeshModel({"head_layers": 1}, bound=0.5).config == TextToMeshConfig(
        head_layers=1, bound=0.5
    )
    with pytest.raises(ValueError, match=r"unknown TextToMeshConfig keys \['color_layers'\]"):
        TextToMeshModel(color_layers=2)
    with pytest.raises(ValueError, match="normal_eps"):
        TextToMeshConfig(normal_eps=0.0)


def test_wrong_triplane_channels(model: TextToMeshModel) -> None:
    with pytest.raises(ValueError, match="triplane_channels=8"):
        model.sdf(torch.zeros(1, 3, 5, 16, 16), torch.zeros(1, 4, 3))


def test_field_is_the_sphere_at_init(model: TextToMeshModel) -> None:
    triplane = model(*inputs())
    points = torch.rand(2, 500, 3) * 2 - 1
    torch.testing.assert_close(model.sdf(triplane, points), points.norm(dim=-1) - 0.5, rtol=0, atol=1e-6)
    # The finite-difference gradient of the sphere is the unit radial direction.
    points = points[points.norm(dim=-1) > 0.3].reshape(1, -1, 3)
    _, gradient = model.sdf_and_gradient(triplane[:1], points)
    torch.testing.assert_close(gradient, points / points.norm(dim=-1, keepdim=True), rtol=0, atol=1e-3)


def points_off_texel_centres(res: int, count: int) -> torch.Tensor:
    """Points whose coordinates are >= 0.2 texel from any texel centre, where bilinear sampling has kinks."""
    pixel = (
        torch.randint(0, res - 1, (1, count, 3), dtype=torch.float64)
        + 0.2
        + 0.6 * torch.rand(1, count, 3, dtype=torch.float64)
    )
    return (2 * pixel + 1) / res - 1  # align_corners=False: texel i is centred at -1 + (2i + 1) / res


def test_finite_difference_gradient_matches_autograd() -> None:
    model = TextToMeshModel(TINY, normal_eps=1e-4).double()
    perturb_zero_init_layers(model)
    tokens, mask = inputs(batch=1)
    triplane = model(tokens.double(), mask).detach()
    points = points_off_texel_centres(TINY.triplane_resolution, 200).requires_grad_()
    (autograd,) = torch.autograd.grad(model.sdf(triplane, points).sum(), points)
    sdf, gradient = model.sdf_and_gradient(triplane, points.detach())
    torch.testing.assert_close(sdf, model.sdf(triplane, points.detach()))
    torch.testing.assert_close(gradient, autograd, rtol=1e-5, atol=1e-6)
    # The field is not just the sphere here, so this comparison can tell a wrong stencil apart.
    radial = points.detach() / points.detach().norm(dim=-1, keepdim=True)
    assert (autograd - radial).abs().max() > 0.1


def test_every_parameter_gets_a_finite_nonzero_gradient(model: TextToMeshModel) -> None:
    perturb_zero_init_layers(model)
    triplane = model(*inputs())
    points = torch.rand(2, 64, 3) * 2 - 1
    samples = model.field(triplane)(points)
    eikonal = (samples.gradient.norm(dim=-1) - 1).square().mean()
    loss = samples.sdf.square().mean() + eikonal + samples.rgb.mean()
    loss = loss + model.deformation(triplane, points, cell_size=0.1).square().sum()
    loss.backward()
    for name, parameter in model.named_parameters():
        assert parameter.grad is not None, name
        assert torch.isfinite(parameter.grad).all(), name
        assert parameter.grad.abs().sum() > 0, name


def test_eikonal_alone_trains_the_network_through_the_gradient(model: TextToMeshModel) -> None:
    perturb_zero_init_layers(model)
    _, gradient = model.sdf_and_gradient(model(*inputs()), torch.rand(2, 64, 3) * 2 - 1)
    (gradient.norm(dim=-1) - 1).square().mean().backward()
    assert model.front_end.queries.grad.abs().sum() > 0
    assert model.sdf_head.net[0].weight.grad.abs().sum() > 0


def test_parameter_groups_partition_the_parameters(model: TextToMeshModel) -> None:
    groups = model.parameter_groups()
    assert set(groups) == {"front_end", "sdf", "deformation", "color"}
    ids = [id(p) for params in groups.values() for p in params]
    assert len(ids) == len(set(ids))
    assert set(ids) == {id(p) for p in model.parameters()}
    assert model.num_parameters() == sum(p.numel() for p in model.parameters())
    assert {id(p) for p in groups["deformation"]} == {id(p) for p in model.deformation_head.parameters()}


def test_save_and_load_round_trip(model: TextToMeshModel, tmp_path: Path) -> None:
    perturb_zero_init_layers(model)
    model.save_pretrained(tmp_path / "gen")
    assert json.loads((tmp_path / "gen" / "config.json").read_text())["triplane_channels"] == 8
    loaded = TextToMeshModel.from_pretrained(tmp_path / "gen")
    assert loaded.config == model.config
    tokens, mask = inputs()
    points = torch.rand(2, 20, 3) * 2 - 1
    triplane, triplane_loaded = model(tokens, mask), loaded(tokens, mask)
    assert torch.equal(triplane, triplane_loaded)
    assert torch.equal(model.sdf(triplane, points), loaded.sdf(triplane, points))
    assert torch.equal(model.color(triplane, points), loaded.color(triplane, points))
    assert torch.equal(model.deformation(triplane, points, 0.1), loaded.deformation(triplane, points, 0.1))


def test_loading_missing_files(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError, match="nowhere"):
        TextToMeshModel.from_pretrained(tmp_path / "nowhere")
    TextToMeshModel(TINY).save_pretrained(tmp_path)
    (tmp_path / "model.safetensors").unlink()
    with pytest.raises(FileNotFoundError, match="model.safetensors"):
        TextToMeshModel.from_pretrained(tmp_path)


@pytest.mark.parametrize("corruption", ["garbage", "truncated"])
def test_loading_corrupt_weights(tmp_path: Path, corruption: str) -> None:
    TextToMeshModel(TINY).save_pretrained(tmp_path)
    weights = tmp_path / "model.safetensors"
    data = weights.read_bytes()
    weights.write_bytes(b"not a safetensors file" if corruption == "garbage" else data[: len(data) // 2])
    with pytest.raises(ValueError, match="corrupt"):
        TextToMeshModel.from_pretrained(tmp_path)


def test_loading_weights_that_do_not_match_config(tmp_path: Path) -> None:
    TextToMeshModel(TINY).save_pretrained(tmp_path)
    config = json.loads((tmp_path / "config.json").read_text())
    (tmp_path / "config.json").write_text(json.dumps({**config, "head_hidden": 16}))
    with pytest.raises(ValueError, match="do not match config"):
        TextToMeshModel.from_pretrained(tmp_path)
    (tmp_path / "config.json").write_text(json.dumps({**config, "_class_name": "UNet"}))
    with pytest.raises(ValueError, match="'UNet'"):
        TextToMeshModel.from_pretrained(tmp_path)
    (tmp_path / "config.json").write_text("{broken")
    with pytest.raises(ValueError, match="not valid JSON"):
        TextToMeshModel.from_pretrained(tmp_path)


def test_the_flexicubes_weight_head_leaves_the_rest_and_the_global_rng_unchanged():
    """Same seed, either extractor: the shared parameters are equal and the global RNG continues identically
    (training's noise draws), so same-seed runs differ only where FlexiCubes acts."""
    torch.manual_seed(3)
    dmtet = TextToMeshModel(TINY)
    after_dmtet = torch.rand(4)
    torch.manual_seed(3)
    flexi = TextToMeshModel(TINY, extractor="flexicubes")
    assert torch.equal(torch.rand(4), after_dmtet)
    shared = dmtet.state_dict()
    assert set(flexi.state_dict()) - set(shared) == {k for k in flexi.state_dict() if k.startswith("weight_head.")}
    assert all(torch.equal(value, flexi.state_dict()[key]) for key, value in shared.items())
    assert "flexicubes_weights" in flexi.parameter_groups() and "flexicubes_weights" not in dmtet.parameter_groups()
    with pytest.raises(ValueError, match="unknown extractor 'mc'; accepted: dmtet, flexicubes"):
        TextToMeshModel(TINY, extractor="mc")


def test_a_model_saved_under_its_old_class_name_still_loads(model: TextToMeshModel, tmp_path: Path) -> None:
    """Checkpoints written before the rename say ``"_class_name": "TriplaneGenerator"``; another class is refused."""
    model.save_pretrained(tmp_path)
    config_file = tmp_path / "config.json"
    config = json.loads(config_file.read_text())
    config_file.write_text(json.dumps({**config, "_class_name": "TriplaneGenerator"}))
    loaded = TextToMeshModel.from_pretrained(tmp_path)
    pairs = zip(model.state_dict().values(), loaded.state_dict().values(), strict=True)
    assert all(torch.equal(a, b) for a, b in pairs)
    config_file.write_text(json.dumps({**config, "_class_name": "ReconstructionModel"}))
    with pytest.raises(ValueError, match="describes a 'ReconstructionModel'"):
        TextToMeshModel.from_pretrained(tmp_path)


def test_initial_albedo_reaches_the_color_head_and_survives_save_and_load(tmp_path: Path) -> None:
    """The config's starting grey sets only the color head's last bias (the same seed gives the same other
    weights), and the saved config rebuilds the same model."""
    torch.manual_seed(5)
    plain = TextToMeshModel(TINY)
    torch.manual_seed(5)
    light = TextToMeshModel(TINY, initial_albedo=0.8)
    differing = [key for key, value in plain.state_dict().items() if not torch.equal(value, light.state_dict()[key])]
    assert differing == ["color_head.net.4.bias"]
    torch.testing.assert_close(light.color_head.net[-1].bias, torch.full((3,), torch.tensor(4.0).log().item()))
    light.save_pretrained(tmp_path / "light")
    loaded = TextToMeshModel.from_pretrained(tmp_path / "light")
    assert loaded.config.initial_albedo == 0.8
    assert all(torch.equal(value, loaded.state_dict()[key]) for key, value in light.state_dict().items())
