"""A real browser on the app: headless Chromium (Debian's ``chromium`` + ``chromium-driver``) through selenium.

It loads the page, types a prompt, clicks Generate, waits for the viewer's canvas to show a mesh, saves a
screenshot, and checks two things: the canvas is not blank (pixel variance of its region: the viewer clears
to one flat grey, so an empty scene has variance ~0), and no request left localhost.

Network requests are read from Chromium's DevTools performance log (``goog:loggingPrefs``): every
``Network.requestWillBeSent`` and ``Network.webSocketCreated`` URL of the page and its workers. As a second
guard the browser resolves no host name but localhost (``--host-resolver-rules``), so a stray request fails
fast instead of waiting on a network that is not there, and still shows up in the log. Chromium's own
background traffic is switched off by flags. Selenium is given the driver's path, so it never looks for or
downloads one.
"""

from __future__ import annotations

import io
import json
import os
import shutil
import time
from pathlib import Path
from urllib.parse import urlsplit

import numpy as np
import pytest
from PIL import Image

CHROMIUM = Path("/usr/bin/chromium")
CHROMEDRIVER = Path("/usr/bin/chromedriver")
LOCAL_HOSTS = {"127.0.0.1", "localhost", "[::1]", "::1"}
# served by the browser itself (the new-tab page it opens with asks for chrome:// resources)
LOCAL_SCHEMES = {"data", "blob", "about", "chrome", "chrome-untrusted", "devtools"}
MIN_CANVAS_VARIANCE = 20.0  # of 0-255 RGB values; a flat clear color gives < 1
RENDER_TIMEOUT_S = 45


def chromium_flags(profile: Path) -> list[str]:
    return [
        "--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage", "--disable-quic",
        "--no-first-run", "--no-default-browser-check", "--disable-background-networking",
        "--disable-component-update", "--disable-sync", "--disable-default-apps", "--disable-extensions",
        "--metrics-recording-only", "--disable-domain-reliability", "--disable-client-side-phishing-detection",
        # WebGL on the CPU: SwiftShader through ANGLE (the viewer falls back from WebGPU to WebGL2)
        "--use-angle=swiftshader", "--enable-unsafe-swiftshader",
        "--host-resolver-rules=MAP * ~NOTFOUND , EXCLUDE localhost , EXCLUDE 127.0.0.1",
        f"--user-data-dir={profile}", "--window-size=1280,900",
    ]


@pytest.fixture()
def browser(tmp_path):
    missing = [str(p) for p in (CHROMIUM, CHROMEDRIVER) if not p.exists()]
    if missing:
        if os.environ.get("CI"):
            pytest.fail(f"CI must install Debian's chromium and chromium-driver (.ci/run does): missing {missing}")
        pytest.skip(f"headless browser test needs Debian's chromium and chromium-driver "
                    f"(apt-get install -y chromium chromium-driver): missing {missing}")
    webdriver = pytest.importorskip("selenium.webdriver")
    from selenium.webdriver.chrome.service import Service

    options = webdriver.ChromeOptions()
    options.binary_location = str(CHROMIUM)
    for flag in chromium_flags(tmp_path / "profile"):
        options.add_argument(flag)
    options.set_capability("goog:loggingPrefs", {"performance": "ALL", "browser": "ALL"})
    driver = webdriver.Chrome(service=Service(executable_path=str(CHROMEDRIVER)), options=options)
    driver.set_page_load_timeout(60)
    try:
        yield driver
    finally:
        driver.quit()


def requested_urls(driver) -> list[str]:
    urls = []
    for entry in driver.get_log("performance"):
        message = json.loads(entry["message"])["message"]
        if message["method"] == "Network.requestWillBeSent":
            urls.append(message["params"]["request"]["url"])
        elif message["method"] == "Network.webSocketCreated":
            urls.append(message["params"]["url"])
    return urls


def fetches_glb(url: str) -> bool:
    return "/gradio_api/file=" in url and url.endswith(".glb")


def leaves_localhost(url: str) -> bool:
    parts = urlsplit(url)
    if parts.scheme in LOCAL_SCHEMES:
        return parts.scheme == "blob" and urlsplit(url[len("blob:"):]).hostname not in LOCAL_HOSTS
    return parts.hostname not in LOCAL_HOSTS


def canvas_pixels(canvas) -> np.ndarray:
    """The canvas region as rendered on screen, ``[H, W, 3]`` float in 0-255."""
    return np.asarray(Image.open(io.BytesIO(canvas.screenshot_as_png)).convert("RGB"), dtype=np.float64)


