"""Tiny CLIP models with processors (``CLIPModel`` + ``CLIPProcessor`` folders), built offline in a second.

``build_tiny_clip_model``: random weights (fixed seed), 32x32 images, for mechanics (loading, shapes, the CLI).

``build_color_probe_clip``: weights set by hand so that the answer of CLIP R-precision is known. Both towers
have one transformer layer whose attention is a plain average (query and key weights zero, value and output
projections the identity) and whose MLP adds nothing (``fc2`` zero); class, position and projection are the
identity or zero. With hidden width 8 and ``pattern(c) = (c - 1, 1 - c, 0, 0)`` for an RGB color c:

- image: the processor maps a pixel x to ``x - 1`` (mean 1, std 1: white becomes 0); the patch embedding
  averages each 8x8 patch into ``pattern``-shaped vectors (channels 0-2: the mean, 3-5: its negation); layer
  norms rescale each patch vector, the class token averages them. The image embedding is a positive mix of
  ``pattern(shaded pixel)`` over the non-white pixels;
- text: the token embeddings of the words red, green and blue are ``pattern`` of (1,0,0), (0,1,0), (0,0,1),
  every other token is 0; the end-of-text token averages the tokens before it, so the text embedding is the
  direction of its color word's pattern.

A red object under Lambertian shading with ambient light has pixels ``(s, 0, 0)`` (s > 0) blended with
white; their patterns are closer in angle to red's ``(0, -1, -1)`` than to green's or blue's, for any s > 0
and any coverage, so every view of a red, green or blue object retrieves its own color word: R@1 = 1.
``blind=True`` zeroes the patch embedding: every image embeds to 0, every similarity is 0, all texts tie.
"""

from __future__ import annotations

from pathlib import Path

import torch
from transformers import CLIPConfig, CLIPImageProcessor, CLIPModel, CLIPProcessor, CLIPTokenizer
from transformers.models.clip.modeling_clip import CLIPEncoderLayer

from atom.testing.tiny_text import MAX_LENGTH, SEED, tiny_clip_tokenizer

IMAGE_SIZE = 32
PATCH_SIZE = 8
HIDDEN = 8
#: the color words the probe knows, with their RGB
PROBE_COLORS = {"green": (0.0, 1.0, 0.0), "blue": (0.0, 0.0, 1.0), "red": (1.0, 0.0, 0.0)}


def _config(tokenizer: CLIPTokenizer, layers: int) -> CLIPConfig:
    text = dict(vocab_size=len(tokenizer), hidden_size=HIDDEN, intermediate_size=16, num_hidden_layers=layers,
                num_attention_heads=2, max_position_embeddings=MAX_LENGTH, bos_token_id=tokenizer.bos_token_id,
                eos_token_id=tokenizer.eos_token_id, pad_token_id=tokenizer.pad_token_id)
    vision = dict(hidden_size=HIDDEN, intermediate_size=16, num_hidden_layers=layers, num_attention_heads=2,
                  image_size=IMAGE_SIZE, patch_size=PATCH_SIZE)
    return CLIPConfig(text_config=text, vision_config=vision, projection_dim=HIDDEN)


def _save(model: CLIPModel, tokenizer: CLIPTokenizer, directory: Path, mean: list[float], std: list[float]) -> Path:
    image_processor = CLIPImageProcessor(size={"shortest_edge": IMAGE_SIZE},
                                         crop_size={"height": IMAGE_SIZE, "width": IMAGE_SIZE},
                                         image_mean=mean, image_std=std)
    model.save_pretrained(directory)
    CLIPProcessor(image_processor=image_processor, tokenizer=tokenizer).save_pretrained(directory)
    return directory


def build_tiny_clip_model(directory: str | Path) -> Path:
    """Write a randomly initialised 2-layer CLIP (width 8, 32x32 images, patch 8) and its processor."""
    tokenizer = tiny_clip_tokenizer()
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(SEED)
        model = CLIPModel(_config(tokenizer, layers=2)).eval()
    return _save(model, tokenizer, Path(directory), mean=[0.48, 0.46, 0.41], std=[0.27, 0.26, 0.28])


def pattern(rgb: tuple[float, float, float]) -> torch.Tensor:
    """The width-8 vector ``(c - 1, 1 - c, 0, 0)`` of an RGB color c (zero mean, so layer norms keep it)."""
    ink = torch.tensor(rgb) - 1.0
    return torch.cat([ink, -ink, torch.zeros(HIDDEN - 6)])


def _average_layer(layer: CLIPEncoderLayer) -> None:
    """Attention = mean of the (layer-normed) visible tokens; MLP = 0; layer norms plain."""
    attention = layer.self_attn
    for projection in (attention.q_proj, attention.k_proj):
        projection.weight.zero_()
        projection.bias.zero_()
    for projection in (attention.v_proj, attention.out_proj):
        projection.weight.copy_(torch.eye(HIDDEN))
        projection.bias.zero_()
    layer.mlp.fc2.weight.zero_()
    layer.mlp.fc2.bias.zero_()
    for norm in (layer.layer_norm1, layer.layer_norm2):
        norm.weight.fill_(1.0)
        norm.bias.zero_()


def build_color_probe_clip(directory: str | Path, blind: bool = False) -> Path:
    """Write the hand-set CLIP of the module docstring (its text side knows red, green and blue)."""
    tokenizer = tiny_clip_tokenizer(first=tuple(PROBE_COLORS))
    model = CLIPModel(_config(tokenizer, layers=1)).eval()
    vision, text = model.vision_model, model.text_model
    with torch.no_grad():
        patch = torch.zeros(HIDDEN, 3, PATCH_SIZE, PATCH_SIZE)
        if not blind:
            for channel in range(3):
                patch[channel, channel] = 1.0 / PATCH_SIZE**2
                patch[3 + channel, channel] = -1.0 / PATCH_SIZE**2
        vision.embeddings.patch_embedding.weight.copy_(patch)
        vision.embeddings.class_embedding.zero_()
        vision.embeddings.position_embedding.weight.zero_()
        text.embeddings.token_embedding.weight.zero_()
        text.embeddings.position_embedding.weight.zero_()
        for word, rgb in PROBE_COLORS.items():
            token = tokenizer.convert_tokens_to_ids(word + "</w>")
            if tokenizer.tokenize(word) != [word + "</w>"]:
                raise RuntimeError(f"the probe's tokenizer splits {word!r} into {tokenizer.tokenize(word)}")
            text.embeddings.token_embedding.weight[token] = pattern(rgb)
        for layer in (*vision.encoder.layers, *text.encoder.layers):
            _average_layer(layer)
        for norm in (vision.pre_layrnorm, vision.post_layernorm, text.final_layer_norm):
            norm.weight.fill_(1.0)
            norm.bias.zero_()
        model.visual_projection.weight.copy_(torch.eye(HIDDEN))
        model.text_projection.weight.copy_(torch.eye(HIDDEN))
    return _save(model, tokenizer, Path(directory), mean=[1.0, 1.0, 1.0], std=[1.0, 1.0, 1.0])
