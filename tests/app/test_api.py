"""The app's API through ``gradio_client`` against a real server on localhost (see conftest.py)."""

from __future__ import annotations

import httpx
import numpy as np
import pytest
import trimesh
from gradio_client import Client
from gradio_client.exceptions import AppError

GRID = 16  # the server's default grid resolution (conftest.py)
# after the prompt: grid, largest part only, min part fraction, target faces (0: all), normalise; then bake UV
PLAIN = (GRID, False, 0.01, 0, False)


@pytest.fixture()
def client(app_server, tmp_path) -> Client:
    assert app_server.grid == GRID
    return Client(app_server.url, download_files=str(tmp_path / "downloads"), verbose=False)


def open_mesh(path: str) -> trimesh.Trimesh:
    mesh = trimesh.load(path, force="mesh", process=False)
    assert isinstance(mesh, trimesh.Trimesh), f"{path} holds {type(mesh).__name__}, not one mesh"
    return mesh


def test_prompt_returns_meshes_that_trimesh_opens(client):
    viewer, glb, obj, uv_glb, info = client.predict("a red cube", *PLAIN, True, api_name="/generate")
    shown, mesh, wavefront, textured = open_mesh(viewer), open_mesh(glb), open_mesh(obj), open_mesh(uv_glb)
    assert len(mesh.faces) > 0 and f"{len(mesh.faces):,} faces" in info
    # the object cube [-1, 1]^3, give or take the deformation (under one grid cell, 2 / GRID)
    assert np.abs(mesh.vertices).max() <= 1.0 + 2 / GRID
    np.testing.assert_array_equal(shown.vertices, mesh.vertices)
    # three files, two formats, one surface: the OBJ's points are the GLB's (OBJ text keeps ~8 digits)
    assert wavefront.vertices.shape == mesh.vertices.shape
    np.testing.assert_allclose(wavefront.vertices, mesh.vertices, atol=1e-6)
    colors = mesh.visual.vertex_colors[:, :3].astype(float)
    assert colors.std(axis=0).max() > 0, "vertex colors are constant: the color head was not queried"
    # the UV-textured GLB: the same surface cut along seams, with an image texture and UVs in [0, 1]
    assert textured.visual.kind == "texture" and textured.visual.material.baseColorTexture is not None
    assert textured.visual.uv.min() >= 0 and textured.visual.uv.max() <= 1
    assert len(textured.faces) == len(mesh.faces)


def test_uv_download_is_disabled_without_baking(client):
    *_, uv_glb, _ = client.predict("a blue sphere", *PLAIN, False, api_name="/generate")
    assert uv_glb is None


def test_concurrent_requests_all_come_back(client):
    """Three requests at once wait in the queue (one model pass at a time) and each gets its own mesh."""
    prompts = ["a red cube", "a blue sphere", "a green cone"]
    jobs = [client.submit(prompt, *PLAIN, False, api_name="/generate") for prompt in prompts]
    meshes = [open_mesh(job.result(timeout=300)[0]) for job in jobs]
    solo = open_mesh(client.predict("a blue sphere", *PLAIN, False, api_name="/generate")[0])
    np.testing.assert_array_equal(meshes[1].vertices, solo.vertices)
    assert not np.array_equal(meshes[0].vertices, meshes[1].vertices)


@pytest.mark.parametrize("prompt", ["", "   "])
def test_empty_prompt_is_a_message_not_a_traceback(client, prompt):
    with pytest.raises(AppError) as caught:
        client.predict(prompt, *PLAIN, False, api_name="/generate")
    message = str(caught.value)
    assert "prompt is empty" in message
    assert "Traceback" not in message and 'File "' not in message


def test_bad_option_is_a_message(client):
    with pytest.raises(AppError, match=r"target faces must be >= 4 \(or empty for no decimation\), got 2"):
        client.predict("a red cube", GRID, False, 0.01, 2, False, False, api_name="/generate")


def test_walk_is_generated_once_then_browsed(app_server, client):
    """The walk's end points are exactly the plain generations; moving the slider reads the session's
    cached files and runs no model (the server logs one line per model pass)."""
    end = open_mesh(client.predict("a green cone", *PLAIN, False, api_name="/generate")[0])
    slider, first, caption, info = client.predict("a red cube\na green cone", 3, "slerp", GRID,
                                                  api_name="/interpolate")
    assert slider["maximum"] == 2 and "3 meshes generated in one pass" in info
    assert "a red cube" in caption
    passes = app_server.log_text().count("mesh(es) into")
    last, last_caption = client.predict(2, api_name="/show_step")
    middle, middle_caption = client.predict(1, api_name="/show_step")
    assert app_server.log_text().count("mesh(es) into") == passes, "the slider ran the model again"
    assert "a green cone" in last_caption and "->" in middle_caption
    np.testing.assert_array_equal(open_mesh(last).vertices, end.vertices)
    assert open_mesh(middle).vertices.shape != open_mesh(first).vertices.shape or not np.array_equal(
        open_mesh(middle).vertices, open_mesh(first).vertices)


def test_walk_needs_two_prompts(client):
    with pytest.raises(AppError, match="at least 2 prompts"):
        client.predict("a red cube", 3, "linear", GRID, api_name="/interpolate")


def page_components(url: str) -> list[dict]:
    config = httpx.get(url + "config", timeout=10).json()
    return config["components"]


def test_page_marks_examples_and_hides_the_image_tab(app_server):
    components = page_components(app_server.url)
    tabs = {c["props"].get("label"): c["props"].get("visible") for c in components if c["type"] == "tabitem"}
    assert tabs == {"Text to mesh": True, "Interpolation": True, "Image to mesh": False}
    labels = [c["props"].get("label") or "" for c in components if c["type"] == "dataset"]
    # the tiny run trains on 3 prompts and holds out 1 (atom.testing.tiny_training)
    assert any("Seen in training (3" in label for label in labels)
    assert any("Unseen" in label and "(1" in label for label in labels)


def test_nothing_is_written_outside_the_output_folder(app_server, client):
    client.predict("a red cube", *PLAIN, True, api_name="/generate")
    assert list(app_server.cwd.iterdir()) == []
    assert list(app_server.home.iterdir()) == []
    written = sorted(p.relative_to(app_server.out_dir).parts[0] for p in app_server.out_dir.iterdir())
    assert written == ["gradio", "meshes"]


def test_analytics_are_off_and_the_server_calls_only_itself(app_server, client):
    """Analytics (and with them Gradio's version check) are off; httpx logs every request the server process
    completes (only its own start-up check may appear). A call that fails offline leaves no log line, hence
    the config check as well."""
    assert httpx.get(app_server.url + "config", timeout=10).json()["analytics_enabled"] is False
    client.predict("a red cube", *PLAIN, False, api_name="/generate")
    calls = [line for line in app_server.log_text().splitlines() if "HTTP Request:" in line]
    assert calls, "no httpx request logged: the check would see nothing"
    outside = [line for line in calls if app_server.url not in line]
    assert not outside, f"the server called out: {outside}"
