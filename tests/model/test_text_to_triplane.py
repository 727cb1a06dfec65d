"""TextToTriplane: shapes, argument checks, conditioning on the text (cross-attention and the pooled-text
modulation) and ignoring padding."""

import pytest
import torch

from atom.model.text_to_triplane import TextToTriplane

TINY = dict(
    text_dim=16,
    query_resolution=4,
    hidden_dim=32,
    num_blocks=2,
    num_heads=4,
    triplane_resolution=16,
    triplane_channels=8,
)


@pytest.fixture
def net() -> TextToTriplane:
    return TextToTriplane(**TINY).eval()


def test_output_shape(net: TextToTriplane) -> None:
    tokens, mask = torch.randn(2, 7, 16), torch.ones(2, 7, dtype=torch.bool)
    assert net(tokens, mask).shape == (2, 3, 8, 16, 16)


def test_no_upsampling_when_resolutions_match() -> None:
    net = TextToTriplane(**{**TINY, "triplane_resolution": 4})
    assert net(torch.randn(1, 3, 16), torch.ones(1, 3)).shape == (1, 3, 8, 4, 4)


def test_half_precision_tokens_are_accepted(net: TextToTriplane) -> None:
    tokens, mask = torch.randn(1, 4, 16).half(), torch.ones(1, 4)
    torch.testing.assert_close(net(tokens, mask), net(tokens.float(), mask))


def test_wrong_text_dim_names_both_sizes(net: TextToTriplane) -> None:
    with pytest.raises(ValueError, match="size 20 does not match text_dim 16"):
        net(torch.randn(1, 5, 20), torch.ones(1, 5))


@pytest.mark.parametrize("resolution", [12, 2, 20])
def test_resolution_must_be_query_times_power_of_two(resolution: int) -> None:
    with pytest.raises(ValueError, match=f"triplane_resolution={resolution}"):
        TextToTriplane(**{**TINY, "triplane_resolution": resolution})


def test_bad_mask(net: TextToTriplane) -> None:
    with pytest.raises(ValueError, match="mask must be"):
        net(torch.randn(1, 5, 16), torch.ones(1, 4))
    with pytest.raises(ValueError, match="at least one token"):
        net(torch.randn(2, 5, 16), torch.tensor([[1, 1, 0, 0, 0], [0, 0, 0, 0, 0]]))


def test_heads_must_divide_hidden() -> None:
    with pytest.raises(ValueError, match="divisible"):
        TextToTriplane(**{**TINY, "num_heads": 3})


def test_different_texts_give_different_triplanes(net: TextToTriplane) -> None:
    tokens, mask = torch.randn(2, 6, 16), torch.ones(2, 6)
    triplanes = net(tokens, mask)
    assert (triplanes[0] - triplanes[1]).abs().max() > 1e-3
    # And the same text twice gives the same triplane.
    torch.testing.assert_close(net(tokens[:1], mask[:1]), triplanes[:1])


def test_padding_tokens_do_not_change_the_output(net: TextToTriplane) -> None:
    with torch.no_grad():  # exercise the pooled-text modulation too (it starts at zero)
        for stage in net.upsample:
            stage.modulation.weight.normal_()
    tokens = torch.randn(2, 8, 16)
    mask = torch.tensor([[1] * 5 + [0] * 3, [1] * 8], dtype=torch.bool)
    changed = tokens.clone()
    changed[0, 5:] = 100 * torch.randn(3, 16)
    torch.testing.assert_close(net(changed, mask), net(tokens, mask), rtol=0, atol=1e-5)
    # The same change is visible when those tokens are not masked, so the check above can fail.
    full = torch.ones_like(mask)
    assert (net(changed, full) - net(tokens, full)).abs().max() > 1e-3


def test_text_modulation_starts_at_zero_and_sets_a_global_offset() -> None:
    net = TextToTriplane(**TINY)
    for stage in net.upsample:
        assert stage.modulation.weight.abs().max() == 0 and stage.modulation.bias.abs().max() == 0
    tokens, mask = torch.randn(2, 6, 16), torch.ones(2, 6)
    # A prompt-specific global offset of the triplane (what a color is) reaches the modulation's weights.
    offset = net(tokens, mask).mean(dim=(1, 3, 4))  # [B, C]
    (offset[0] - offset[1]).sum().backward()
    assert max(float(stage.modulation.weight.grad.abs().max()) for stage in net.upsample) > 1e-4
