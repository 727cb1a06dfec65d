"""A non-editable install works: the wheel carries the Hydra config tree and the bundled weights, and from
another folder ``atom-train --help``, a 2-step toy64 run and ``atom-infer`` on it run from the installed copy.

The wheel is built from a copy of the checkout (so the build writes nothing into the repository) and installed
with ``pip install --no-deps --target``; the commands run with only that folder on ``PYTHONPATH``, so the
dependencies come from the current environment but ``atom`` itself comes from the wheel (checked: an editable
install of the checkout must not leak in). About 25 s of CPU time (a minute or two of wall time on a busy
2-core machine).
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

from atom.config import CONF_DIR

ROOT = Path(__file__).resolve().parents[1]
TOY_RUN = [
    "experiment=toy64", "trainer.max_steps=2", "stage1.steps=1", "stage1.resolution=16", "stage2.resolution=32",
    "stage2.grid_resolution=16", "trainer.prompts_per_step=2", "trainer.image_every=0", "trainer.image_prompts=1",
    "trainer.export_at_end=false", "trainer.evaluate_at_end=false", "trainer.export_grid_resolution=16",
    "trainer.progress=false", "logger=none",
]


def _source_files() -> list[str]:
    """The checkout's files as git sees them (tracked, plus new files not ignored)."""
    result = subprocess.run(["git", "ls-files", "-z", "--cached", "--others", "--exclude-standard"], cwd=ROOT,
                            capture_output=True, check=True)
    return [name for name in result.stdout.decode().split("\0") if name and (ROOT / name).is_file()]


def _run(command: list[str], cwd: Path, env: dict[str, str], timeout: int = 300) -> subprocess.CompletedProcess:
    result = subprocess.run(command, cwd=cwd, env=env, capture_output=True, text=True, timeout=timeout)
    assert result.returncode == 0, f"{command} failed:\n{result.stdout[-3000:]}\n{result.stderr[-5000:]}"
    return result


@pytest.fixture(scope="module")
def installed(tmp_path_factory) -> dict:
    """Build the wheel from a copy of the checkout and install it into a folder of its own."""
    root = tmp_path_factory.mktemp("install")
    source = root / "source"
    for name in _source_files():
        (source / name).parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(ROOT / name, source / name)
    env = {key: value for key, value in os.environ.items() if key != "PYTHONPATH"}
    pip = [sys.executable, "-m", "pip", "--disable-pip-version-check", "--no-input"]
    _run([*pip, "wheel", "--no-deps", "--no-build-isolation", "--no-index", "-w", str(root / "dist"), str(source)],
         cwd=root, env=env)
    (wheel,) = (root / "dist").glob("atom-*.whl")
    site = root / "site"
    _run([*pip, "install", "--no-deps", "--no-index", "--no-compile", "--target", str(site), str(wheel)],
         cwd=root, env=env)
    work = root / "elsewhere"
    work.mkdir()
    env.update(PYTHONPATH=str(site), OMP_NUM_THREADS="1", WANDB_MODE="offline", HF_HUB_OFFLINE="1")
    return {"source": source, "wheel": wheel, "site": site, "bin": site / "bin", "work": work, "env": env}


def test_wheel_carries_the_config_tree_and_the_weights(installed):
    names = set(zipfile.ZipFile(installed["wheel"]).namelist())
    package = installed["source"] / "atom"
    for folder, pattern in (("conf", "*.yaml"), ("weights", "*")):
        expected = {p.relative_to(installed["source"]).as_posix() for p in (package / folder).rglob(pattern)
                    if p.is_file()}
        assert expected and expected <= names, sorted(expected - names)
    assert {"atom/conf/train.yaml", "atom/weights/toy_prior/unet/diffusion_pytorch_model.safetensors"} <= names
    assert not any(name.startswith(("tests/", "bench/", "conf/")) for name in names)


def test_the_installed_copy_is_the_one_imported(installed):
    code = "import atom, atom.config; print(atom.__file__); print(atom.config.CONF_DIR)"
    result = _run([sys.executable, "-c", code], cwd=installed["work"], env=installed["env"])
    module_file, conf_dir = (Path(line) for line in result.stdout.split())
    assert module_file.is_relative_to(installed["site"]), module_file  # not the checkout's editable install
    assert conf_dir == installed["site"] / "atom" / "conf" and (conf_dir / "train.yaml").is_file()


def test_commands_run_from_another_folder(installed):
    work, env, bin_dir = installed["work"], installed["env"], installed["bin"]
    help_text = _run([str(bin_dir / "atom-train"), "--help"], cwd=work, env=env).stdout
    # the config groups, found inside the package: the experiments are the yaml files the wheel carries
    experiments = ", ".join(sorted(path.stem for path in (CONF_DIR / "experiment").glob("*.yaml")))
    assert f"experiment: {experiments}" in help_text and "toy64" in experiments

    run_dir = work / "run"
    _run([str(bin_dir / "atom-train"), *TOY_RUN, f"run_dir={run_dir}"], cwd=work, env=env, timeout=600)
    summary = json.loads((run_dir / "summary.json").read_text())
    assert summary["steps"] == 2 and (run_dir / "checkpoints").is_dir()

    out_dir = work / "meshes"
    _run([str(bin_dir / "atom-infer"), f"ckpt={run_dir}", "prompts=[a red cube,a blue torus]", f"out_dir={out_dir}",
          "grid_resolution=16", "preview.enabled=false", "progress=false"], cwd=work, env=env)
    report = json.loads((out_dir / "summary.json").read_text())
    assert [Path(item["mesh"]).suffix for item in report["prompts"]] == [".glb", ".glb"]
    assert all((out_dir / item["mesh"]).is_file() for item in report["prompts"])
