"""T5 (as DeepFloyd IF uses it) and CLIP (as Stable Diffusion uses it), on tiny models built offline:
loading through the encoders must give exactly what the directly built model gives."""

from __future__ import annotations

import hashlib
from pathlib import Path

import pytest
import torch
from transformers import CLIPTextModel, T5EncoderModel

from atom.testing.tiny_text import build_tiny_clip, build_tiny_t5
from atom.text.clip import CLIPTextEncoder
from atom.text.t5 import T5TextEncoder

PROMPTS = ["a red cube", "a crimson dog wearing a hat, front view"]


def folder_digest(folder: Path) -> str:
    digest = hashlib.sha256()
    for path in sorted(folder.rglob("*")):
        if path.is_file():
            digest.update(str(path.relative_to(folder)).encode() + path.read_bytes())
    return digest.hexdigest()


def test_builders_are_deterministic(tmp_path: Path, tiny_t5_dir: Path, tiny_clip_dir: Path) -> None:
    assert folder_digest(build_tiny_t5(tmp_path / "t5")) == folder_digest(tiny_t5_dir)
    assert folder_digest(build_tiny_clip(tmp_path / "clip")) == folder_digest(tiny_clip_dir)
    for folder in (tiny_t5_dir, tiny_clip_dir):
        assert (folder / "text_encoder" / "config.json").is_file()
        assert (folder / "tokenizer").is_dir()


def test_t5_matches_direct_model(tiny_t5_dir: Path) -> None:
    encoder = T5TextEncoder(path=str(tiny_t5_dir))
    emb = encoder.encode(PROMPTS)
    assert emb.tokens.shape == (2, 77, 32) and emb.pooled is None and encoder.dim == 32

    # Independent path: the model straight from its folder, tokenised as IF's pipeline does.
    model = T5EncoderModel.from_pretrained(tiny_t5_dir / "text_encoder").eval()
    batch = encoder.tokenizer(
        PROMPTS, padding="max_length", max_length=77, truncation=True, return_tensors="pt"
    )
    with torch.no_grad():
        expected = model(input_ids=batch.input_ids, attention_mask=batch.attention_mask).last_hidden_state
    assert torch.equal(emb.tokens, expected)
    assert torch.equal(emb.mask, batch.attention_mask.bool())
    # T5 ends every prompt with </s>: "a red cube" is 3 words + </s> with the tiny vocabulary.
    assert emb.mask[0].sum() == 4
    assert "T5TextEncoder" in encoder.identity and str(tiny_t5_dir) in encoder.identity
    assert "dtype=float32" in encoder.identity and "max_length=77" in encoder.identity


def test_clip_matches_direct_model(tiny_clip_dir: Path) -> None:
    encoder = CLIPTextEncoder(path=str(tiny_clip_dir))
    emb = encoder.encode(PROMPTS)
    assert emb.tokens.shape == (2, 77, 32) and emb.pooled.shape == (2, 32)

    model = CLIPTextModel.from_pretrained(tiny_clip_dir / "text_encoder").eval()
    batch = encoder.tokenizer(
        PROMPTS, padding="max_length", max_length=77, truncation=True, return_tensors="pt"
    )
    with torch.no_grad():
        output = model(input_ids=batch.input_ids)
    assert torch.equal(emb.tokens, output.last_hidden_state)
    assert torch.equal(emb.pooled, output.pooler_output)
    # <|startoftext|> a red cube <|endoftext|>
    assert emb.mask[0].sum() == 5 and emb.mask[0, :5].all()


def test_shorter_max_length_truncates_consistently(tiny_t5_dir: Path) -> None:
    encoder = T5TextEncoder(path=str(tiny_t5_dir), max_length=8)
    emb = encoder.encode(["a red cube"])
    assert emb.tokens.shape == (1, 8, 32)
    full = T5TextEncoder(path=str(tiny_t5_dir)).encode(["a red cube"])
    # T5's attention mask hides padding, so real tokens do not depend on how much padding follows.
    assert torch.allclose(emb.tokens[0, :4], full.tokens[0, :4], atol=1e-6)
    assert encoder.identity != T5TextEncoder(path=str(tiny_t5_dir)).identity


def test_half_precision_and_8bit_need_cuda(tiny_t5_dir: Path) -> None:
    with pytest.raises(ValueError, match="CUDA"):
        T5TextEncoder(path=str(tiny_t5_dir), dtype="float16")
    with pytest.raises(ValueError, match="CUDA"):
        T5TextEncoder(path=str(tiny_t5_dir), load_in_8bit=True)
    with pytest.raises(ValueError, match="dtype must be one of"):
        CLIPTextEncoder(path=str(tiny_t5_dir), dtype="fp16")


def test_clip_rejects_max_length_beyond_positions(tiny_clip_dir: Path) -> None:
    with pytest.raises(ValueError, match="max_length must be <= 77"):
        CLIPTextEncoder(path=str(tiny_clip_dir), max_length=100)


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")
def test_t5_float16_on_cuda(tiny_t5_dir: Path) -> None:
    full = T5TextEncoder(path=str(tiny_t5_dir)).encode(PROMPTS)
    half = T5TextEncoder(path=str(tiny_t5_dir), dtype="float16", device="cuda").encode(PROMPTS)
    assert half.tokens.dtype == torch.float16 and half.tokens.device.type == "cuda"
    assert torch.allclose(half.tokens.float().cpu(), full.tokens, atol=1e-2)
