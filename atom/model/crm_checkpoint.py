"""Read CRM's released reconstruction checkpoint (``CRM.pth``) into a :class:`ReconstructionModel`.

The file is a plain ``torch.save`` state dict; it is read with ``torch.load(weights_only=True)`` (nothing is
unpickled beyond tensors and containers). Its names map to ours by prefix:

=============================  ==================================
CRM                            atom (:class:`ReconstructionModel`)
=============================  ==================================
``unet2.learned_plane``        ``learned_plane``
``unet2.unet.*``               ``unet.*``
``weightMlp.0`` / ``.2``       ``weight_head.net.0`` / ``.2``
``sdfMlp.fc1`` / ``2`` / ``3``  ``sdf_deformation_head.net.0`` / ``.2`` / ``.4``
``rgbMlp.fc1`` / ``2`` / ``3``  ``color_head.net.0`` / ``.2`` / ``.4``
=============================  ==================================

Attention layers saved by diffusers before 0.14 use ``query``, ``key``, ``value`` and ``proj_attn`` for
today's ``to_q``, ``to_k``, ``to_v`` and ``to_out.0``; both spellings are accepted. The conversion reports
missing and unexpected keys by name and tensors whose shapes differ from the config's; a checkpoint with
missing or mismatched tensors is refused (the written model must load strictly).
"""

from __future__ import annotations

import logging
import os
import pickle
from dataclasses import dataclass, field
from pathlib import Path

import torch
from torch import Tensor

from atom.model.reconstruction import ReconstructionConfig, ReconstructionModel

logger = logging.getLogger(__name__)

PREFIX_MAP: tuple[tuple[str, str], ...] = (
    ("unet2.learned_plane", "learned_plane"),
    ("unet2.unet.", "unet."),
    ("weightMlp.0.", "weight_head.net.0."),
    ("weightMlp.2.", "weight_head.net.2."),
    ("sdfMlp.fc1.", "sdf_deformation_head.net.0."),
    ("sdfMlp.fc2.", "sdf_deformation_head.net.2."),
    ("sdfMlp.fc3.", "sdf_deformation_head.net.4."),
    ("rgbMlp.fc1.", "color_head.net.0."),
    ("rgbMlp.fc2.", "color_head.net.2."),
    ("rgbMlp.fc3.", "color_head.net.4."),
)
"""CRM name prefix -> atom name prefix (the first match wins)."""
OLD_ATTENTION_NAMES: tuple[tuple[str, str], ...] = (
    (".query.", ".to_q."),
    (".key.", ".to_k."),
    (".value.", ".to_v."),
    (".proj_attn.", ".to_out.0."),
)
"""diffusers < 0.14 attention parameter names -> today's, inside ``attentions.*`` modules."""


class CRMCheckpointError(ValueError):
    """A CRM checkpoint that cannot be read or does not fit the config; the message names the offending keys."""


@dataclass
class ConversionReport:
    """What a conversion found, by name (atom names unless said otherwise).

    Attributes:
        missing: atom keys the checkpoint does not provide.
        unexpected: checkpoint keys (CRM names) that map to no atom key.
        mismatched: ``(atom key, checkpoint shape, expected shape)`` of tensors whose shapes differ.
        renamed_attention: how many old-style attention names were mapped.
    """

    missing: list[str] = field(default_factory=list)
    unexpected: list[str] = field(default_factory=list)
    mismatched: list[tuple[str, tuple[int, ...], tuple[int, ...]]] = field(default_factory=list)
    renamed_attention: int = 0

    @property
    def ok(self) -> bool:
        """True when every atom tensor is provided with its shape (unexpected keys are only reported)."""
        return not self.missing and not self.mismatched

    def summary(self) -> str:
        """Human-readable lines naming every missing, unexpected and mismatched key."""
        lines = [
            f"missing keys ({len(self.missing)}): {', '.join(self.missing) or '-'}",
            f"unexpected keys ({len(self.unexpected)}): {', '.join(self.unexpected) or '-'}",
            f"shape mismatches ({len(self.mismatched)}): "
            + (", ".join(f"{name} {list(got)} (expected {list(want)})" for name, got, want in self.mismatched) or "-"),
            f"old attention names mapped: {self.renamed_attention}",
        ]
        return "\n".join(lines)


