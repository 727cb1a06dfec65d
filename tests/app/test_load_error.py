"""A checkpoint that fails to load: the app still serves, says why at the top of the page and in every
request's error message (no traceback). Served in this process (``serve(cfg, block=False)``)."""

from __future__ import annotations

import shutil

import httpx
import pytest
from gradio_client import Client
from gradio_client.exceptions import AppError

from atom.config import AppConfig


def test_a_corrupt_checkpoint_is_reported_in_the_page(app_checkpoint, free_port, tmp_path):
    from atom.app.server import serve

    broken = tmp_path / "broken"
    shutil.copytree(app_checkpoint, broken)
    (broken / "model.safetensors").write_bytes(b"not a safetensors file")
    (broken / "manifest.json").unlink()  # unverified: the loader's own error
    demo, url = serve(AppConfig(ckpt=str(broken), port=free_port, out_dir=str(tmp_path / "out"), device="cpu"),
                      block=False)
    try:
        components = httpx.get(url + "config", timeout=10).json()["components"]
        (status,) = [c["props"]["value"] for c in components if c["props"].get("elem_id") == "status"]
        assert "could not be loaded" in status and "cannot load the model" in status and str(broken) in status
        client = Client(url, download_files=str(tmp_path / "downloads"), verbose=False)
        with pytest.raises(AppError) as caught:
            client.predict("a red cube", 16, False, 0.01, 0, False, False, api_name="/generate")
        message = str(caught.value)
        assert message.startswith("no model is loaded: CheckpointError: cannot load the model")
        assert "Traceback" not in message
    finally:
        demo.close()
