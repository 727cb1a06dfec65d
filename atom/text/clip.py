"""CLIP text encoder as Stable Diffusion uses it: tokens = last_hidden_state, pooled = pooler_output.

Like the SD pipelines, the model sees only the token ids (its causal mask already keeps padding out of
the real tokens' states); the padding mask is still returned for consumers that want it.
"""

from __future__ import annotations

from transformers import CLIPTextModel

from atom.text.encoder import TextEmbeddings
from atom.text.pretrained import PretrainedTextEncoder


class CLIPTextEncoder(PretrainedTextEncoder):
    """Frozen CLIP text model (SD 2.1: OpenCLIP ViT-H, D = 1024). Tokens [B, max_length, D], pooled [B, D].

    path: hub id or local folder holding `subfolder/` (model) and `tokenizer_subfolder/`.
    dtype "float16"/"bfloat16" is for CUDA devices only.
    """

    def __init__(
        self,
        path: str = "stabilityai/stable-diffusion-2-1-base",
        subfolder: str | None = "text_encoder",
        tokenizer_subfolder: str | None = "tokenizer",
        max_length: int = 77,
        dtype: str = "float32",
        device: str = "cpu",
    ) -> None:
        super().__init__(
            model_class=CLIPTextModel,
            path=path,
            subfolder=subfolder,
            tokenizer_subfolder=tokenizer_subfolder,
            max_length=max_length,
            dtype=dtype,
            device=device,
        )

    def _encode(self, prompts: list[str]) -> TextEmbeddings:
        input_ids, attention_mask = self.tokenize(prompts)
        output = self.model(input_ids=input_ids)
        return TextEmbeddings(
            tokens=output.last_hidden_state, mask=attention_mask.bool(), pooled=output.pooler_output
        )
