import os
import shutil
import subprocess
from pathlib import Path

import pytest
import torch

os.environ.setdefault("WANDB_MODE", "offline")
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")


@pytest.fixture(autouse=True)
def _seed():
    """Every test starts from the same RNG state, so failures reproduce."""
    torch.manual_seed(0)
    yield


REPOSITORY = Path(__file__).resolve().parent.parent
# written by Python and pytest themselves, or by installed packages inside the environment (gradio writes
# `hash_seed.txt` into its package folder on first import), not by the code under test
_TOOL_DIRECTORIES = ("__pycache__/", ".pytest_cache/", ".ruff_cache/", ".egg-info/", ".venv/")


def _repository_files() -> set[str] | None:
    """Every changed, untracked or ignored path of the checkout (``git status``), or None outside git."""
    if shutil.which("git") is None or not (REPOSITORY / ".git").exists():
        return None
    result = subprocess.run(
        ["git", "status", "--porcelain", "--ignored", "--untracked-files=all"], cwd=REPOSITORY,
        capture_output=True, text=True, check=False)
    if result.returncode != 0:
        return None
    return {line for line in result.stdout.splitlines() if not any(d in line for d in _TOOL_DIRECTORIES)}


@pytest.fixture(scope="session", autouse=True)
def _tests_never_write_into_the_repository():
    """Fails the session when tests left files in the checkout (outputs, logs, caches): tests write only
    under their ``tmp_path``. Skipped outside a git checkout."""
    before = _repository_files()
    yield
    if before is None:
        return
    after = _repository_files() or set()
    added = sorted(after - before)
    if added:
        pytest.fail(f"tests wrote into the repository {REPOSITORY}: {added[:20]}", pytrace=False)
