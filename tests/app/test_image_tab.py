"""The app's image-to-mesh tab through ``gradio_client`` against a real server started with ``image_ckpt=`` (tiny
random-weight stage models built offline, ``atom.testing.tiny_image_to_mesh``; conftest.py)."""

from __future__ import annotations

import httpx
import numpy as np
import pytest
import trimesh
from gradio_client import Client, handle_file
from gradio_client.exceptions import AppError
from PIL import Image

from atom.pipelines import prepare_image, read_views
from atom.testing.tiny_multiview import TINY_MULTIVIEW

GRID = 16  # the server's default grid resolution (conftest.py)
TILE = TINY_MULTIVIEW["tile_size"]
STEPS = 2  # DDIM steps per diffusion stage: the tiny models are untrained anyway


@pytest.fixture()
def client(image_server, tmp_path) -> Client:
    return Client(image_server.url, download_files=str(tmp_path / "downloads"), verbose=False)


def test_the_tab_is_shown_with_its_models(image_server):
    components = httpx.get(image_server.url + "config", timeout=10).json()["components"]
    tabs = {c["props"].get("label"): c["props"].get("visible") for c in components if c["type"] == "tabitem"}
    assert tabs == {"Text to mesh": True, "Interpolation": True, "Image to mesh": True}


def test_an_upload_gives_its_views_then_a_textured_mesh(client, image_assets):
    """The page's two events in one session: the views (the mesh cleared), then the mesh from them."""
    prepared, views, ccms, viewer, glb, uv_glb, info = client.predict(
        handle_file(str(image_assets["cut_out"])), 0, STEPS, api_name="/image_views")
    assert viewer is None and glb is None and "reconstructing" in info
    viewer, glb, uv_glb, info = client.predict(GRID, True, api_name="/image_mesh")
    # the upload keeps its alpha: the page's stage 1 input is the API's cut-out of the same file
    expected = prepare_image(image_assets["cut_out"], TINY_MULTIVIEW["input_size"]).image
    shown = np.asarray(Image.open(prepared).convert("RGB")).astype(float) / 255.0
    np.testing.assert_allclose(shown, expected.permute(1, 2, 0).numpy(), atol=1 / 255 + 1e-6)
    assert read_views(views).shape == read_views(ccms).shape == (6, 3, TILE, TILE)
    mesh = trimesh.load(viewer, force="mesh", process=False)
    assert len(mesh.faces) > 0 and f"{len(mesh.faces):,} faces" in info
    assert trimesh.load(glb, force="mesh", process=False).vertices.shape == mesh.vertices.shape
    textured = trimesh.load(uv_glb, force="mesh", process=False)
    assert textured.visual.kind == "texture" and textured.visual.material.baseColorTexture.size == (32, 32)


def test_no_picture_or_one_without_an_object_is_a_message(client, image_assets):
    with pytest.raises(AppError, match="generate the views first"):
        client.predict(GRID, False, api_name="/image_mesh")
    with pytest.raises(AppError, match="no picture: upload an image of one object"):
        client.predict(None, 0, STEPS, api_name="/image_views")
    with pytest.raises(AppError) as caught:
        client.predict(handle_file(str(image_assets["blank"])), 0, STEPS, api_name="/image_views")
    message = str(caught.value)
    assert "no object can be cut out" in message and "accepted:" in message
    assert "Traceback" not in message and 'File "' not in message


def test_image_requests_write_only_under_the_output_folder(image_server, client, image_assets):
    client.predict(handle_file(str(image_assets["cut_out"])), 1, STEPS, api_name="/image_views")
    client.predict(GRID, False, api_name="/image_mesh")
    assert list(image_server.cwd.iterdir()) == [] and list(image_server.home.iterdir()) == []
    written = sorted(p.relative_to(image_server.out_dir).parts[0] for p in image_server.out_dir.iterdir())
    assert written == ["gradio", "images"]
