"""Headless Chromium opens the self-contained evaluation report: heat map shaded, example
images decoded, a heat-map cell links to its examples; the screenshot is kept."""

from __future__ import annotations

from pathlib import Path

from openai_loopback import LoopbackServer, evaluation_responder
from test_evaluate import KEY, crafted_release
from test_review_browser import CHROMIUM, CHROMIUM_FLAGS
from typer.testing import CliRunner

from flows.cli import app

SCREENSHOT = (
    Path(__file__).resolve().parents[1] / "artifacts" / "screenshots" / "evaluation-report.png"
)


def test_report_page_renders_heat_map_and_example_images(tmp_path: Path, monkeypatch) -> None:
    from playwright.sync_api import expect, sync_playwright

    monkeypatch.setenv("OPENAI_API_KEY", KEY)
    release = crafted_release(tmp_path)
    artifacts = tmp_path / "artifacts"
    with LoopbackServer(evaluation_responder(), api_key=KEY) as server:
        args = [
            "evaluate",
            "--release",
            str(release),
            "--model",
            "vlm",
            "--base-url",
            server.base_url,
            "--attempts",
            "2",
            "--max-retries",
            "0",
            "--artifacts",
            str(artifacts),
            "--judge-model",
            "judge",
            "--judge",
            "llm",
            "--judge",
            "rules",
            "--judge",
            "guard",
        ]
        result = CliRunner().invoke(app, args, catch_exceptions=False)
    assert result.exit_code == 0, result.output
    [page_file] = list((artifacts / "evaluations").glob("*/report.html"))
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_FLAGS)
        try:
            page = browser.new_page(viewport={"width": 1400, "height": 1000})
            page.goto(page_file.as_uri())
            heat = page.locator("table.heat td[style*='background']")
            assert heat.count() >= 3 * 4 * 3  # three judges, (3 scenarios + all) x 3 variants
            images = page.locator(".thumbs img")
            assert images.count() >= 6
            page.wait_for_function(
                "[...document.querySelectorAll('.thumbs img, figure.chart img')]"
                ".every(i => i.complete && i.naturalWidth > 0)"
            )
            page.locator("table.heat a").first.click()
            expect(page.locator(".cell:target")).to_be_visible()
            SCREENSHOT.parent.mkdir(parents=True, exist_ok=True)
            page.goto(page_file.as_uri())
            page.screenshot(path=str(SCREENSHOT), full_page=False)
        finally:
            browser.close()
    assert SCREENSHOT.stat().st_size > 10_000
