"""Embedding walks: slerp against its geometric definition, the walk's points, and mesh end points that equal
the plain generations."""

from __future__ import annotations

import math

import pytest
import torch

from atom.pipelines.interpolation import interpolate_embeddings, mix_embeddings, slerp, walk
from atom.text import TextEmbeddings


def test_slerp_moves_along_the_great_circle_at_constant_speed():
    a = torch.tensor([1.0, 0.0, 0.0])
    b = torch.tensor([math.cos(1.2), math.sin(1.2), 0.0])  # 1.2 rad apart
    for weight in (0.0, 0.25, 0.5, 0.9, 1.0):
        point = slerp(a, b, weight)
        torch.testing.assert_close(point, torch.tensor([math.cos(1.2 * weight), math.sin(1.2 * weight), 0.0]))


def test_slerp_scales_with_the_vectors_and_falls_back_to_linear_when_parallel():
    a, b = torch.randn(4, 8), torch.randn(4, 8)
    torch.testing.assert_close(slerp(3 * a, 3 * b, 0.3), 3 * slerp(a, b, 0.3))
    parallel = slerp(a, 2 * a, 0.5)
    torch.testing.assert_close(parallel, 1.5 * a)
    opposite = slerp(a, -a, 0.25)
    torch.testing.assert_close(opposite, 0.5 * a)
    zero = slerp(torch.zeros(8), b[0], 0.5)
    torch.testing.assert_close(zero, 0.5 * b[0])
    assert torch.isfinite(slerp(a, a, 0.7)).all()


def test_walk_counts_shares_end_points_and_labels():
    points = walk(["a", "b", "c"], steps=4)
    assert len(points) == 2 * 3 + 1
    assert [(p.source, p.target) for p in points] == [(0, 1)] * 4 + [(1, 2)] * 3
    assert [p.weight for p in points][:4] == pytest.approx([0, 1 / 3, 2 / 3, 1])
    assert points[0].label == "a" and points[3].label == "b" and points[-1].label == "c"
    assert points[1].label == "a -> b (0.33)"
    with pytest.raises(ValueError, match="at least 2 prompts"):
        walk(["a"], steps=3)
    with pytest.raises(ValueError, match="steps must be >= 2"):
        walk(["a", "b"], steps=1)


def test_mix_uses_the_union_of_masks_inside_and_the_rows_themselves_at_the_ends():
    tokens = torch.randn(2, 5, 3)
    mask = torch.tensor([[True, True, False, False, False], [True, True, True, False, False]])
    text = TextEmbeddings(tokens, mask)
    middle = mix_embeddings(text, 0, 1, 0.5, "linear")
    assert middle.mask.tolist() == [[True, True, True, False, False]]
    torch.testing.assert_close(middle.tokens[0], (tokens[0] + tokens[1]) / 2)
    for weight, row in ((0.0, 0), (1.0, 1)):
        end = mix_embeddings(text, 0, 1, weight, "slerp")
        assert torch.equal(end.tokens[0], tokens[row]) and torch.equal(end.mask[0], mask[row])
    with pytest.raises(ValueError, match="unknown interpolation mode 'cubic'"):
        interpolate_embeddings(text, walk(["a", "b"], 2), "cubic")


@pytest.mark.parametrize("mode", ["linear", "slerp"])
def test_interpolation_end_points_equal_the_plain_generations(pipeline, mode):
    a, b = "a red cube", "a blue sphere"
    steps = pipeline.interpolate([a, b], steps=3, mode=mode, grid_resolution=12)
    assert [round(point.weight, 3) for point, _ in steps] == [0.0, 0.5, 1.0]
    plain = pipeline([a, b], grid_resolution=12)
    alone = pipeline(a, grid_resolution=12)[0]
    for (_, mesh), expected in ((steps[0], plain[0]), (steps[-1], plain[1]), (steps[0], alone)):
        assert torch.equal(mesh.faces, expected.faces)
        torch.testing.assert_close(mesh.vertices, expected.vertices, rtol=0, atol=1e-6)
        torch.testing.assert_close(mesh.vertex_colors, expected.vertex_colors, rtol=0, atol=1e-6)
    middle = steps[1][1]
    assert middle.num_faces > 0
    differs = middle.num_vertices != plain[0].num_vertices or not torch.allclose(middle.vertices, plain[0].vertices)
    assert differs, "the midpoint should be a different shape from the first prompt"
