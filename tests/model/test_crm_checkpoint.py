"""CRM.pth conversion, on state dicts built here from the released key/shape list (random values)."""

import contextlib
import io
import re
from pathlib import Path

import pytest
import torch

from atom import convert_crm
from atom.model.crm_checkpoint import (
    CRMCheckpointError,
    convert_crm_checkpoint,
    convert_crm_state_dict,
    crm_to_atom_name,
    load_crm_state_dict,
)
from atom.model.reconstruction import ReconstructionModel

KEYS_FILE = Path(__file__).parent / "data" / "crm_state_dict_keys.txt"  # copy of shared/data/ (CRM.md)
NEW_TO_OLD = {".to_q.": ".query.", ".to_k.": ".key.", ".to_v.": ".value.", ".to_out.0.": ".proj_attn."}


def released_shapes() -> dict[str, tuple[int, ...]]:
    shapes = {}
    for line in KEYS_FILE.read_text().splitlines():
        if line.startswith("#") or not line.strip():
            continue
        name, shape = line.split(" ", 1)
        shapes[name] = tuple(int(size) for size in re.findall(r"\d+", shape))
    return shapes


def old_attention_name(name: str) -> str:
    for new, old in NEW_TO_OLD.items():
        name = name.replace(new, old)
    return name


def crm_state(device="meta", old_style_blocks=("down_blocks.3", "mid_block", "up_blocks.2"), scale=0.02):
    """CRM's state dict: random values (meta tensors: shapes only), old attention names in some blocks."""
    generator = torch.Generator().manual_seed(0)
    state = {}
    for name, shape in released_shapes().items():
        if any(f".{block}.attentions." in name for block in old_style_blocks):
            name = old_attention_name(name)
        if device == "meta":
            state[name] = torch.empty(shape, device="meta")
        else:
            state[name] = scale * torch.randn(shape, generator=generator)
    return state


def test_key_list_is_crm_md():
    shapes = released_shapes()
    assert len(shapes) == 629
    assert sum(torch.Size(shape).numel() for shape in shapes.values()) == 118_841_404


def test_both_attention_naming_styles_map_onto_every_key():
    state = crm_state()
    assert any(".query." in name for name in state) and any(".to_q." in name for name in state)
    converted, report = convert_crm_state_dict(state)
    assert report.ok and not report.unexpected, report.summary()
    old_names = [name for name in state if any(old in name for old in NEW_TO_OLD.values())]
    assert report.renamed_attention == len(old_names) == 8 * (2 + 1 + 3)  # (q, k, v, out) x (weight, bias)
    with torch.device("meta"):
        expected = ReconstructionModel("crm").state_dict()
    assert set(converted) == set(expected)
    assert crm_to_atom_name("sdfMlp.fc3.bias") == ("sdf_deformation_head.net.4.bias", False)
    assert crm_to_atom_name("unet2.unet.mid_block.attentions.0.proj_attn.weight") == (
        "unet.mid_block.attentions.0.to_out.0.weight",
        True,
    )
    assert crm_to_atom_name("decoder.foo") == (None, False)


def test_missing_unexpected_and_mismatched_keys_are_named(tmp_path: Path):
    state = crm_state()
    del state["rgbMlp.fc2.bias"]
    state["renderer.flexicubes.verts"] = torch.empty(3, device="meta")
    state["sdfMlp.fc3.weight"] = torch.empty(5, 512, device="meta")
    _, report = convert_crm_state_dict(state)
    assert report.missing == ["color_head.net.2.bias"]
    assert report.unexpected == ["renderer.flexicubes.verts"]
    assert report.mismatched == [("sdf_deformation_head.net.4.weight", (5, 512), (4, 512))]
    summary = report.summary()
    assert "color_head.net.2.bias" in summary and "renderer.flexicubes.verts" in summary
    # The command refuses a file that does not fit, naming the keys, and writes nothing.
    path = tmp_path / "CRM.pth"
    torch.save({"sdfMlp.fc3.weight": torch.zeros(5, 512), "rgbMlp.fc3.bias": torch.zeros(3)}, path)
    with pytest.raises(CRMCheckpointError, match=r"(?s)learned_plane.*sdf_deformation_head\.net\.4\.weight \[5, 512\]"):
        convert_crm_checkpoint(path, tmp_path / "out")
    assert convert_crm.main([str(path), str(tmp_path / "out")]) == 1
    assert not (tmp_path / "out").exists()


