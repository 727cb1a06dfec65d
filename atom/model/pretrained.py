"""``save_pretrained`` / ``from_pretrained`` for the model's networks (diffusers style).

A pretrained folder holds ``config.json`` (the config dataclass's fields plus ``_class_name``) and
``model.safetensors`` (the full state dict). Loading is strict: every weight must match the config, and a
folder with a checksum manifest (every training checkpoint) is verified against it first.
``PretrainedModel`` gives a network whose config dataclass fully describes it both methods (as diffusers'
``ModelMixin`` + ``ConfigMixin`` do).
"""

from __future__ import annotations

import dataclasses
import json
import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any, ClassVar

import torch
from safetensors import SafetensorError
from safetensors.torch import load_file, save_file
from torch import Tensor, nn

from atom.model.checkpoints import verify_checkpoint

CONFIG_NAME = "config.json"
WEIGHTS_NAME = "model.safetensors"


def save_pretrained(model: nn.Module, config: Any, directory: str | os.PathLike[str]) -> Path:
    """Write ``config.json`` (dataclass ``config`` + the model's class name) and ``model.safetensors`` into
    ``directory`` (created); returns it."""
    path = Path(directory)
    path.mkdir(parents=True, exist_ok=True)
    state = {name: tensor.detach().contiguous() for name, tensor in model.state_dict().items()}
    save_file(state, path / WEIGHTS_NAME, metadata={"format": "pt"})
    values = {"_class_name": type(model).__name__, **dataclasses.asdict(config)}
    (path / CONFIG_NAME).write_text(json.dumps(values, indent=2) + "\n")
    return path


def config_from_dict(config_class: type, values: Mapping[str, Any]) -> Any:
    """``config_class(**values)`` for a config dataclass; unknown keys raise ``ValueError`` naming them and the
    accepted ones (a config.json from other code fails with a readable message, not a ``TypeError``)."""
    known = {f.name for f in dataclasses.fields(config_class)}
    unknown = sorted(set(values) - known)
    if unknown:
        raise ValueError(f"unknown {config_class.__name__} keys {unknown}; accepted: {sorted(known)}")
    return config_class(**values)


#: class names written by earlier versions of atom, read as today's: old name -> new name
RENAMED_CLASSES = {"TriplaneGenerator": "TextToMeshModel"}


def read_pretrained_config(directory: str | os.PathLike[str], class_name: str, what: str) -> dict[str, Any]:
    """The config fields stored in ``directory`` for a model of class ``class_name`` (or its old name, see
    ``RENAMED_CLASSES``).

    Raises:
        FileNotFoundError: ``directory`` or one of its two files is missing (``what`` names the model).
        ValueError: the config is not a JSON object, or describes another class.
    """
    path = Path(directory)
    if not path.is_dir():
        raise FileNotFoundError(f"pretrained {what} directory not found: {path}")
    config_path = path / CONFIG_NAME
    for required in (config_path, path / WEIGHTS_NAME):
        if not required.is_file():
            raise FileNotFoundError(f"pretrained {what} file not found: {required}")
    try:
        values = json.loads(config_path.read_text())
    except json.JSONDecodeError as error:
        raise ValueError(f"{config_path} is not valid JSON: {error}") from error
    if not isinstance(values, dict):
        raise ValueError(f"{config_path} must hold a JSON object, got {type(values).__name__}")
    stored = values.pop("_class_name", class_name)
    if RENAMED_CLASSES.get(stored, stored) != class_name:
        raise ValueError(f"{config_path} describes a {stored!r}, not a {class_name!r}")
    return values


def load_pretrained_weights(
    model: nn.Module, directory: str | os.PathLike[str], device: str | torch.device, assign: bool = False
) -> None:
    """Load ``directory``'s ``model.safetensors`` into ``model`` strictly; ``assign`` puts the loaded tensors in
    place of the parameters (for a model built on the "meta" device: no initialisation, no copy).

    Raises:
        ValueError: the file is corrupt or not safetensors, or its tensors do not match the model's config.
    """
    path = Path(directory)
    weights_path = path / WEIGHTS_NAME
    try:
        state: dict[str, Tensor] = load_file(weights_path, device=str(device))
    except SafetensorError as error:
        raise ValueError(f"cannot read weights {weights_path} (corrupt or not safetensors): {error}") from error
    try:
        model.load_state_dict(state, strict=True, assign=assign)
    except RuntimeError as error:
        raise ValueError(
            f"weights {weights_path} do not match config {path / CONFIG_NAME}: {error}"
        ) from error


class PretrainedModel(nn.Module):
    """A network built from one config dataclass (``self.config``), saved and loaded as a pretrained folder.

    Subclasses set ``config_class`` (a dataclass with ``from_dict``) and ``description`` (named in errors).
    """

    config_class: ClassVar[type]
    description: ClassVar[str]
    config: Any

    def num_parameters(self) -> int:
        """Number of scalar parameters."""
        return sum(p.numel() for p in self.parameters())

    def save_pretrained(self, directory: str | os.PathLike[str]) -> Path:
        """Write ``config.json`` and ``model.safetensors`` into ``directory`` (created); returns it."""
        return save_pretrained(self, self.config, directory)

    @classmethod
    def from_pretrained(cls, directory: str | os.PathLike[str], device: str | torch.device = "cpu"):
        """Load a model written by :meth:`save_pretrained`, strictly, in eval mode on ``device``.

        Raises:
            FileNotFoundError: ``directory`` or one of its two files is missing.
            ValueError: the config is invalid or describes another class, the weights file is corrupt, or the
                weights do not match the config.
            CorruptCheckpointError: a file differs from the directory's manifest (when it has one).
        """
        values = read_pretrained_config(directory, cls.__name__, cls.description)
        verify_checkpoint(directory)
        with torch.device("meta"):  # every tensor comes from the file: skip the random initialisation
            model = cls(cls.config_class.from_dict(values))
        load_pretrained_weights(model, directory, device, assign=True)
        return model.to(device).eval()
