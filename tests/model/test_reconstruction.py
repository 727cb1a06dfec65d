"""CRM's reconstruction model: noising, triplane layout and sampling, heads' conventions, config and storage."""

import dataclasses
import json
import logging
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pytest
import torch

from atom.manifest import write_manifest
from atom.model.checkpoints import CorruptCheckpointError
from atom.model.heads import ColorHead, SDFDeformationHead, mlp
from atom.model.reconstruction import (
    RECONSTRUCTION_PRESETS,
    ReconstructionConfig,
    ReconstructionModel,
    input_noise_coefficients,
)
from atom.render import crm_unet_input, make_rasterizer, render_crm_views
from atom.toyworld.shapes import toy64

TINY = ReconstructionConfig(
    tile_size=16,
    learned_channels=2,
    triplane_channels=8,
    block_out_channels=(8, 16),
    down_block_types=("DownBlock2D", "AttnDownBlock2D"),
    up_block_types=("AttnUpBlock2D", "UpBlock2D"),
    norm_num_groups=4,
    head_hidden=16,
    weight_hidden=16,
    grid_resolution=4,
)


def unet_input(batch=2, size=16):
    return torch.rand(batch, 12, size, 3 * size)


def cube_grid(resolution):
    """A voxel grid over [-1, 1]^3 built here: vertices [(N+1)^3, 3] (x fastest) and cubes [N^3, 8] in
    FlexiCubes' corner order (corner k at offset (k & 1, (k >> 1) & 1, (k >> 2) & 1))."""
    n = resolution
    axis = torch.linspace(-1, 1, n + 1)
    z, y, x = torch.meshgrid(axis, axis, axis, indexing="ij")
    vertices = torch.stack([x, y, z], -1).reshape(-1, 3)
    index = lambda i, j, k: (k * (n + 1) + j) * (n + 1) + i  # noqa: E731
    cubes = [
        [index(i + (c & 1), j + ((c >> 1) & 1), k + ((c >> 2) & 1)) for c in range(8)]
        for k in range(n)
        for j in range(n)
        for i in range(n)
    ]
    return SimpleNamespace(vertices=vertices, cubes=torch.tensor(cubes), cell_size=2.0 / n)


def test_noise_coefficients_come_from_the_sd21_schedule():
    signal, noise = input_noise_coefficients(RECONSTRUCTION_PRESETS["crm"])
    # CRM.md's derived figures ...
    assert signal == pytest.approx(0.99061, abs=1e-5) and noise == pytest.approx(0.13670, abs=1e-5)
    betas = np.linspace(0.00085**0.5, 0.012**0.5, 1000) ** 2
    alpha_bar = np.prod(1 - betas[:21])
    # ... and a closed-form recomputation of the scaled-linear schedule (diffusers works in float32).
    assert signal == pytest.approx(alpha_bar**0.5, rel=1e-5)
    assert noise == pytest.approx((1 - alpha_bar) ** 0.5, rel=1e-5)


def test_noisy_input_is_the_fixed_affine_mix():
    model = ReconstructionModel(TINY)
    signal, noise_scale = model.noise_coefficients
    zeros, ones = torch.zeros(1, 12, 16, 48), torch.ones(1, 12, 16, 48)
    a = model.noisy_input(zeros, torch.Generator().manual_seed(3))
    b = model.noisy_input(ones, torch.Generator().manual_seed(3))
    torch.testing.assert_close(b - a, torch.full_like(a, signal))
    # Noise of mean 0.5 and std 0.5, scaled by sqrt(1 - abar).
    assert float(a.mean()) == pytest.approx(0.5 * noise_scale, abs=0.01)
    assert float(a.std()) == pytest.approx(0.5 * noise_scale, rel=0.05)


def test_forward_shapes_and_reproducible_noise():
    model = ReconstructionModel(TINY).eval()
    x = unet_input()
    with torch.no_grad():
        first = model(x, torch.Generator().manual_seed(0))
        second = model(x, torch.Generator().manual_seed(0))
        other = model(x, torch.Generator().manual_seed(1))
    assert first.shape == (2, 3, 8, 16, 16)
    assert torch.equal(first, second) and not torch.equal(first, other)
    points = torch.rand(2, 30, 3) * 2 - 1
    assert model.sdf(first, points).shape == (2, 30)
    rgb = model.color(first, points)
    assert rgb.shape == (2, 30, 3) and rgb.min() >= 0 and rgb.max() <= 1
    sdf, offsets = model.sdf_and_deformation(first, points)
    assert sdf.shape == (2, 30) and offsets.shape == (2, 30, 3)


