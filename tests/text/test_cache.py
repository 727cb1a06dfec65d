"""EmbeddingCache: encodes each prompt once, reads back without the encoder, fails clearly on bad files."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

from atom.text.cache import EmbeddingCache, main
from atom.text.encoder import TextEmbeddings
from atom.text.t5 import T5TextEncoder


class CountingT5(T5TextEncoder):
    """The tiny T5, counting the prompts that actually reach the model."""

    def __init__(self, path: str) -> None:
        super().__init__(path=path)
        self.encoded: list[str] = []

    def _encode(self, prompts: list[str]) -> TextEmbeddings:
        self.encoded.extend(prompts)
        return super()._encode(prompts)


@pytest.fixture
def encoder(tiny_t5_dir: Path) -> CountingT5:
    return CountingT5(str(tiny_t5_dir))


def test_second_call_encodes_nothing(tmp_path: Path, encoder: CountingT5) -> None:
    cache = EmbeddingCache(tmp_path / "cache")
    prompts = ["a red cube", "a blue sphere", "a red cube", "a green cone"]
    first = cache.get_or_encode(encoder, prompts, batch_size=2)
    assert sorted(encoder.encoded) == sorted(set(prompts))  # the repeat is encoded once
    assert len(list((tmp_path / "cache").glob("*.safetensors"))) == 3
    assert not list((tmp_path / "cache").glob(".*.tmp"))  # no temporary files left behind

    encoder.encoded.clear()
    second = cache.get_or_encode(encoder, prompts)
    assert encoder.encoded == []
    assert torch.equal(first.tokens, second.tokens) and torch.equal(first.mask, second.mask)

    # A new prompt among cached ones: only it is encoded.
    third = cache.get_or_encode(encoder, ["a green cone", "a white torus"])
    assert encoder.encoded == ["a white torus"]
    direct = encoder.encode(["a green cone", "a white torus"])
    assert torch.allclose(third.tokens, direct.tokens, atol=1e-6) and torch.equal(third.mask, direct.mask)


def test_load_without_encoder(tmp_path: Path, encoder: CountingT5) -> None:
    prompts = ["a red cube", "a pig wearing a hat"]
    encoded = EmbeddingCache(tmp_path).get_or_encode(encoder, prompts)
    identity = encoder.identity

    fresh = EmbeddingCache(tmp_path)  # as in another process that never loads the encoder
    assert (identity, "a red cube") in fresh and (identity, "a yellow cube") not in fresh
    assert ("some other encoder", "a red cube") not in fresh
    loaded = fresh.load(identity, prompts[::-1])
    assert torch.equal(loaded.tokens, encoded.tokens.flip(0)) and torch.equal(
        loaded.mask, encoded.mask.flip(0)
    )
    assert loaded.pooled is None
    with pytest.raises(KeyError, match="a yellow cube"):
        fresh.load(identity, ["a red cube", "a yellow cube"])


def test_pooled_vectors_round_trip(tmp_path: Path, tiny_clip_dir: Path) -> None:
    from atom.text.clip import CLIPTextEncoder

    encoder = CLIPTextEncoder(path=str(tiny_clip_dir))
    cache = EmbeddingCache(tmp_path)
    stored = cache.get_or_encode(encoder, ["a red cube"])
    assert torch.equal(cache.load(encoder.identity, ["a red cube"]).pooled, stored.pooled)
    assert torch.equal(stored.pooled, encoder.encode(["a red cube"]).pooled)


def test_corrupt_file_is_a_clear_error(tmp_path: Path, encoder: CountingT5) -> None:
    cache = EmbeddingCache(tmp_path)
    cache.get_or_encode(encoder, ["a red cube"])
    path = cache.path_for(encoder.identity, "a red cube")
    path.write_bytes(path.read_bytes()[:50])
    with pytest.raises(ValueError, match="unreadable.*delete it") as info:
        cache.load(encoder.identity, ["a red cube"])
    assert str(path) in str(info.value)
    with pytest.raises(ValueError, match="unreadable"):
        cache.get_or_encode(encoder, ["a red cube"])


def test_empty_prompt_needs_allow_empty(tmp_path: Path, encoder: CountingT5) -> None:
    cache = EmbeddingCache(tmp_path)
    with pytest.raises(ValueError, match="prompt 0 is empty"):
        cache.get_or_encode(encoder, [""])
    assert cache.get_or_encode(encoder, [""], allow_empty=True).mask[0].sum() == 1  # just </s>


def test_command_line_fills_the_cache(
    tmp_path: Path, tiny_t5_dir: Path, capsys: pytest.CaptureFixture
) -> None:
    prompts_file = tmp_path / "prompts.txt"
    prompts_file.write_text("a red cube\n\na blue sphere\n", encoding="utf-8")
    cache_dir = tmp_path / "cache"
    argv = ["--encoder", "t5", "--path", str(tiny_t5_dir), "--cache-dir", str(cache_dir)]
    main([*argv, "--prompts-file", str(prompts_file)])
    assert "2 encoded, 0 already cached" in capsys.readouterr().out
    main([*argv, "--prompt", "a red cube", "a green cone"])
    output = capsys.readouterr().out
    assert "1 encoded, 1 already cached" in output and str(cache_dir.resolve()) in output
    encoder = T5TextEncoder(path=str(tiny_t5_dir))
    loaded = EmbeddingCache(cache_dir).load(encoder.identity, ["a red cube", "a blue sphere", "a green cone"])
    assert torch.allclose(loaded.tokens[2], encoder.encode(["a green cone"]).tokens[0], atol=1e-6)
    with pytest.raises(SystemExit):
        main([*argv, "--prompts-file", str(tmp_path / "missing.txt")])
