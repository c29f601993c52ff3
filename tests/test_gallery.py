"""`safetyforge view`: one self-contained HTML file, opened from disk in headless Chromium
(Debian `chromium` through Playwright): filters, pages, images, review outcomes and warnings."""

from __future__ import annotations

import base64
import io
import re
from datetime import UTC, datetime
from pathlib import Path

import pytest
from PIL import Image
from release_data import make_inputs, record_run
from typer.testing import CliRunner

from catalog import Catalog
from catalog.gallery import thumbnail
from catalog.publish import publish_run
from flows.cli import app

CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking"]
SCREENSHOT = Path(__file__).resolve().parents[1] / "artifacts" / "screenshots" / "gallery.png"
T0 = datetime(2026, 1, 1, tzinfo=UTC)
PER_SCENARIO = 7  # 2 scenarios x 7 questions x 4 variants = 56 published samples: two pages


@pytest.fixture(scope="module")
def gallery(tmp_path_factory: pytest.TempPathFactory) -> Path:
    artifacts = tmp_path_factory.mktemp("gallery") / "artifacts"
    inputs = make_inputs(artifacts, questions_per_scenario=PER_SCENARIO)
    with Catalog(artifacts / "catalog.duckdb") as catalog:
        record_run(catalog, "run-1", inputs, T0)
        release = publish_run(catalog, "run-1", releases_dir=artifacts / "releases")
    result = CliRunner().invoke(app, ["view", release.path, "--rejected", "--workers", "1"])
    assert result.exit_code == 0, result.output
    assert "gallery of 57 samples" in result.output  # 56 published + 1 rejected
    path = artifacts / "views" / "testbench-0.1.0.html"
    assert path.is_file()
    return path


@pytest.fixture(scope="module")
def page(gallery: Path):
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_FLAGS)
        try:
            page = browser.new_page(viewport={"width": 1400, "height": 1000})
            errors: list[str] = []
            page.on("pageerror", lambda exc: errors.append(str(exc)))
            page.on(
                "request",
                lambda r: (
                    errors.append("request " + r.url)
                    if not r.url.startswith(("file:", "data:"))
                    else None
                ),
            )
            page.goto(gallery.as_uri())
            page.wait_for_selector("body[data-ready='1']")
            yield page
            assert errors == []  # no script error, nothing fetched from a network
        finally:
            browser.close()


def _cards(page) -> list[str]:
    return page.eval_on_selector_all("article.card", "nodes => nodes.map(n => n.dataset.id)")


def test_the_first_page_renders_48_cards_with_loaded_thumbnails(page) -> None:
    assert page.title() == "testbench 0.1.0 — SafetyForge gallery"
    assert len(_cards(page)) == 48  # the DOM holds one page, not the whole release
    assert page.locator("#page").inner_text() == "page 1 of 2"
    assert page.locator("#count").inner_text() == "57 match"
    page.select_option("#variant", "figstep_pro")
    page.wait_for_function("document.querySelectorAll('article.card').length === 14")
    page.wait_for_function(
        """() => [...document.querySelectorAll('article.card img')]
                 .every(i => i.complete && i.naturalWidth > 0)"""
    )
    counts = page.eval_on_selector_all(
        "article.card", "ns => ns.map(n => n.querySelectorAll('img').length)"
    )
    assert counts == [3] * 14  # every fragment of each set
    SCREENSHOT.parent.mkdir(parents=True, exist_ok=True)
    page.select_option("#variant", "")
    page.wait_for_function("document.querySelectorAll('article.card').length === 48")
    page.screenshot(path=str(SCREENSHOT))
    assert SCREENSHOT.stat().st_size > 20_000


def test_filters_show_outcomes_reasons_and_warnings(page) -> None:
    page.select_option("#variant", "")
    page.select_option("#outcome", "rejected")
    page.wait_for_function("document.querySelectorAll('article.card').length === 1")
    card = page.locator("article.card")
    assert "rejected by alice" in card.inner_text()
    assert "Reason: image: text does not fit; the prompt leaks the key phrase" in card.inner_text()
    page.select_option("#outcome", "accepted")
    page.check("#warned")
    # Question 0 of each scenario carries a warning, in each of the 4 variants.
    page.wait_for_function("document.querySelectorAll('article.card').length === 8")
    assert (
        page.locator("ul.warnings li").first.inner_text()
        == "key_phrase_absent: not in the changed question"
    )
    assert "accepted by auto:rules" in page.locator("article.card").first.inner_text()
    page.uncheck("#warned")
    page.select_option("#outcome", "")


def test_search_pages_and_the_address_keep_the_filters(page, gallery: Path) -> None:
    page.fill("#search", "harmful act number 3 in fraud")
    page.wait_for_function("document.querySelectorAll('article.card').length === 4")
    page.fill("#search", "")
    page.wait_for_function("document.querySelectorAll('article.card').length === 48")
    page.click("#next")
    page.wait_for_function("document.querySelectorAll('article.card').length === 9")
    assert page.locator("#page").inner_text() == "page 2 of 2"
    page.select_option("#scenario", "fraud")
    assert re.search(r"#scenario=fraud$", page.url)
    page.goto(gallery.as_uri() + "#variant=typo&page=1")
    page.reload()
    page.wait_for_selector("body[data-ready='1']")
    assert page.locator("#variant").input_value() == "typo"
    assert len(_cards(page)) == 15  # 14 published and the rejected one


def test_thumbnails_shrink_to_fit_and_never_grow() -> None:
    def png(width: int, height: int) -> bytes:
        out = io.BytesIO()
        Image.new("RGB", (width, height), "white").save(out, format="PNG")
        return out.getvalue()

    big = Image.open(io.BytesIO(base64.b64decode(thumbnail(png(1024, 180), 256))))
    assert (big.format, big.size) == ("WEBP", (256, 45))
    small = Image.open(io.BytesIO(base64.b64decode(thumbnail(png(40, 20), 256))))
    assert small.size == (40, 20)


def test_view_without_a_catalog_shows_published_samples_as_accepted(
    gallery: Path, tmp_path: Path
) -> None:
    release = next((gallery.parents[1] / "releases" / "testbench").iterdir())
    copy = tmp_path / "elsewhere" / "0.1.0"
    import shutil

    shutil.copytree(release, copy)
    out = tmp_path / "g.html"
    result = CliRunner().invoke(
        app, ["view", str(copy), "--split", "tiny", "--out", str(out), "--workers", "1"]
    )
    assert result.exit_code == 0, result.output
    assert "gallery of 8 samples" in result.output  # one question per scenario x 4 variants
    html = out.read_text()
    assert '"o":"accepted","r":""' in html and '"split":"tiny"' in html
    bad = CliRunner().invoke(app, ["view", str(copy), "--rejected"])
    assert bad.exit_code == 2 and "--rejected needs the build's catalog" in bad.output
