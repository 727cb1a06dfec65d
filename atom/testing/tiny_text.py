"""Tiny, randomly initialised T5 and CLIP text encoders with tokenizers, built offline in a second.

They stand in for DeepFloyd IF's T5 and Stable Diffusion's CLIP wherever the real weights cannot be had
(tests, smoke runs, tiny diffusers pipelines). Each builder writes the layout those pipelines use,
`text_encoder/` and `tokenizer/` (both `save_pretrained`), so `from_pretrained(folder, subfolder=...)`
loads them like the real thing. Same folder contents on every call: weights come from a fixed seed.
"""

from __future__ import annotations

import string
from pathlib import Path

import torch
from tokenizers import pre_tokenizers
from transformers import CLIPTextConfig, CLIPTextModel, CLIPTokenizer, T5Config, T5EncoderModel, T5Tokenizer

SEED = 0
MAX_LENGTH = 77
# Whole-word pieces for the words that tests and toy prompts use; anything else falls back to characters.
WORDS = (
    "a an the of on in at with and photo view front side back overhead red crimson blue green yellow "
    "white black orange purple cube sphere cone torus cylinder pig cat dog mountain lake dawn wooden"
).split()


def build_tiny_t5(directory: str | Path) -> Path:
    """Write a 2-layer T5 encoder (d_model 32) and a unigram T5 tokenizer into `directory`; return it."""
    directory = Path(directory)
    # Unigram pieces: specials, whole words (likelier), then single characters so any text tokenizes.
    vocab = [("<pad>", 0.0), ("</s>", 0.0), ("<unk>", 0.0)]
    vocab += [("\u2581" + word, -2.0) for word in WORDS]
    vocab += [("\u2581", -3.0)] + [
        (char, -5.0) for char in string.ascii_letters + string.digits + string.punctuation
    ]
    tokenizer = T5Tokenizer(vocab=vocab, extra_ids=0, model_max_length=MAX_LENGTH)
    config = T5Config(
        vocab_size=len(tokenizer),
        d_model=32,
        d_kv=16,
        d_ff=64,
        num_layers=2,
        num_heads=2,
        feed_forward_proj="gated-gelu",  # as T5-v1.1, IF's encoder
        pad_token_id=tokenizer.pad_token_id,
        eos_token_id=tokenizer.eos_token_id,
        decoder_start_token_id=tokenizer.pad_token_id,
    )
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(SEED)
        model = T5EncoderModel(config).eval()
    model.save_pretrained(directory / "text_encoder")
    tokenizer.save_pretrained(directory / "tokenizer")
    return directory


def tiny_clip_tokenizer(first: tuple[str, ...] = ()) -> CLIPTokenizer:
    """A byte-level BPE CLIP tokenizer whose merges spell out WORDS (any text tokenizes).

    Merges apply lowest rank first, so a word whose pieces also start an earlier word's merges stays split
    (with "red" first, "green" becomes g/re/e/n); the words in ``first`` get the lowest ranks.
    """
    # CLIP's BPE: every byte symbol alone and word-final, merges that spell out WORDS, then the specials.
    alphabet = sorted(pre_tokenizers.ByteLevel.alphabet())
    symbols = alphabet + [char + "</w>" for char in alphabet]
    merges: list[tuple[str, str]] = []
    for word in (*first, *WORDS):
        pieces = list(word[:-1]) + [word[-1] + "</w>"]
        while len(pieces) > 1:
            merges.append((pieces[0], pieces[1]))
            pieces = [pieces[0] + pieces[1], *pieces[2:]]
            symbols.append(pieces[0])
    merges = list(dict.fromkeys(merges))
    symbols = list(dict.fromkeys(symbols)) + ["<|startoftext|>", "<|endoftext|>"]
    return CLIPTokenizer(
        vocab={symbol: index for index, symbol in enumerate(symbols)},
        merges=merges,
        model_max_length=MAX_LENGTH,
    )


def build_tiny_clip(directory: str | Path) -> Path:
    """Write a 2-layer CLIP text model (hidden 32) and a byte-level BPE CLIP tokenizer into `directory`."""
    directory = Path(directory)
    tokenizer = tiny_clip_tokenizer()
    config = CLIPTextConfig(
        vocab_size=len(tokenizer),
        hidden_size=32,
        intermediate_size=37,
        num_hidden_layers=2,
        num_attention_heads=2,
        projection_dim=32,
        max_position_embeddings=MAX_LENGTH,
        hidden_act="gelu",
        bos_token_id=tokenizer.bos_token_id,
        eos_token_id=tokenizer.eos_token_id,
        pad_token_id=tokenizer.pad_token_id,
    )
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(SEED)
        model = CLIPTextModel(config).eval()
    model.save_pretrained(directory / "text_encoder")
    tokenizer.save_pretrained(directory / "tokenizer")
    return directory
