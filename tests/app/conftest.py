"""A real app server for the API and browser tests: ``python -m atom.app`` in a subprocess on a free port.

The server runs on the tiny untrained checkpoint (``atom.testing.tiny_training.tiny_checkpoint``), with its
own empty working directory and home, so the tests can see everything it writes; ``image_server`` also has the
image tab, on tiny random stage models (``atom.testing.tiny_image_to_mesh``).
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import httpx
import numpy as np
import pytest
from PIL import Image

from atom.testing.tiny_image_to_mesh import tiny_image_to_mesh_models, toy_picture
from atom.testing.tiny_training import tiny_checkpoint

REPO = Path(__file__).resolve().parents[2]
START_TIMEOUT_S = 240  # torch + transformers + gradio imports on a shared 2-core machine
GRID = 16  # cells per axis in the tests: the tiny model's mesh in a fraction of a second


@dataclass
class AppServer:
    url: str
    out_dir: Path
    cwd: Path
    home: Path
    log: Path
    process: subprocess.Popen
    grid: int = GRID

    def log_text(self) -> str:
        return self.log.read_text(encoding="utf-8", errors="replace")


def find_free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@pytest.fixture()
def free_port() -> int:
    """A TCP port on 127.0.0.1 that was free a moment ago."""
    return find_free_port()


def wait_until_serving(url: str, process: subprocess.Popen, log: Path) -> None:
    deadline = time.monotonic() + START_TIMEOUT_S
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"the app exited with status {process.returncode}:\n{log.read_text()[-4000:]}")
        try:
            if httpx.get(url, timeout=2).status_code == 200:
                return
        except httpx.TransportError:
            pass
        time.sleep(0.5)
    raise RuntimeError(f"the app did not serve {url} within {START_TIMEOUT_S} s:\n{log.read_text()[-4000:]}")


@pytest.fixture(scope="session")
def app_checkpoint(tmp_path_factory) -> Path:
    return tiny_checkpoint(tmp_path_factory.mktemp("app_assets"))


def start_app(root: Path, checkpoint: Path, *options: str) -> AppServer:
    """``python -m atom.app`` on ``checkpoint`` in a subprocess with its own working directory and home under
    ``root``, serving on a free port (stop it with :func:`stop_app`)."""
    cwd, home, out_dir, log = root / "cwd", root / "home", root / "out", root / "server.log"
    cwd.mkdir()
    home.mkdir()
    port = find_free_port()
    env = {**os.environ, "HOME": str(home), "PYTHONPATH": str(REPO), "PYTHONDONTWRITEBYTECODE": "1",
           "HF_HUB_OFFLINE": "1", "WANDB_MODE": "offline"}
    command = [sys.executable, "-m", "atom.app", f"ckpt={checkpoint.parent.parent}", f"port={port}",
               f"out_dir={out_dir}", f"grid_resolution={GRID}", "device=cpu", *options]
    with log.open("wb") as stream:
        process = subprocess.Popen(command, cwd=cwd, env=env, stdout=stream, stderr=subprocess.STDOUT)
    url = f"http://127.0.0.1:{port}/"
    try:
        wait_until_serving(url, process, log)
    except BaseException:
        stop_app(process)
        raise
    return AppServer(url, out_dir, cwd, home, log, process)


def stop_app(process: subprocess.Popen) -> None:
    process.terminate()
    try:
        process.wait(timeout=20)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()


@pytest.fixture(scope="session")
def app_server(tmp_path_factory, app_checkpoint) -> AppServer:
    server = start_app(tmp_path_factory.mktemp("app_server"), app_checkpoint)
    try:
        yield server
    finally:
        stop_app(server.process)


@pytest.fixture(scope="session")
def image_assets(tmp_path_factory) -> dict:
    """Tiny image-to-mesh stage models, an RGBA toy picture off-centre in a wider canvas, a blank picture."""
    root = tmp_path_factory.mktemp("image_tab_assets")
    blank = root / "blank.png"
    Image.fromarray(np.full((40, 40, 3), 255, np.uint8)).save(blank)
    return {"models": tiny_image_to_mesh_models(root / "models"), "blank": blank,
            "cut_out": toy_picture(root / "cube.png", rgba=True, canvas=(48, 64), offset=(10, 4))}


@pytest.fixture(scope="session")
def image_server(tmp_path_factory, app_checkpoint, image_assets) -> AppServer:
    """The app with its image tab (``image_ckpt=`` the tiny stage models)."""
    server = start_app(tmp_path_factory.mktemp("image_server"), app_checkpoint, f"image_ckpt={image_assets['models']}",
                       "texture_resolution=32")
    try:
        yield server
    finally:
        stop_app(server.process)
