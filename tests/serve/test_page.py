"""The page at / in a real headless browser (Debian's chromium driven by Playwright): every part present, no console errors."""

import re
import shutil

import pytest

from tests.serve.conftest import READ, WRITE

sync_api = pytest.importorskip("playwright.sync_api", reason="the browser test needs Playwright: pip install playwright")
CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")


@pytest.mark.skipif(CHROMIUM is None, reason="the browser test needs Debian's chromium: apt-get install chromium")
def test_the_page_in_a_browser(served, tmp_path):
    server, X, y, _ = served
    for start in (0, 40, 80):
        _, out = server.request("POST", "/predict", {"inputs": X[start:start + 40].tolist()}, token=READ)
        body = {"answers": [{"id": a["id"], "label": int(t)} for a, t in zip(out["answers"], y[start:start + 40])]}
        assert server.request("POST", "/feedback?wait=true", body, token=WRITE)[0] == 200
    messages, errors = [], []
    with sync_api.sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, headless=True, args=["--no-sandbox", "--disable-gpu"])
        try:
            page = browser.new_page(viewport={"width": 1200, "height": 900})
            page.on("console", lambda m: messages.append((m.type, m.text)))
            page.on("pageerror", lambda e: errors.append(str(e)))
            response = page.goto(f"{server.base}/?token={READ}", wait_until="load")
            assert response.status == 200
            members = server.health()["members"]
            assert page.locator("#members-table tbody tr").count() == members
            assert page.locator("#members-chart circle").count() == members
            assert page.locator("#routing-chart rect").count() >= 10  # at least one cell per label answered
            assert page.locator("#accuracy-chart path").count() == 1
            assert 3 <= page.locator("#accuracy-chart circle").count() <= 60  # one per group of feedback records
            assert page.locator("#archive-chart rect").count() == 4  # one bar per kind
            assert page.locator("#cost-table tbody tr").count() == 5
            judged = re.search(r"(\d+) of (\d+) answers given feedback were right", page.locator("#accuracy + svg + p").inner_text())
            assert judged and int(judged.group(2)) >= 120 and int(judged.group(1)) >= 0.8 * int(judged.group(2))
            assert page.locator("#members-chart").bounding_box()["width"] > 500  # drawn, not only in the markup
            shot = tmp_path / "page.png"
            page.screenshot(path=str(shot), full_page=True)
            seen = list(messages)
            # Without the token the page is refused.
            assert page.goto(f"{server.base}/").status == 401
        finally:
            browser.close()
    assert not errors, errors
    bad = [m for m in seen if m[0] in ("error", "warning")]
    assert not bad, bad
    assert shot.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and shot.stat().st_size > 20_000
