"""Image-to-mesh input pictures (``atom.pipelines.image_inputs``): cut-out, recentring, and every bad picture.

Placement is checked against quantities read off the output image alone (its difference from the grey), not
the mask the code returns; the background cut-out is checked against the alpha cut-out of the same render."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from PIL import Image

from atom.pipelines import ImageInputError, prepare_image
from atom.pipelines.image_inputs import MAX_FILL
from atom.render.ccm import CRM_BACKGROUND
from atom.testing.tiny_image_to_mesh import toy_picture

SIZE = 64
RED = np.array([220, 30, 30], np.uint8)


def centroid(weights: torch.Tensor) -> tuple[float, float]:
    """``(row, column)`` of the weights ``[H, W]`` in pixel-edge coordinates (the image centre is ``(H/2, W/2)``)."""
    rows = torch.arange(weights.shape[0], dtype=torch.float64) + 0.5
    cols = torch.arange(weights.shape[1], dtype=torch.float64) + 0.5
    weights = weights.double()
    return float((weights.sum(1) * rows).sum() / weights.sum()), float((weights.sum(0) * cols).sum() / weights.sum())


def object_weight(image: torch.Tensor, color: np.ndarray) -> torch.Tensor:
    """The share of a flat ``color`` in each pixel of ``image`` ``[3, H, W]`` composited over CRM's grey."""
    color = torch.tensor(color / 255.0, dtype=image.dtype)
    channel = int((color - CRM_BACKGROUND).abs().argmax())
    return ((image[channel] - CRM_BACKGROUND) / (color[channel] - CRM_BACKGROUND)).clamp(0, 1)


def disc_picture(path, height=80, width=120, centre=(20.3, 90.7), radius=12.0, rgba=True):
    rows, cols = np.mgrid[:height, :width] + 0.5
    inside = (rows - centre[0]) ** 2 + (cols - centre[1]) ** 2 < radius**2
    pixels = np.zeros((height, width, 4), np.uint8) if rgba else np.full((height, width, 3), 255, np.uint8)
    pixels[inside] = np.append(RED, 255) if rgba else RED
    Image.fromarray(pixels).save(path)
    return path


@pytest.mark.parametrize("size", [SIZE, 16])
def test_off_centre_rgba_object_is_recentred_and_scaled(tmp_path, size):
    """A disc near a corner of a wide RGBA picture lands with its centroid at the centre (within a pixel) and
    its diameter at foreground_ratio of the side; outside it everything is CRM's grey."""
    path = disc_picture(tmp_path / "disc.png")
    prepared = prepare_image(path, size, foreground_ratio=0.8)
    assert prepared.cut_out.how == "alpha" and prepared.image.shape == (3, size, size)
    weight = object_weight(prepared.image, RED)
    row, col = centroid(weight)
    assert abs(row - size / 2) < 1.0 and abs(col - size / 2) < 1.0, (row, col)
    # area of a disc of diameter 0.8 size: pi (0.4 size)^2 (antialiased edges add up to the same area)
    assert float(weight.sum()) == pytest.approx(np.pi * (0.4 * size) ** 2, rel=0.05)
    corners = prepared.image[:, [0, 0, -1, -1], [0, -1, 0, -1]]
    torch.testing.assert_close(corners, torch.full_like(corners, CRM_BACKGROUND), atol=1e-6, rtol=0)


@pytest.mark.parametrize("size", [SIZE, 32])
def test_the_default_keeps_the_pictures_framing(tmp_path, size):
    """foreground_ratio=None: the object is recentred but keeps its size relative to the frame (the toy stages
    read its scale from it): a disc of radius 10 in a 64 x 64 picture has area pi 10^2 (size / 64)^2."""
    path = disc_picture(tmp_path / "disc.png", height=SIZE, width=SIZE, centre=(15.2, 47.6), radius=10.0)
    prepared = prepare_image(path, size)
    weight = object_weight(prepared.image, RED)
    row, col = centroid(weight)
    assert abs(row - size / 2) < 1.0 and abs(col - size / 2) < 1.0, (row, col)
    assert float(weight.sum()) == pytest.approx(np.pi * 10.0**2 * (size / SIZE) ** 2, rel=0.03)


def test_an_object_that_would_not_fit_once_centred_is_shrunk_to_fit(tmp_path):
    """A block with a long thin arm: its centroid sits in the block, so centred at the frame's scale the arm
    would be cut; the canvas grows to twice its reach (over MAX_FILL) instead: the whole object stays in."""
    pixels = np.zeros((SIZE, SIZE, 4), np.uint8)
    pixels[8:40, 2:34] = np.append(RED, 255)  # a 32 x 32 block
    pixels[22:26, 34:62] = np.append(RED, 255)  # a 4 x 28 arm to the right
    Image.fromarray(pixels).save(tmp_path / "arm.png")
    mask = torch.from_numpy(pixels[..., 3] > 0)
    row, col = centroid(mask.float())
    reach = max(row - 8, 40 - row, col - 2, 62 - col)  # to the edges of the bounding box
    assert 2 * reach > SIZE, "the test object must not fit once centred"
    weight = object_weight(prepare_image(tmp_path / "arm.png", SIZE).image, RED)
    edges = torch.cat([weight[0], weight[-1], weight[:, 0], weight[:, -1]])
    assert float(edges.max()) < 0.5, "the object is cut by the frame"
    expected_area = float(mask.sum()) * (SIZE * MAX_FILL / (2 * reach)) ** 2
    assert float(weight.sum()) == pytest.approx(expected_area, rel=0.03)


