"""Checksum manifests for directories of weights (checkpoints): what was written is what is read back.

``write_manifest(directory)`` lists every file below ``directory`` with its size in bytes and its SHA-256,
in ``manifest.json``. It is meant to be the last file a writer puts into a directory, and it is itself
written atomically: into ``manifest.json.tmp``, flushed and ``fsync``-ed, renamed over ``manifest.json``,
then the directory entry is ``fsync``-ed. A crash at any point leaves either no manifest (the directory is
incomplete) or a complete one; never a half-written manifest that would vouch for half-written files.

``verify_manifest(directory)`` checks, for each listed file, in this order: it exists (check ``missing
file``), its size matches (check ``size``: a truncated or grown file, found without reading it), its
SHA-256 matches (check ``sha256``: a flipped byte anywhere, e.g. inside a tensor's data where the
safetensors header still parses). A directory without a manifest fails with check ``missing manifest``;
an unreadable or malformed one with check ``manifest``. Every failure is a ``ManifestError`` naming the
file and the check.

Extra files (present but not listed) are allowed: a manifest vouches for what the writer wrote, and files
added later beside the weights (an ``evaluation.json`` written by ``atom.evaluate``) do not make the
weights untrustworthy. ``verify_manifest`` returns them so a caller can report or refuse them.

Cost: hashing is one sequential read of every byte (SHA-256 in hashlib runs at several hundred MB/s per
core; ``bench/bench_manifest.py`` measures it). This module imports no other part of ``atom``.
"""

from __future__ import annotations

import hashlib
import json
import os
from dataclasses import dataclass
from pathlib import Path

MANIFEST_NAME = "manifest.json"
FORMAT = "atom-manifest"
VERSION = 1
ALGORITHM = "sha256"
_CHUNK = 1 << 20  # bytes read per hash update
_TEMPORARY_SUFFIX = ".tmp"


class ManifestError(RuntimeError):
    """A directory does not match its manifest. ``path``: the file that failed; ``check``: which check."""

    def __init__(self, path: Path, check: str, detail: str) -> None:
        self.path = Path(path)
        self.check = check
        super().__init__(f"{self.path}: {check} check failed: {detail}")


@dataclass(frozen=True)
class FileEntry:
    """One listed file: its size in bytes and the hex SHA-256 of its contents."""

    size: int
    sha256: str


def file_sha256(path: str | Path) -> str:
    """Hex SHA-256 of a file's contents, read in 1 MiB chunks (constant memory)."""
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        while chunk := handle.read(_CHUNK):
            digest.update(chunk)
    return digest.hexdigest()


def _listed_files(directory: Path) -> list[Path]:
    """Every regular file below ``directory`` except the manifest and its temporary, sorted."""
    skip = {MANIFEST_NAME, MANIFEST_NAME + _TEMPORARY_SUFFIX}
    files = [p for p in directory.rglob("*") if p.is_file() and not (p.parent == directory and p.name in skip)]
    return sorted(files)


def _fsync_directory(path: Path) -> None:
    """Make a rename inside ``path`` durable (POSIX: the directory entry is data of the directory)."""
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def write_manifest(directory: str | Path) -> Path:
    """Hash every file below ``directory`` and write ``manifest.json`` atomically; returns its path.

    Call it after every other file of the directory is written and closed. Paths in the manifest are
    relative to ``directory`` with ``/`` separators.
    """
    directory = Path(directory)
    if not directory.is_dir():
        raise FileNotFoundError(f"cannot write a manifest: {directory} is not a directory")
    files = {
        path.relative_to(directory).as_posix(): {"size": path.stat().st_size, "sha256": file_sha256(path)}
        for path in _listed_files(directory)
    }
    document = {"format": FORMAT, "version": VERSION, "algorithm": ALGORITHM, "files": files}
    final = directory / MANIFEST_NAME
    temporary = directory / (MANIFEST_NAME + _TEMPORARY_SUFFIX)
    with open(temporary, "w", encoding="utf-8") as handle:
        json.dump(document, handle, indent=1, sort_keys=True)
        handle.flush()
        os.fsync(handle.fileno())
    os.replace(temporary, final)
    _fsync_directory(directory)
    return final


def read_manifest(directory: str | Path) -> dict[str, FileEntry]:
    """The entries of ``directory``'s manifest by relative path; ``ManifestError`` if it is absent or malformed."""
    directory = Path(directory)
    path = directory / MANIFEST_NAME
    if not path.is_file():
        raise ManifestError(path, "missing manifest", f"{directory} has no {MANIFEST_NAME} (incomplete or "
                                                      "written by a version of atom without manifests)")
    try:
        document = json.loads(path.read_text(encoding="utf-8"))
        if document.get("format") != FORMAT or document.get("algorithm") != ALGORITHM:
            raise ValueError(f"expected format {FORMAT!r} with algorithm {ALGORITHM!r}, got "
                             f"{document.get('format')!r} with {document.get('algorithm')!r}")
        if document.get("version") != VERSION:
            raise ValueError(f"expected version {VERSION}, got {document.get('version')!r}")
        entries = {name: FileEntry(int(entry["size"]), str(entry["sha256"]))
                   for name, entry in document["files"].items()}
    except (ValueError, KeyError, TypeError, AttributeError) as err:
        raise ManifestError(path, "manifest", f"unreadable manifest: {err}") from err
    for name in entries:
        if Path(name).is_absolute() or ".." in Path(name).parts:
            raise ManifestError(path, "manifest", f"entry {name!r} points outside {directory}")
    return entries


def verify_manifest(directory: str | Path) -> list[Path]:
    """Check every file listed in ``directory``'s manifest: present, same size, same SHA-256.

    Raises ``ManifestError`` at the first failure (sizes of all files are checked before any is hashed, so
    a truncation is reported without reading the data). Returns the files present but not listed (allowed).
    """
    directory = Path(directory)
    entries = read_manifest(directory)
    for name, entry in entries.items():
        path = directory / name
        if not path.is_file():
            raise ManifestError(path, "missing file", f"listed in {MANIFEST_NAME} but not in {directory}")
        size = path.stat().st_size
        if size != entry.size:
            state = "truncated" if size < entry.size else "grown"
            raise ManifestError(path, "size", f"{size} bytes, the manifest says {entry.size} ({state})")
    for name, entry in entries.items():
        path = directory / name
        digest = file_sha256(path)
        if digest != entry.sha256:
            raise ManifestError(path, "sha256", f"contents changed: sha256 {digest}, the manifest says "
                                                f"{entry.sha256}")
    return [path for path in _listed_files(directory) if path.relative_to(directory).as_posix() not in entries]
