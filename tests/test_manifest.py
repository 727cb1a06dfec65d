"""Checkpoint manifests on plain folders holding real safetensors files."""

from __future__ import annotations

import hashlib
import json
import struct
from pathlib import Path

import pytest
import torch
from safetensors.torch import load_file, save_file

from atom import manifest
from atom.manifest import MANIFEST_NAME, ManifestError, verify_manifest, write_manifest


@pytest.fixture()
def folder(tmp_path: Path) -> Path:
    """A checkpoint-like folder: two safetensors files (one in a subfolder) and a JSON config."""
    generator = torch.Generator().manual_seed(0)
    save_file({"weight": torch.randn(64, 32, generator=generator), "bias": torch.randn(64, generator=generator)},
              str(tmp_path / "model.safetensors"))
    (tmp_path / "sub").mkdir()
    save_file({"values": torch.randn(128, generator=generator)}, str(tmp_path / "sub" / "extra.safetensors"))
    (tmp_path / "config.json").write_text('{"width": 32}')
    write_manifest(tmp_path)
    return tmp_path


def tensor_data_offset(path: Path, name: str) -> int:
    """Byte offset in the file of tensor ``name``'s first data byte, read from the safetensors header."""
    raw = path.read_bytes()
    (header_length,) = struct.unpack("<Q", raw[:8])
    header = json.loads(raw[8 : 8 + header_length])
    return 8 + header_length + header[name]["data_offsets"][0]


def test_manifest_lists_every_file_with_size_and_sha256(folder: Path) -> None:
    document = json.loads((folder / MANIFEST_NAME).read_text())
    assert sorted(document["files"]) == ["config.json", "model.safetensors", "sub/extra.safetensors"]
    for name, entry in document["files"].items():
        data = (folder / name).read_bytes()
        assert entry["size"] == len(data)
        assert entry["sha256"] == hashlib.sha256(data).hexdigest()
    assert not (folder / (MANIFEST_NAME + ".tmp")).exists()


def test_valid_folder_verifies(folder: Path) -> None:
    assert verify_manifest(folder) == []


def test_truncated_file_fails_the_size_check(folder: Path) -> None:
    path = folder / "model.safetensors"
    path.write_bytes(path.read_bytes()[:-100])
    with pytest.raises(ManifestError, match="size check failed.*truncated") as info:
        verify_manifest(folder)
    assert info.value.path == path and info.value.check == "size"


def test_flipped_byte_inside_tensor_data_fails_the_checksum(folder: Path) -> None:
    path = folder / "model.safetensors"
    before = {name: tensor.clone() for name, tensor in load_file(str(path)).items()}
    offset = tensor_data_offset(path, "weight") + 4 * 100 + 3  # the high byte of weight.flatten()[100]
    raw = bytearray(path.read_bytes())
    raw[offset] ^= 0x01
    path.write_bytes(bytes(raw))
    after = load_file(str(path))  # the header still parses: only the checksum can tell
    changed = (before["weight"] != after["weight"]).flatten().nonzero().flatten().tolist()
    assert changed == [100] and torch.equal(before["bias"], after["bias"])
    with pytest.raises(ManifestError, match="sha256 check failed") as info:
        verify_manifest(folder)
    assert info.value.path == path and info.value.check == "sha256"


def test_missing_file_is_named(folder: Path) -> None:
    (folder / "sub" / "extra.safetensors").unlink()
    with pytest.raises(ManifestError, match="missing file check failed") as info:
        verify_manifest(folder)
    assert info.value.path == folder / "sub" / "extra.safetensors"


def test_folder_without_manifest_fails(folder: Path) -> None:
    (folder / MANIFEST_NAME).unlink()
    with pytest.raises(ManifestError, match="missing manifest") as info:
        verify_manifest(folder)
    assert info.value.check == "missing manifest"


def test_malformed_manifest_and_escaping_paths_fail(folder: Path) -> None:
    path = folder / MANIFEST_NAME
    document = json.loads(path.read_text())
    path.write_text(path.read_text()[:-10])
    with pytest.raises(ManifestError, match="unreadable manifest"):
        verify_manifest(folder)
    document["files"]["../outside.bin"] = {"size": 1, "sha256": "0" * 64}
    path.write_text(json.dumps(document))
    with pytest.raises(ManifestError, match="points outside"):
        verify_manifest(folder)


def test_extra_files_are_allowed_and_returned(folder: Path) -> None:
    (folder / "evaluation.json").write_text("{}")
    assert verify_manifest(folder) == [folder / "evaluation.json"]


def test_crash_before_the_rename_leaves_no_manifest(folder: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    (folder / MANIFEST_NAME).unlink()

    def crash(*args: object) -> None:
        raise OSError("simulated crash before the rename")

    monkeypatch.setattr(manifest.os, "replace", crash)
    with pytest.raises(OSError, match="simulated crash"):
        write_manifest(folder)
    assert not (folder / MANIFEST_NAME).exists()
    with pytest.raises(ManifestError, match="missing manifest"):
        verify_manifest(folder)
    monkeypatch.undo()
    write_manifest(folder)  # a later write replaces the stale temporary and succeeds
    assert verify_manifest(folder) == []