def test_planes_strip_is_split_into_xy_yz_zx():
    strip = torch.cat([torch.full((1, 4, 5, 5), float(k)) for k in range(3)], dim=-1)
    triplane = ReconstructionModel.planes_to_triplane(strip)
    assert triplane.shape == (1, 3, 4, 5, 5)
    for k in range(3):
        assert torch.all(triplane[:, k] == k)


def _bilinear_align_corners(plane, u, v):
    """Hand-written bilinear sample of plane [C, H, W] at u (width axis), v (height axis) in [-1, 1]."""
    channels, height, width = plane.shape
    col, row = (u + 1) / 2 * (width - 1), (v + 1) / 2 * (height - 1)
    c0, r0 = col.floor().long().clamp(0, width - 2), row.floor().long().clamp(0, height - 2)
    fc, fr = col - c0, row - r0
    top = plane[:, r0, c0] * (1 - fc) + plane[:, r0, c0 + 1] * fc
    bottom = plane[:, r0 + 1, c0] * (1 - fc) + plane[:, r0 + 1, c0 + 1] * fc
    return (top * (1 - fr) + bottom * fr).T  # [M, C]


def test_features_are_the_sum_of_the_three_planes_at_crm_coordinates():
    model = ReconstructionModel(TINY)
    triplane = torch.randn(1, 3, 8, 16, 16, dtype=torch.float64)
    points = (torch.rand(1, 50, 3, dtype=torch.float64) * 2 - 1) * 0.999
    x, y, z = points[0].unbind(-1)
    expected = (
        _bilinear_align_corners(triplane[0, 0], x, y)
        + _bilinear_align_corners(triplane[0, 1], y, z)
        + _bilinear_align_corners(triplane[0, 2], z, x)
    )
    torch.testing.assert_close(model.features(triplane, points)[0], expected)
    # A corner point reads exactly the corner texels (align_corners=True).
    corner = torch.tensor([[[1.0, -1.0, 1.0]]], dtype=torch.float64)
    torch.testing.assert_close(
        model.features(triplane, corner)[0, 0],
        triplane[0, 0, :, 0, -1] + triplane[0, 1, :, -1, 0] + triplane[0, 2, :, -1, -1],
    )


def test_initial_sdf_is_atoms_sphere_and_crms_field_sign_is_converted():
    model = ReconstructionModel(TINY)
    with torch.no_grad():
        triplane = model(unet_input())
    points = torch.tensor([[[0.0, 0.0, 0.0], [0.9, 0.0, 0.0], [0.3, -0.3, 0.1]]]).expand(2, -1, -1)
    expected = points.norm(dim=-1) - 0.5
    torch.testing.assert_close(model.sdf(triplane, points), expected)
    assert model.sdf(triplane, points)[0, 0] < 0 < model.sdf(triplane, points)[0, 1]  # negative inside
    _, offsets = model.sdf_and_deformation(triplane, points)
    assert torch.all(offsets == 0)
    # CRM's field is mlp_0 + 0.5 - |x| (positive inside): a positive mlp_0 = 0.1 grows the sphere to 0.6.
    last = model.sdf_deformation_head.net[-1]
    with torch.no_grad():
        last.bias.copy_(torch.tensor([0.1, 50.0, -50.0, 0.0]))
    sdf, offsets = model.sdf_and_deformation(triplane, points)
    torch.testing.assert_close(sdf, points.norm(dim=-1) - 0.6)
    quarter_cell = 0.25 * 2.0 / TINY.grid_resolution  # CRM: tanh / 160 at grid 80
    torch.testing.assert_close(offsets[..., 0], torch.full((2, 3), quarter_cell))
    torch.testing.assert_close(offsets[..., 1], torch.full((2, 3), -quarter_cell))


def test_color_is_crms_affine_map():
    model = ReconstructionModel(TINY).eval()
    last = model.color_head.net[-1]
    with torch.no_grad():
        last.weight.zero_()
        last.bias.copy_(torch.tensor([-1.0, 0.0, 0.6]))
    triplane = torch.randn(1, 3, 8, 16, 16)
    rgb = model.color(triplane, torch.rand(1, 4, 3))
    torch.testing.assert_close(rgb, torch.tensor([0.0, 0.5, 0.8]).expand(1, 4, 3))


def test_grid_fields_match_direct_per_point_and_per_cube_evaluation():
    model = ReconstructionModel(TINY)
    with torch.no_grad():
        model.sdf_deformation_head.net[-1].weight.normal_(std=0.3)
        triplane = torch.randn(2, 3, 8, 16, 16)
    grid = cube_grid(3)
    fields = model.grid_fields(triplane, grid, chunk_size=7)
    assert fields.sdf.shape == (2, 64) and fields.deformation.shape == (2, 64, 3)
    assert fields.weights.shape == (2, 27, 21)
    points = grid.vertices.expand(2, -1, -1)
    sdf, offsets = model.sdf_deformation_head(model.features(triplane, points), points, grid.cell_size)
    torch.testing.assert_close(fields.sdf, sdf)
    torch.testing.assert_close(fields.deformation, offsets)
    cube = 13  # the middle cube: its corners in FlexiCubes order, concatenated
    corner_points = grid.vertices[grid.cubes[cube]].expand(2, -1, -1)
    corner_features = model.features(triplane, corner_points).reshape(2, 1, 8 * 8)
    expected = 0.1 * model.weight_head.net(corner_features)[:, 0]
    torch.testing.assert_close(fields.weights[:, cube], expected)


