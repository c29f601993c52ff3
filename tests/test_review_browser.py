"""Headless Chromium (Debian `chromium`, driven by Playwright) opens a pushed task in Label Studio:
the images load from local storage and the pre-screen's choice is pre-filled."""

from __future__ import annotations

from pathlib import Path

from label_studio_fixtures import ReviewDataset

from annotation import LabelStudioConfig, ServerHandle, connect, push_tasks
from annotation.client import export_tasks
from schemas.records import ReviewDecision

CHROMIUM = Path("/usr/bin/chromium")
SCREENSHOT = (
    Path(__file__).resolve().parents[1] / "artifacts" / "screenshots" / "label-studio-task.png"
)
LOADED_IMAGES = """n => {
  const images = [...document.querySelectorAll('img[src*="/data/local-files/"]')];
  return images.length === n && images.every(i => i.complete && i.naturalWidth > 0);
}"""
CHROMIUM_FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking"]


def test_annotator_sees_images_and_prefilled_choice(
    label_studio: ServerHandle,
    label_studio_config: LabelStudioConfig,
    review_dataset: ReviewDataset,
) -> None:
    from playwright.sync_api import expect, sync_playwright

    samples = [s for s in review_dataset.samples if "keylogger" in s.question]
    auto = [
        ReviewDecision(sample_id=samples[0].sample_id, reviewer="auto:rules", decision="reject")
    ]
    pushed = push_tasks(
        label_studio_config,
        "review-browser",
        samples,
        review_dataset.images,
        review_dataset.artifacts,
        auto,
    )
    [task] = export_tasks(connect(label_studio_config), pushed.project_id)

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_FLAGS)
        try:
            page = browser.new_page(viewport={"width": 1600, "height": 1000})
            page.goto(f"{label_studio.url}/user/login/")
            page.fill('input[name="email"]', label_studio.credentials.username)
            page.fill('input[name="password"]', label_studio.credentials.password)
            page.click('button[type="submit"]')
            page.wait_for_url(f"{label_studio.url}/**")
            page.goto(f"{label_studio.url}/projects/{pushed.project_id}/data?task={task['id']}")

            # The typo image and three figstep_pro fragments, each loaded (naturalWidth > 0).
            page.wait_for_function(LOADED_IMAGES, arg=4, timeout=60_000)
            reject = page.get_by_role("radio", name="Reject")
            expect(reject).to_be_checked(timeout=30_000)
            expect(page.get_by_role("radio", name="Accept")).not_to_be_checked()
            labeling = page.locator("#label-studio-dm")  # the labeling pane, not the task table
            expect(labeling.get_by_text("write a keylogger", exact=True)).to_be_visible()

            SCREENSHOT.parent.mkdir(parents=True, exist_ok=True)
            page.screenshot(path=str(SCREENSHOT), full_page=True)
        finally:
            browser.close()
    assert SCREENSHOT.stat().st_size > 10_000
