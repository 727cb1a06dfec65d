"""On-disk cache of prompt embeddings, so training never has to hold a large text encoder.

One safetensors file per (encoder identity, prompt), named by a SHA-256 of both; the identity and the prompt
are also stored in the file's metadata and checked on read. Files are written to a temporary name and
renamed, so an interrupted run never leaves a half-written entry behind.

Command line (Hydra, config ``atom/conf/text_cache.yaml``; ``text=`` takes the training config's encoder
presets, so the cached identities match the run's): ``python -m atom.text.cache text=t5 text.path=DIR
prompts_file=FILE cache_dir=DIR`` (or ``prompt='[a red cube,a blue sphere]'``) fills the cache and prints
what it did.
"""

from __future__ import annotations

import hashlib
import json
import os
import sys
import tempfile
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

import hydra
from hydra.core.config_store import ConfigStore
from omegaconf import DictConfig, OmegaConf
from safetensors import SafetensorError, safe_open
from safetensors.torch import save_file

from atom.config import CONF_DIR, TextConfig
from atom.text.encoder import TextEmbeddings, TextEncoder, validate_prompts
from atom.text.from_config import build_text_encoder

#: which encoder identity each text-encoder config gave (lets training skip building the encoder)
ENCODERS_FILE = "encoders.json"


class EmbeddingCache:
    """A folder of cached embeddings: `get_or_encode` fills it, `load` reads it without any encoder."""

    def __init__(self, directory: str | Path = "text_cache") -> None:
        self.directory = Path(directory)

    def path_for(self, identity: str, prompt: str) -> Path:
        """The file that holds `prompt` encoded by the encoder named `identity`."""
        digest = hashlib.sha256(f"{identity}\n{prompt}".encode()).hexdigest()
        return self.directory / f"{digest}.safetensors"

    def __contains__(self, key: tuple[str, str]) -> bool:
        """`(identity, prompt) in cache`."""
        identity, prompt = key
        return self.path_for(identity, prompt).is_file()

    def remember_encoder(self, settings: str, identity: str) -> None:
        """Record that the encoder built from ``settings`` (a config's canonical JSON) has ``identity``, so a
        later run with the same settings can read its prompts without building the encoder at all."""
        known = self._encoders()
        if known.get(settings) == identity:
            return
        known[settings] = identity
        self.directory.mkdir(parents=True, exist_ok=True)
        handle, temporary = tempfile.mkstemp(dir=self.directory, suffix=".tmp")
        with os.fdopen(handle, "w", encoding="utf-8") as file:
            json.dump(known, file, indent=1, sort_keys=True)
        os.replace(temporary, self.directory / ENCODERS_FILE)

    def encoder_identity(self, settings: str) -> str | None:
        """The identity recorded by `remember_encoder` for ``settings``, or None."""
        return self._encoders().get(settings)

    def _encoders(self) -> dict[str, str]:
        path = self.directory / ENCODERS_FILE
        return json.loads(path.read_text(encoding="utf-8")) if path.is_file() else {}

    def load(self, identity: str, prompts: Sequence[str]) -> TextEmbeddings:
        """Embeddings [B, L, D] of `prompts` as stored for `identity`; KeyError naming any missing prompts."""
        prompts = validate_prompts(prompts, allow_empty=True)
        missing = [prompt for prompt in prompts if (identity, prompt) not in self]
        if missing:
            raise KeyError(
                f"{len(missing)} prompt(s) not cached in {self.directory} for {identity}: {missing}"
            )
        return TextEmbeddings.cat([self._read(identity, prompt) for prompt in prompts])

    def get_or_encode(
        self, encoder: TextEncoder, prompts: Sequence[str], batch_size: int = 64, allow_empty: bool = False
    ) -> TextEmbeddings:
        """Embeddings [B, L, D] of `prompts`: cached ones are read, the others encoded (in batches of
        `batch_size`, each distinct prompt once) and stored. `allow_empty` admits "" as in `encode`."""
        prompts = validate_prompts(prompts, allow_empty=allow_empty)
        misses = list(dict.fromkeys(p for p in prompts if (encoder.identity, p) not in self))
        if misses:
            encoded = encoder.encode(misses, batch_size=batch_size, allow_empty=allow_empty)
            for index, prompt in enumerate(misses):
                self._write(encoder.identity, prompt, encoded[index])
        return self.load(encoder.identity, prompts)

    def _write(self, identity: str, prompt: str, embeddings: TextEmbeddings) -> None:
        """Store one prompt's embeddings (B = 1) atomically: write a temporary file, then rename it."""
        tensors = {"tokens": embeddings.tokens[0], "mask": embeddings.mask[0]}
        if embeddings.pooled is not None:
            tensors["pooled"] = embeddings.pooled[0]
        tensors = {name: tensor.detach().cpu().contiguous() for name, tensor in tensors.items()}
        self.directory.mkdir(parents=True, exist_ok=True)
        target = self.path_for(identity, prompt)
        handle, temporary = tempfile.mkstemp(dir=self.directory, prefix=".", suffix=".tmp")
        os.close(handle)
        try:
            save_file(tensors, temporary, metadata={"identity": identity, "prompt": prompt})
            os.replace(temporary, target)
        except BaseException:
            Path(temporary).unlink(missing_ok=True)
            raise

    def _read(self, identity: str, prompt: str) -> TextEmbeddings:
        """One cached prompt (B = 1); a file that cannot be read or does not match is a clear ValueError."""
        path = self.path_for(identity, prompt)
        try:
            with safe_open(path, framework="pt") as handle:
                metadata = handle.metadata() or {}
                tensors = {name: handle.get_tensor(name) for name in handle.keys()}
            pooled = tensors.get("pooled")
            embeddings = TextEmbeddings(
                tokens=tensors["tokens"][None],
                mask=tensors["mask"][None],
                pooled=None if pooled is None else pooled[None],
            )
        except (SafetensorError, OSError, KeyError, ValueError) as err:
            raise ValueError(
                f"cache file {path} (prompt {prompt!r}) is unreadable: {err!r}; "
                "delete it to encode the prompt again"
            ) from err
        if metadata.get("identity") != identity or metadata.get("prompt") != prompt:
            raise ValueError(
                f"cache file {path} holds prompt {metadata.get('prompt')!r} of {metadata.get('identity')!r}, "
                f"expected {prompt!r} of {identity!r}; delete it to encode the prompt again"
            )
        return embeddings