def load_crm_state_dict(path: str | os.PathLike[str]) -> dict[str, Tensor]:
    """Read a ``torch.save`` state dict with ``weights_only=True``.

    Raises:
        FileNotFoundError: no such file.
        CRMCheckpointError: the file is not a readable weights-only checkpoint, not a dict, or holds non-string
            keys or non-tensor values (named).
    """
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"CRM checkpoint not found: {path}")
    try:
        state = torch.load(path, map_location="cpu", weights_only=True)
    except (pickle.UnpicklingError, RuntimeError, EOFError, ValueError) as error:
        raise CRMCheckpointError(
            f"cannot read {path} as a weights-only torch checkpoint (corrupt, or it holds more than tensors): {error}"
        ) from error
    if not isinstance(state, dict):
        raise CRMCheckpointError(f"{path} must hold a state dict (name -> tensor), got a {type(state).__name__}")
    bad = [repr(key) for key, value in state.items() if not isinstance(key, str) or not isinstance(value, Tensor)]
    if bad:
        raise CRMCheckpointError(f"{path}: entries that are not (str name -> tensor): {', '.join(bad[:20])}")
    return state


def crm_to_atom_name(name: str) -> tuple[str | None, bool]:
    """Our name for CRM's ``name`` (None when no prefix matches) and whether an old attention name was mapped."""
    for crm_prefix, atom_prefix in PREFIX_MAP:
        if name.startswith(crm_prefix):
            mapped = atom_prefix + name[len(crm_prefix) :]
            break
    else:
        return None, False
    renamed = False
    if ".attentions." in mapped:
        for old, new in OLD_ATTENTION_NAMES:
            if old in mapped:
                mapped, renamed = mapped.replace(old, new), True
    return mapped, renamed


def convert_crm_state_dict(
    state: dict[str, Tensor], config: ReconstructionConfig | None = None
) -> tuple[dict[str, Tensor], ConversionReport]:
    """CRM's state dict -> ours for ``config`` (default: the ``"crm"`` preset), with a report by name.

    Tensors that map to no key of ours or whose shape differs are left out of the result and reported.
    """
    config = config or ReconstructionConfig.preset("crm")
    with torch.device("meta"):  # shapes only: no memory, no initialisation
        expected = {name: tuple(value.shape) for name, value in ReconstructionModel(config).state_dict().items()}
    report = ConversionReport()
    converted: dict[str, Tensor] = {}
    for name, tensor in state.items():
        mapped, renamed = crm_to_atom_name(name)
        if mapped is None or mapped not in expected:
            report.unexpected.append(name)
            continue
        report.renamed_attention += renamed
        if tuple(tensor.shape) != expected[mapped]:
            report.mismatched.append((mapped, tuple(tensor.shape), expected[mapped]))
            continue
        converted[mapped] = tensor
    mismatched = {name for name, _, _ in report.mismatched}
    report.missing = [name for name in expected if name not in converted and name not in mismatched]
    return converted, report


def convert_crm_checkpoint(
    checkpoint: str | os.PathLike[str],
    out_dir: str | os.PathLike[str],
    config: ReconstructionConfig | None = None,
) -> tuple[Path, ConversionReport]:
    """Convert ``CRM.pth`` into a pretrained folder (``config.json`` + ``model.safetensors``) in ``out_dir``.

    Returns:
        the folder and the report (unexpected keys are logged as a warning and left out).

    Raises:
        CRMCheckpointError: the file cannot be read, or tensors are missing or of the wrong shape (all named).
    """
    config = config or ReconstructionConfig.preset("crm")
    converted, report = convert_crm_state_dict(load_crm_state_dict(checkpoint), config)
    if not report.ok:
        raise CRMCheckpointError(f"{checkpoint} does not fit the reconstruction config:\n{report.summary()}")
    if report.unexpected:
        logger.warning("ignoring %d unexpected keys of %s: %s", len(report.unexpected), checkpoint, report.unexpected)
    with torch.device("meta"):  # every tensor comes from the checkpoint: skip the random initialisation
        model = ReconstructionModel(config)
    model.load_state_dict(converted, strict=True, assign=True)
    return model.save_pretrained(out_dir), report
