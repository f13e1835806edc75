"""The HTML report in a real headless browser: it renders, every image loads, a screenshot."""

from __future__ import annotations

import re
import shutil
import subprocess
from pathlib import Path

import pytest

BROWSERS = ("chromium", "chromium-browser", "google-chrome")
BROWSER = next((b for b in map(shutil.which, BROWSERS) if b), None)
FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking"]


def _browser(tmp_path: Path, *args: str) -> subprocess.CompletedProcess:
    command = [BROWSER, *FLAGS, f"--user-data-dir={tmp_path / 'profile'}", *args]
    return subprocess.run(command, capture_output=True, text=True, timeout=120)


@pytest.mark.slow
@pytest.mark.skipif(BROWSER is None, reason="no chromium binary (apt-get install chromium)")
def test_page_renders_with_every_image(report_dir: Path, tmp_path: Path) -> None:
    page = (report_dir / "lc.html").as_uri()
    dom = _browser(tmp_path, "--virtual-time-budget=10000", "--dump-dom", page)
    assert dom.returncode == 0, dom.stderr[-2000:]
    body = re.search(r"<body[^>]*>", dom.stdout)
    assert body is not None, dom.stdout[:2000]
    # set by the page's own script once every <img> has decoded (naturalWidth > 0)
    assert 'data-images="7"' in body.group(0) and 'data-images-ok="true"' in body.group(0)
    assert dom.stdout.count("<table>") == 10 and "<b>10." in dom.stdout  # 9 tables + cells

    shot = tmp_path / "report.png"
    done = _browser(
        tmp_path, "--hide-scrollbars", "--window-size=1280,2000", f"--screenshot={shot}", page
    )
    assert done.returncode == 0 and shot.stat().st_size > 20_000, done.stderr[-2000:]
    from PIL import Image

    with Image.open(shot) as image:
        assert image.size == (1280, 2000)
        colours = image.convert("RGB").getcolors(maxcolors=1 << 16)
        assert colours is None or len(colours) > 50  # not a blank page


@pytest.mark.slow
@pytest.mark.skipif(BROWSER is None, reason="no chromium binary (apt-get install chromium)")
def test_a_broken_image_is_caught(report_dir: Path, tmp_path: Path) -> None:
    html = (report_dir / "lc.html").read_text()
    broken = tmp_path / "broken.html"
    broken.write_text(html.replace("base64,iVBOR", "base64,AAAAiVBOR", 1))
    dom = _browser(tmp_path, "--virtual-time-budget=10000", "--dump-dom", broken.as_uri())
    assert 'data-images-ok="false"' in dom.stdout
