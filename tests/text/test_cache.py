"""EmbeddingCache: encodes each prompt once, reads back without the encoder, fails clearly on bad files."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch
from hydra import compose, initialize_config_dir
from omegaconf import OmegaConf

from atom.config import CONF_DIR, TextEncoderKind
from atom.text.cache import EmbeddingCache, TextCacheConfig, fill_cache
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


def _cache_config(*overrides: str) -> TextCacheConfig:
    with initialize_config_dir(str(CONF_DIR), version_base="1.3"):
        return OmegaConf.to_object(compose("text_cache", overrides=list(overrides)))


def test_cache_config_takes_the_training_presets_and_rejects_bad_values() -> None:
    cfg = _cache_config("text=t5", "text.path=/models/IF", "prompt=[a red cube]")
    assert isinstance(cfg, TextCacheConfig) and cfg.text.kind is TextEncoderKind.t5
    assert (cfg.text.max_length, cfg.text.subfolder) == (77, "text_encoder")  # conf/text/t5.yaml, as training
    with pytest.raises(Exception, match="text.dtype=float61") as info:
        _cache_config("text.dtype=float61")
    assert "Invalid value 'float61', expected one of [float32, float16, bfloat16]" in str(info.value.__cause__)
    with pytest.raises(Exception) as info:
        _cache_config("batchsize=8")
    assert "Key 'batchsize' not in 'TextCacheConfig'" in str(info.value.__cause__)


def test_fill_cache_encodes_only_what_is_missing(tmp_path: Path, tiny_t5_dir: Path) -> None:
    prompts_file = tmp_path / "prompts.txt"
    prompts_file.write_text("a red cube\n\na blue sphere\n", encoding="utf-8")
    cache_dir = tmp_path / "cache"
    common = ["text=t5", f"text.path={tiny_t5_dir}", "text.dtype=float32", "text.max_length=16",
              f"cache_dir={cache_dir}"]
    assert "2 encoded, 0 already cached" in fill_cache(_cache_config(*common, f"prompts_file={prompts_file}"))
    summary = fill_cache(_cache_config(*common, "prompt=[a red cube,a green cone]"))
    assert "1 encoded, 1 already cached" in summary and str(cache_dir.resolve()) in summary
    encoder = T5TextEncoder(path=str(tiny_t5_dir), max_length=16)
    loaded = EmbeddingCache(cache_dir).load(encoder.identity, ["a red cube", "a blue sphere", "a green cone"])
    assert torch.allclose(loaded.tokens[2], encoder.encode(["a green cone"]).tokens[0], atol=1e-6)
    with pytest.raises(ValueError, match="prompts_file not found"):
        fill_cache(_cache_config(*common, f"prompts_file={tmp_path / 'missing.txt'}"))
    with pytest.raises(ValueError, match="no prompts"):
        fill_cache(_cache_config(*common))


def test_command_line(tmp_path: Path, tiny_t5_dir: Path) -> None:
    """``python -m atom.text.cache`` is a Hydra main: it fills the cache, and bad input exits 2 with a reason."""
    command = [sys.executable, "-m", "atom.text.cache", "text=t5", f"text.path={tiny_t5_dir}", "text.dtype=float32",
               f"cache_dir={tmp_path / 'cache'}"]
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    result = subprocess.run([*command, "prompt=[a red cube,a blue sphere]"], capture_output=True, text=True,
                            timeout=300, cwd=tmp_path, env=env)
    assert result.returncode == 0, result.stderr[-3000:]
    assert "2 encoded, 0 already cached" in result.stdout
    assert len(list((tmp_path / "cache").glob("*.safetensors"))) == 2
    assert sorted(p.name for p in tmp_path.iterdir()) == ["cache"]  # no Hydra outputs/ or log beside the caller
    missing = subprocess.run([*command, "prompts_file=missing.txt"], capture_output=True, text=True, timeout=300,
                             cwd=tmp_path, env=env)
    assert missing.returncode == 2 and "prompts_file not found" in missing.stderr
