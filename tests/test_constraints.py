"""The constraints file (``requirements/constraints.txt``, what ``make install`` and CI install with) pins an
exact version of every dependency ``setup.cfg`` names for a test install, inside the range setup.cfg allows."""

from __future__ import annotations

import configparser
from pathlib import Path

from packaging.requirements import Requirement
from packaging.utils import canonicalize_name
from packaging.version import Version

ROOT = Path(__file__).resolve().parents[1]


def _pins() -> dict[str, Version]:
    pins = {}
    for line in (ROOT / "requirements" / "constraints.txt").read_text().splitlines():
        if not line.strip() or line.startswith("#"):
            continue
        requirement = Requirement(line)
        (specifier,) = requirement.specifier  # exactly one clause, and it is ==
        assert specifier.operator == "==" and not requirement.url and not requirement.extras, line
        pins[canonicalize_name(requirement.name)] = Version(specifier.version)
    return pins


def _requirements(*extras: str) -> list[Requirement]:
    setup = configparser.ConfigParser()
    setup.read(ROOT / "setup.cfg")
    lines = setup["options"]["install_requires"].split("\n")
    for extra in extras:
        lines += setup["options.extras_require"][extra].split("\n")
    return [Requirement(line) for line in lines if line.strip()]


def test_every_test_install_dependency_is_pinned_inside_its_range():
    pins = _pins()
    for requirement in _requirements("dev"):
        name = canonicalize_name(requirement.name)
        assert name in pins, f"{requirement.name} is not in requirements/constraints.txt: run make lock"
        assert requirement.specifier.contains(pins[name], prereleases=True), (requirement, pins[name])


def test_pins_are_portable():
    """torch is pinned without a local build label (the same file serves CPU and CUDA wheels); atom itself and
    local packages are not pinned."""
    pins = _pins()
    assert pins["torch"] == Version("2.13.0") and pins["torch"].local is None
    assert "atom" not in pins