class NotATensor:
    pass


@pytest.mark.parametrize(
    ("content", "match"),
    [
        (b"not a checkpoint at all", "cannot read"),
        ([torch.zeros(2)], "must hold a state dict"),
        ({"unet2.learned_plane": "a string"}, "not \\(str name -> tensor\\).*learned_plane"),
        ({"obj": NotATensor()}, "cannot read .* weights-only"),
    ],
)
def test_corrupt_or_foreign_files_get_a_clear_error(tmp_path: Path, content, match):
    path = tmp_path / "CRM.pth"
    if isinstance(content, bytes):
        path.write_bytes(content)
    else:
        torch.save(content, path)
    with pytest.raises(CRMCheckpointError, match=match):
        load_crm_state_dict(path)
    with pytest.raises(FileNotFoundError, match="CRM checkpoint not found"):
        load_crm_state_dict(tmp_path / "missing.pth")


@pytest.fixture(scope="module")
def full_size(tmp_path_factory):
    """A full-size random CRM.pth converted by the command, loaded strictly, and one CPU forward pass
    (about 15 s on one core): (model, CRM state dict, command output, triplane)."""
    tmp_path = tmp_path_factory.mktemp("crm")
    state = crm_state(device="cpu")
    path = tmp_path / "CRM.pth"
    torch.save(state, path)
    output = io.StringIO()
    with contextlib.redirect_stdout(output):
        assert convert_crm.main([str(path), str(tmp_path / "crm")]) == 0
    model = ReconstructionModel.from_pretrained(tmp_path / "crm")  # strict
    with torch.no_grad():
        triplane = model(torch.rand(1, 12, 256, 768), torch.Generator().manual_seed(0))
    return model, state, output.getvalue(), triplane


def test_full_size_conversion_loads_strictly(full_size):
    model, state, output, _ = full_size
    assert "missing keys (0)" in output and "old attention names mapped: 48" in output
    loaded = model.state_dict()
    torch.testing.assert_close(loaded["learned_plane"], state["unet2.learned_plane"], rtol=0, atol=0)
    torch.testing.assert_close(
        loaded["unet.mid_block.attentions.0.to_out.0.weight"],
        state["unet2.unet.mid_block.attentions.0.proj_attn.weight"],
        rtol=0,
        atol=0,
    )
    torch.testing.assert_close(loaded["weight_head.net.2.bias"], state["weightMlp.2.bias"], rtol=0, atol=0)
    torch.testing.assert_close(loaded["sdf_deformation_head.net.4.weight"], state["sdfMlp.fc3.weight"], rtol=0, atol=0)


def test_full_size_forward_gives_a_triplane_and_sdf_on_a_grid(full_size):
    model, _, _, triplane = full_size
    assert triplane.shape == (1, 3, 32, 256, 256) and torch.isfinite(triplane).all()
    axis = torch.linspace(-1, 1, 9)
    points = torch.stack(torch.meshgrid(axis, axis, axis, indexing="ij"), -1).reshape(1, -1, 3)
    with torch.no_grad():
        sdf, offsets = model.sdf_and_deformation(triplane, points)
    assert sdf.shape == (1, 729) and torch.isfinite(sdf).all() and torch.isfinite(offsets).all()
    assert offsets.abs().max() <= 0.25 * 2 / 80 + 1e-7


def test_full_size_forward_gives_a_mesh(full_size):
    pytest.importorskip(
        "atom.geometry.flexicubes", reason="atom.geometry.flexicubes (the FlexiCubes branch) is not merged yet"
    )
    model, _, _, triplane = full_size
    with torch.no_grad():
        (mesh,) = model.extract_meshes(triplane, grid_resolution=24)
    assert mesh.faces.shape[0] > 0 and torch.isfinite(mesh.vertices).all()
    assert mesh.vertex_colors.min() >= 0 and mesh.vertex_colors.max() <= 1