def test_extract_meshes_gives_the_initial_sphere():
    pytest.importorskip(
        "atom.geometry.flexicubes", reason="atom.geometry.flexicubes (the FlexiCubes branch) is not merged yet"
    )
    model = ReconstructionModel(TINY).eval()
    with torch.no_grad():
        meshes = model.extract_meshes(model(unet_input(batch=1)), grid_resolution=16)
    assert len(meshes) == 1 and meshes[0].faces.shape[0] > 100
    radius = meshes[0].vertices.norm(dim=-1)
    assert (radius - 0.5).abs().max() < 2.0 / 16
    assert meshes[0].vertex_colors.shape == meshes[0].vertices.shape


def test_config_round_trip_and_presets():
    for name, preset in RECONSTRUCTION_PRESETS.items():
        values = json.loads(json.dumps(dataclasses.asdict(preset)))  # tuples become lists in JSON
        assert ReconstructionConfig.from_dict(values) == preset
        assert ReconstructionConfig.preset(name) is preset
    assert ReconstructionModel(TINY).config == TINY
    assert ReconstructionModel(dataclasses.asdict(TINY), grid_resolution=6).config.grid_resolution == 6
    assert RECONSTRUCTION_PRESETS["crm"].grid_resolution == 80 and RECONSTRUCTION_PRESETS["crm"].tile_size == 256
    toy = RECONSTRUCTION_PRESETS["toy"]
    assert toy.tile_size == 64 and 32 <= toy.grid_resolution <= 40


def test_parameter_groups_cover_every_parameter_once():
    model = ReconstructionModel(TINY)
    grouped = [id(p) for group in model.parameter_groups().values() for p in group]
    assert sorted(grouped) == sorted(id(p) for p in model.parameters())


def test_full_size_parameter_count_matches_crm():
    with torch.device("meta"):
        model = ReconstructionModel("crm")
    assert sum(p.numel() for p in model.unet.parameters()) == 114_204_192  # CRM.md: 114.2M
    assert model.num_parameters() == 118_841_404  # CRM.md: the released checkpoint's total
    assert len(model.state_dict()) == 629


def test_save_and_load_give_equal_outputs(tmp_path: Path):
    model = ReconstructionModel(TINY)
    with torch.no_grad():
        for parameter in model.parameters():
            parameter.add_(0.01 * torch.randn_like(parameter))
    model.save_pretrained(tmp_path / "crm")
    assert json.loads((tmp_path / "crm" / "config.json").read_text())["_class_name"] == "ReconstructionModel"
    loaded = ReconstructionModel.from_pretrained(tmp_path / "crm")
    assert loaded.config == model.config
    model.eval()
    x, points = unet_input(), torch.rand(2, 20, 3) * 2 - 1
    with torch.no_grad():
        a, b = model(x, torch.Generator().manual_seed(5)), loaded(x, torch.Generator().manual_seed(5))
    assert torch.equal(a, b)
    assert torch.equal(model.sdf(a, points), loaded.sdf(b, points))
    assert torch.equal(model.color(a, points), loaded.color(b, points))


def test_loading_errors(tmp_path: Path):
    with pytest.raises(FileNotFoundError, match="reconstruction model directory not found"):
        ReconstructionModel.from_pretrained(tmp_path / "nowhere")
    ReconstructionModel(TINY).save_pretrained(tmp_path)
    config = json.loads((tmp_path / "config.json").read_text())
    (tmp_path / "config.json").write_text(json.dumps({**config, "head_hidden": 32}))
    with pytest.raises(ValueError, match="do not match config"):
        ReconstructionModel.from_pretrained(tmp_path)
    (tmp_path / "config.json").write_text(json.dumps({**config, "_class_name": "TextToMeshModel"}))
    with pytest.raises(ValueError, match="'TextToMeshModel'"):
        ReconstructionModel.from_pretrained(tmp_path)


