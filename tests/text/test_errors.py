"""Bad input and missing models give errors that say what was wrong and how to fix it."""

from __future__ import annotations

import logging
from pathlib import Path

import huggingface_hub
import pytest

from atom.text.clip import CLIPTextEncoder
from atom.text.minilm import MiniLMTextEncoder
from atom.text.t5 import T5TextEncoder


def test_empty_inputs_name_the_index(minilm: MiniLMTextEncoder) -> None:
    with pytest.raises(ValueError, match="empty list"):
        minilm.encode([])
    with pytest.raises(ValueError, match="prompt 1 is empty"):
        minilm.encode(["a red cube", ""])
    with pytest.raises(ValueError, match="prompt 2 is empty"):
        minilm.encode(["a red cube", "a cat", " \t "])
    with pytest.raises(ValueError, match="single string"):
        minilm.encode("a red cube")
    with pytest.raises(ValueError, match="prompt 0 must be a str"):
        minilm.encode([3])
    assert minilm.encode([""], allow_empty=True).tokens.shape == (1, 32, 384)


@pytest.mark.parametrize("encoder_class", [T5TextEncoder, CLIPTextEncoder, MiniLMTextEncoder])
def test_missing_path_says_where_and_how(encoder_class: type, tmp_path: Path) -> None:
    missing = tmp_path / "no_such_model"
    with pytest.raises(OSError) as info:
        encoder_class(path=str(missing))
    message = str(info.value)
    assert str(missing) in message and "local path" in message and "text.path=" in message


def test_missing_subfolder_is_named(tiny_t5_dir: Path) -> None:
    with pytest.raises(OSError, match="subfolder 'encoder_of_text'"):
        T5TextEncoder(path=str(tiny_t5_dir), subfolder="encoder_of_text")


@pytest.mark.skipif(not huggingface_hub.constants.HF_HUB_OFFLINE, reason="would try to download")
def test_hub_id_offline_names_the_id() -> None:
    # conftest sets HF_HUB_OFFLINE=1: nothing is downloaded, and the error points at a local path.
    with pytest.raises(OSError, match="(?s)DeepFloyd/IF-I-XL-v1.0.*subfolder 'tokenizer'.*local path"):
        T5TextEncoder()


def test_truncation_warns_once_per_prompt(
    minilm: MiniLMTextEncoder, caplog: pytest.LogCaptureFixture
) -> None:
    long_prompt = "a very " + "very " * 40 + "long prompt about a cube"
    # Counted in tokens, not characters: 33 short tokens exceed 32 even though 100 characters would not.
    token_limit_prompt = " ".join(["a"] * 31)  # 31 words + [CLS] + [SEP] = 33 tokens, 61 characters
    short = "a red cube"
    with caplog.at_level(logging.WARNING, logger="atom.text.encoder"):
        emb = minilm.encode([long_prompt, short, token_limit_prompt])
        minilm.encode([long_prompt, short])
    warnings = [record.getMessage() for record in caplog.records if "truncated" in record.getMessage()]
    assert len(warnings) == 2
    assert any(long_prompt in message for message in warnings)
    assert any(repr(token_limit_prompt) in message for message in warnings)
    assert emb.mask[0].all() and emb.mask[2].all() and not emb.mask[1].all()