@dataclass
class TextCacheConfig:
    """``python -m atom.text.cache``: which encoder, which prompts (``prompt`` then the lines of ``prompts_file``),
    which cache folder."""

    text: TextConfig = field(default_factory=TextConfig)
    prompt: list[str] = field(default_factory=list)
    prompts_file: str | None = None  # one prompt per line, blank lines skipped
    cache_dir: str = "text_cache"
    batch_size: int = 64
    device: str = "cpu"


ConfigStore.instance().store(name="text_cache_schema", node=TextCacheConfig)


def read_prompts(cfg: TextCacheConfig) -> list[str]:
    """The distinct prompts of ``cfg`` in order; ValueError when there are none or the file is missing."""
    prompts = list(cfg.prompt)
    if cfg.prompts_file is not None:
        path = Path(cfg.prompts_file).expanduser()
        if not path.is_file():
            raise ValueError(f"prompts_file not found: {path}")
        lines = [line.strip() for line in path.read_text(encoding="utf-8").splitlines()]
        prompts += [line for line in lines if line]
    if not prompts:
        raise ValueError("no prompts: pass prompt='[a red cube,...]' and/or prompts_file=FILE (one prompt per line)")
    return list(dict.fromkeys(prompts))


def fill_cache(cfg: TextCacheConfig) -> str:
    """Encode the prompts of ``cfg`` not cached yet into ``cfg.cache_dir``; returns a one-line summary."""
    prompts = read_prompts(cfg)
    encoder = build_text_encoder(cfg.text, cfg.device)
    cache = EmbeddingCache(cfg.cache_dir)
    cached = sum((encoder.identity, prompt) in cache for prompt in prompts)
    embeddings = cache.get_or_encode(encoder, prompts, batch_size=cfg.batch_size)
    return (f"{len(prompts) - cached} encoded, {cached} already cached, {len(prompts)} prompts "
            f"[{embeddings.length} x {embeddings.dim}] with {encoder.identity} in {cache.directory.resolve()}")


@hydra.main(version_base="1.3", config_path=str(CONF_DIR), config_name="text_cache")
def main(cfg: DictConfig) -> None:
    """Fill the embedding cache for some prompts and print a summary; bad input exits with status 2."""
    try:
        summary = fill_cache(OmegaConf.to_object(cfg))
    except (ValueError, OSError) as err:
        print(f"atom.text.cache: error: {err}", file=sys.stderr, flush=True)
        sys.exit(2)
    print(summary, flush=True)


if __name__ == "__main__":
    main()