def test_a_manifest_beside_the_weights_is_verified_on_load(tmp_path: Path, caplog):
    ReconstructionModel(TINY).save_pretrained(tmp_path)
    with caplog.at_level(logging.INFO, logger="atom.model.checkpoints"):
        ReconstructionModel.from_pretrained(tmp_path)  # no manifest (as convert_crm writes it): loads, unverified
    assert any("has no manifest" in r.getMessage() for r in caplog.records)
    write_manifest(tmp_path)
    ReconstructionModel.from_pretrained(tmp_path)
    weights = tmp_path / "model.safetensors"
    data = bytearray(weights.read_bytes())
    data[-1] ^= 0x01  # the last byte of the last tensor's data: the header still parses
    weights.write_bytes(bytes(data))
    with pytest.raises(CorruptCheckpointError, match=r"model\.safetensors: sha256 check failed"):
        ReconstructionModel.from_pretrained(tmp_path)


def test_shape_and_config_errors():
    model = ReconstructionModel(TINY)
    with pytest.raises(ValueError, match=r"unet_input must be \[B, 12, 16, 48\].*got \[1, 12, 16, 16\]"):
        model(torch.rand(1, 12, 16, 16))
    with pytest.raises(ValueError, match=r"unet_input must be \[B, 12, 16, 48\]"):
        model(torch.rand(1, 9, 16, 48))
    with pytest.raises(ValueError, match="triplane_channels=8"):
        model.sdf(torch.rand(1, 3, 4, 16, 16), torch.rand(1, 5, 3))
    with pytest.raises(ValueError, match=r"planes must be \[B, C, S, 3 S\]"):
        model.planes_to_triplane(torch.rand(1, 8, 16, 40))
    with pytest.raises(ValueError, match=r"corner_features must be \[B, N, 8, 8\]"):
        model.weight_head(torch.rand(1, 5, 7, 8))
    with pytest.raises(ValueError, match=r"unknown ReconstructionConfig keys \['color'\]"):
        ReconstructionConfig.from_dict({"color": 1})
    with pytest.raises(ValueError, match="tile_size must be a multiple of 2"):
        dataclasses.replace(TINY, tile_size=15)
    with pytest.raises(ValueError, match="unknown reconstruction preset 'huge'; accepted: crm, toy"):
        ReconstructionConfig.preset("huge")
    with pytest.raises(ValueError, match="must have one length"):
        dataclasses.replace(TINY, up_block_types=("UpBlock2D",))


def test_toy_preset_reconstructs_from_rendered_views():
    """The wiring a trainer uses: render six views + CCMs, tile them, run the toy-size model."""
    model = ReconstructionModel("toy").eval()
    size = model.config.tile_size
    mesh = toy64()[33].ground_truth_mesh(32)  # a green torus
    views = render_crm_views(mesh.vertices, mesh.faces, mesh.vertex_colors, size, make_rasterizer("torch"))
    with torch.no_grad():
        triplane = model(crm_unet_input(views.rgb[None], views.ccm[None]))
    assert triplane.shape == (1, 3, model.config.triplane_channels, size, size)
    points = torch.rand(1, 100, 3) * 2 - 1
    torch.testing.assert_close(model.sdf(triplane, points), points.norm(dim=-1) - 0.5)  # untrained: the sphere


def test_head_options_are_checked():
    with pytest.raises(ValueError, match="unknown activation 'tanh'; accepted: silu, relu"):
        mlp(4, 8, 1, 2, activation="tanh")
    with pytest.raises(ValueError, match="unknown color output 'linear'; accepted: sigmoid, affine"):
        ColorHead(output="linear")
    with pytest.raises(ValueError, match="max_fraction"):
        SDFDeformationHead(max_fraction=0.0)
    head = SDFDeformationHead(8, 16)
    with pytest.raises(ValueError, match=r"points must be \[B, M, 3\]"):
        head(torch.rand(1, 5, 8), torch.rand(1, 4, 3), 0.1)


def test_sdf_loss_trains_every_part_from_the_sphere_start():
    """A few Adam steps towards a box's SDF: the loss falls and gradients reach the UNet and learned channels."""
    model = ReconstructionModel(TINY)
    optimizer = torch.optim.Adam(model.parameters(), lr=3e-3)
    x, generator = unet_input(batch=1), torch.Generator().manual_seed(0)
    points = torch.rand(1, 256, 3, generator=generator) * 2 - 1
    target = (points.abs() - 0.3).amax(-1)  # a cube of half-side 0.3 (inside: negative)
    losses = []
    for _ in range(15):
        optimizer.zero_grad()
        loss = (model.sdf(model(x, torch.Generator().manual_seed(1)), points) - target).square().mean()
        loss.backward()
        optimizer.step()
        losses.append(loss.item())
    assert losses[-1] < 0.5 * losses[0]
    for name, group in model.parameter_groups().items():
        if name in ("front_end", "sdf"):
            assert any(p.grad is not None and p.grad.abs().sum() > 0 for p in group), name
    assert model.learned_plane.grad.abs().sum() > 0