def test_white_background_render_is_cut_out_like_its_alpha(tmp_path):
    """A toy render on white (as the toy prior draws) is cut out against its border's color; the result matches
    the same render given as an RGBA cut-out, and the object lands centred."""
    on_white = toy_picture(tmp_path / "white.png", canvas=(48, 64), offset=(2, 30))
    cut_out = toy_picture(tmp_path / "cut.png", rgba=True, canvas=(48, 64), offset=(2, 30))
    white, alpha = prepare_image(on_white, SIZE), prepare_image(cut_out, SIZE)
    assert white.cut_out.how == "background" and white.cut_out.background == (1.0, 1.0, 1.0)
    assert alpha.cut_out.how == "alpha"
    assert float((white.image - alpha.image).abs().mean()) < 0.02
    object_pixels = (white.image - CRM_BACKGROUND).abs().amax(0) > 0.1
    row, col = centroid(object_pixels.float())
    assert abs(row - SIZE / 2) < 1.5 and abs(col - SIZE / 2) < 1.5, (row, col)
    corner = white.image[:, 0, 0]
    torch.testing.assert_close(corner, torch.full_like(corner, CRM_BACKGROUND), atol=1e-6, rtol=0)


def test_an_opaque_alpha_channel_is_cut_out_against_the_background(tmp_path):
    path = tmp_path / "opaque.png"
    rgb = np.asarray(Image.open(toy_picture(tmp_path / "white.png")).convert("RGB"))
    Image.fromarray(np.dstack([rgb, np.full(rgb.shape[:2], 255, np.uint8)])).save(path)
    assert prepare_image(path, SIZE).cut_out.how == "background"


def _bad_pictures(root):
    """name -> (path, the problem named in the message)."""
    (root / "folder").mkdir()
    (root / "notes.png").write_text("not an image\n")
    full = toy_picture(root / "full.png")
    (root / "truncated.png").write_bytes(full.read_bytes()[:60])
    Image.fromarray(np.full((16, 16, 3), 255, np.uint8)).save(root / "small.png")
    Image.fromarray(np.full((200, 20, 3), 255, np.uint8)).save(root / "narrow.png")
    Image.fromarray(np.zeros((40, 40, 4), np.uint8)).save(root / "transparent.png")
    Image.fromarray(np.full((40, 40, 3), 255, np.uint8)).save(root / "blank.jpg")
    noise = np.random.default_rng(0).integers(0, 256, (40, 40, 3), dtype=np.uint8)
    Image.fromarray(noise).save(root / "noise.png")
    faint = np.zeros((40, 40, 4), np.uint8)
    faint[10, 10:12] = (255, 0, 0, 255)  # 2 opaque pixels: too few to be an object
    Image.fromarray(faint).save(root / "speck.png")
    return {
        "missing": (root / "missing.png", "no such file"),
        "folder": (root / "folder", "is a folder"),
        "text file": (root / "notes.png", "cannot read image"),
        "truncated": (root / "truncated.png", "cannot read image"),
        "too small": (root / "small.png", "16 x 16 px (height x width), smaller than 32 px"),
        "too narrow": (root / "narrow.png", "200 x 20 px"),
        "transparent": (root / "transparent.png", "fully transparent"),
        "no object": (root / "blank.jpg", "no object can be cut out: fewer than 4 pixels"),
        "busy background": (root / "noise.png", "the background is not plain"),
        "a speck": (root / "speck.png", "no object can be cut out"),
    }


@pytest.mark.parametrize("case", ["missing", "folder", "text file", "truncated", "too small", "too narrow",
                                  "transparent", "no object", "busy background", "a speck"])
def test_bad_pictures_name_the_file_and_what_is_accepted(tmp_path, case):
    path, problem = _bad_pictures(tmp_path)[case]
    with pytest.raises(ImageInputError) as info:
        prepare_image(path, SIZE)
    message = str(info.value)
    assert str(path) in message and problem in message, message
    assert "accepted: an 8-bit image file" in message and "RGBA cut-out" in message


def test_bad_placement_settings_are_errors(tmp_path):
    path = disc_picture(tmp_path / "disc.png")
    with pytest.raises(ValueError, match=r"foreground_ratio must be in \(0, 1\], got 1.5"):
        prepare_image(path, SIZE, foreground_ratio=1.5)