def test_page_generates_and_shows_a_mesh_offline(app_server, browser, tmp_path):
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import WebDriverWait

    started = time.monotonic()
    browser.get(app_server.url)
    prompt = WebDriverWait(browser, 60).until(lambda d: d.find_element(By.CSS_SELECTOR, "#prompt textarea"))
    prompt.send_keys("a red cube")
    browser.find_element(By.CSS_SELECTOR, "#generate").click()
    canvas = WebDriverWait(browser, RENDER_TIMEOUT_S).until(
        lambda d: d.find_element(By.CSS_SELECTOR, "#viewer canvas"),
        message=f"the viewer showed no canvas within {RENDER_TIMEOUT_S} s")
    # the canvas appears before the file is fetched and drawn: wait until the GLB was requested and the
    # canvas pixels vary (the performance log is drained on every read, so the URLs are accumulated)
    variance, urls = 0.0, []
    deadline = time.monotonic() + RENDER_TIMEOUT_S
    while time.monotonic() < deadline:
        urls += requested_urls(browser)
        variance = float(canvas_pixels(canvas).var(axis=(0, 1)).max())
        if variance > MIN_CANVAS_VARIANCE and any(fetches_glb(url) for url in urls):
            break
        time.sleep(0.5)
    screenshot = tmp_path / "app.png"
    browser.save_screenshot(str(screenshot))
    shutil.copy(screenshot, app_server.out_dir / "browser_test.png")  # kept beside the server's files
    info = browser.find_element(By.CSS_SELECTOR, "#info").text
    assert "faces" in info, f"no generation summary on the page: {info!r}"
    assert variance > MIN_CANVAS_VARIANCE, f"the viewer's canvas is blank (variance {variance:.2f}); see {screenshot}"

    urls += requested_urls(browser)
    assert any(url.startswith(app_server.url) for url in urls), "the performance log recorded no request"
    assert any(fetches_glb(url) for url in urls), "the GLB was never fetched"
    outside = sorted({url for url in urls if leaves_localhost(url)})
    assert not outside, f"the page requested {len(outside)} URL(s) outside localhost: {outside[:10]}"
    print(f"browser test: {len(urls)} requests, all local; {time.monotonic() - started:.1f} s")


def test_image_tab_uploads_a_picture_and_shows_its_views_and_mesh(image_server, image_assets, browser, tmp_path):
    """With image_ckpt the Image to mesh tab is there: upload, Generate, the six views and the mesh appear."""
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import WebDriverWait

    browser.get(image_server.url)
    tab = WebDriverWait(browser, 60).until(
        lambda d: d.find_element(By.XPATH, "//button[@role='tab'][contains(., 'Image to mesh')]"))
    tab.click()
    upload = WebDriverWait(browser, 30).until(
        lambda d: d.find_element(By.CSS_SELECTOR, "#image-input input[type=file]"))
    upload.send_keys(str(image_assets["cut_out"]))
    WebDriverWait(browser, 30).until(lambda d: d.find_elements(By.CSS_SELECTOR, "#image-input img"))
    browser.find_element(By.CSS_SELECTOR, "#image-generate").click()
    WebDriverWait(browser, RENDER_TIMEOUT_S).until(lambda d: d.find_elements(By.CSS_SELECTOR, "#image-views img"),
                                                   message="the six views never appeared")
    WebDriverWait(browser, RENDER_TIMEOUT_S).until(lambda d: "faces" in d.find_element(By.ID, "image-info").text,
                                                   message="no mesh summary on the page")
    viewer = browser.find_element(By.ID, "image-viewer")
    browser.execute_script("arguments[0].scrollIntoView();", viewer)  # the viewer starts once on screen
    (canvas,) = WebDriverWait(browser, RENDER_TIMEOUT_S).until(
        lambda d: d.find_elements(By.CSS_SELECTOR, "#image-viewer canvas"), message="no 3D viewer canvas for the mesh")
    variance, deadline = 0.0, time.monotonic() + RENDER_TIMEOUT_S
    while variance <= MIN_CANVAS_VARIANCE and time.monotonic() < deadline:
        time.sleep(0.5)
        variance = float(canvas_pixels(canvas).var(axis=(0, 1)).max())
    screenshot = tmp_path / "image_tab.png"  # not in the server's folder: test_image_tab checks what it holds
    browser.save_screenshot(str(screenshot))
    assert variance > MIN_CANVAS_VARIANCE, f"the mesh viewer is blank (variance {variance:.2f}); see {screenshot}"
    outside = sorted({url for url in requested_urls(browser) if leaves_localhost(url)})
    assert not outside, f"the page requested URL(s) outside localhost: {outside[:10]}"
