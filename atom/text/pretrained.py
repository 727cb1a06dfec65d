"""Text encoders made of a transformers tokenizer and model, loaded with `from_pretrained`.

T5, CLIP and MiniLM differ only in the model class and in how one forward pass becomes token and
pooled embeddings; loading (from a hub id or a local folder, with an error that says where it looked),
dtype and device handling, padding/truncation and token counting are shared here.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import torch
from transformers import AutoTokenizer, PreTrainedModel, PreTrainedTokenizerBase

from atom.text.encoder import TextEncoder

DTYPES = {"float32": torch.float32, "float16": torch.float16, "bfloat16": torch.bfloat16}


def resolve_dtype(dtype: str, device: str) -> torch.dtype:
    """The torch dtype named by `dtype`; half precision only on CUDA (on CPU it is slow or unsupported)."""
    if dtype not in DTYPES:
        raise ValueError(f"dtype must be one of {sorted(DTYPES)}, got {dtype!r}")
    if dtype != "float32" and torch.device(device).type != "cuda":
        raise ValueError(f"dtype={dtype!r} needs a CUDA device, got device={device!r}; use dtype='float32'")
    return DTYPES[dtype]


def load_pretrained(
    loader: Callable[..., Any], path: str, subfolder: str | None, what: str, **kwargs: Any
) -> Any:
    """Call `loader(path, subfolder=...)` (a `from_pretrained`), turning a failure into an OSError that
    names the id/path and subfolder it looked in and says how to point at a local copy instead."""
    try:
        return loader(path, subfolder=subfolder or "", **kwargs)
    except (OSError, ValueError) as err:
        where = f"{path!r}" + (f" (subfolder {subfolder!r})" if subfolder else "")
        holds = f"the folder that holds {subfolder}/" if subfolder else "the model folder"
        raise OSError(
            f"could not load the {what} from {where}: {err}\n"
            f"Pass a local path instead, e.g. text.path=/path/to/model ({holds}); "
            "hub ids are only fetched when downloads are allowed (HF_HUB_OFFLINE unset)."
        ) from err


class PretrainedTextEncoder(TextEncoder):
    """A frozen transformers tokenizer + model pair; subclasses turn the model's output into embeddings.

    path: a hub id or a local folder. subfolder / tokenizer_subfolder: where model and tokenizer sit in
    it (None: at the top). max_length: tokens per prompt after padding/truncation (L). dtype: "float32",
    or "float16"/"bfloat16" on CUDA. device: where the model runs. `model_kwargs` go to the model's
    `from_pretrained` (e.g. a quantization config); `place_model=False` leaves placement to them.
    """

    def __init__(
        self,
        *,
        model_class: type[PreTrainedModel],
        path: str,
        subfolder: str | None,
        tokenizer_subfolder: str | None,
        max_length: int,
        dtype: str,
        device: str,
        identity_path: str | None = None,
        model_kwargs: dict[str, Any] | None = None,
        place_model: bool = True,
    ) -> None:
        super().__init__()
        if max_length < 1:
            raise ValueError(f"max_length must be >= 1, got {max_length}")
        torch_dtype = resolve_dtype(dtype, device)
        self.path = str(path)
        self.subfolder = subfolder
        self.dtype_name = dtype
        self._identity_path = identity_path or self.path
        self.tokenizer: PreTrainedTokenizerBase = load_pretrained(
            AutoTokenizer.from_pretrained, self.path, tokenizer_subfolder, "tokenizer"
        )
        self.model: PreTrainedModel = load_pretrained(
            model_class.from_pretrained,
            self.path,
            subfolder,
            f"text encoder ({model_class.__name__})",
            dtype=torch_dtype,
            **(model_kwargs or {}),
        )
        positions = getattr(self.model.config, "max_position_embeddings", None)
        if positions is not None and max_length > positions:
            raise ValueError(f"max_length must be <= {positions} for this model, got {max_length}")
        self._max_length = max_length
        if place_model:
            self.model.to(device)
        self.freeze()

    @property
    def dim(self) -> int:
        return self.model.config.hidden_size

    @property
    def max_length(self) -> int:
        return self._max_length

    @property
    def identity(self) -> str:
        fields = [f"path={self._identity_path}", f"subfolder={self.subfolder}"]
        fields += [f"max_length={self.max_length}", f"dtype={self.dtype_name}", *self._identity_extras()]
        return f"{type(self).__name__}({', '.join(fields)})"

    def _identity_extras(self) -> list[str]:
        """Further `key=value` settings that change the embeddings (e.g. quantization)."""
        return []

    def count_tokens(self, prompt: str) -> int:
        return len(self.tokenizer(prompt, add_special_tokens=True)["input_ids"])

    def tokenize(self, prompts: list[str]) -> tuple[torch.Tensor, torch.Tensor]:
        """Token ids [B, L] (long) and attention mask [B, L] (long, 1 = real), padded to max_length."""
        batch = self.tokenizer(
            prompts, padding="max_length", max_length=self.max_length, truncation=True, return_tensors="pt"
        )
        return batch["input_ids"].to(self.device), batch["attention_mask"].to(self.device)
