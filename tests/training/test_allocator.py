"""retain_freed_memory: the large buffers of a training step, freed and allocated again, are reused rather than
faulted in afresh.

Measured in fresh interpreters (the setting is process-wide): the minor page faults of a "step" that fills three
large tensors (64, 16 and 32 MiB) and frees them, ten times; the faults of steps 2 to 10 are summed (the heap
takes a few steps to settle: glibc's aligned allocations leave gaps at first).
"""

from __future__ import annotations

import json
import logging
import platform
import subprocess
import sys
from types import SimpleNamespace

import pytest

from atom.testing.tiny_training import compose_tiny
from atom.training import allocator, build

STEP_PAGES = (64 + 16 + 32) * 2**20 // 4096

SCRIPT = """
import json, resource, sys
import torch
from atom.training.allocator import retain_freed_memory
accepted = retain_freed_memory() if sys.argv[1] == "retain" else None
def step_faults():
    before = resource.getrusage(resource.RUSAGE_SELF).ru_minflt
    buffers = [torch.ones(n) for n in (16 * 2**20, 4 * 2**20, 8 * 2**20)]  # float32: 64, 16, 32 MiB
    after = resource.getrusage(resource.RUSAGE_SELF).ru_minflt
    del buffers
    return after - before
faults = [step_faults() for _ in range(10)]
print(json.dumps({"accepted": accepted, "faults": sum(faults[1:])}))
"""


def settled_step_faults(mode: str) -> dict:
    out = subprocess.run([sys.executable, "-c", SCRIPT, mode], capture_output=True, text=True, check=True,
                         env={"OMP_NUM_THREADS": "1", "PATH": ""})
    return json.loads(out.stdout.strip().splitlines()[-1])


@pytest.mark.skipif(platform.libc_ver()[0] != "glibc", reason="mallopt settings are glibc's")
def test_freed_step_buffers_are_reused_instead_of_faulted_in_again():
    default, retained = settled_step_faults("default"), settled_step_faults("retain")
    assert default["faults"] > 9 * STEP_PAGES // 2, default  # glibc gave the pages back: they fault in again
    assert retained["accepted"] is True
    assert retained["faults"] < default["faults"] / 3, (retained, default)


def test_another_c_library_is_left_alone_and_logged(monkeypatch, caplog):
    monkeypatch.setattr(allocator.platform, "libc_ver", lambda: ("", ""))
    monkeypatch.setattr(allocator.ctypes, "CDLL", lambda name: pytest.fail("must not load a C library"))
    with caplog.at_level(logging.INFO, logger=allocator.__name__):
        assert allocator.retain_freed_memory() is False
    assert "not glibc" in caplog.text


def test_a_refused_setting_is_reported(monkeypatch, caplog):
    def mallopt(param, value):  # stands in for the C function: refuses the top pad
        return 0 if param == allocator.M_TOP_PAD else 1

    monkeypatch.setattr(allocator.platform, "libc_ver", lambda: ("glibc", "2.36"))
    monkeypatch.setattr(allocator.ctypes, "CDLL", lambda name: SimpleNamespace(mallopt=mallopt))
    with caplog.at_level(logging.WARNING, logger=allocator.__name__):
        assert allocator.retain_freed_memory() is False
    assert "top pad" in caplog.text


@pytest.mark.parametrize("setting, calls", [("true", 1), ("false", 0)])
def test_build_trainer_applies_the_setting(tiny_assets, tmp_path, monkeypatch, setting, calls):
    called = []
    monkeypatch.setattr(build, "retain_freed_memory", lambda: called.append(True))
    build.build_trainer(compose_tiny(tiny_assets, tmp_path, f"trainer.retain_freed_memory={setting}"), tmp_path)
    assert len(called) == calls
