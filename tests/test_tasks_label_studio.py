"""A labelled task's sample in a real Label Studio: headless Chromium shows its labels beside the
image, and an annotator's corrected labels come back through the export as the consensus."""

from __future__ import annotations

from pathlib import Path

from label_studio_fixtures import write_test_image

from annotation import LabelStudioConfig, ServerHandle, connect, pull_decisions, push_tasks
from annotation.client import export_tasks
from schemas.records import ImageRecord, Sample

CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking"]
LABELS = {
    "entity": "Odile Fairbank",
    "entity_type": "person",
    "role": "control",
    "question_kind": "identity",
    "gold_answer": "Odile Fairbank",
}


def test_annotators_see_and_correct_the_labels(
    label_studio: ServerHandle, label_studio_config: LabelStudioConfig, tmp_path: Path
) -> None:
    from playwright.sync_api import expect, sync_playwright

    artifacts = Path(label_studio_config.document_root) / "labelled-task-artifacts"
    images: dict[str, ImageRecord] = {}
    image_id = write_test_image(artifacts, "Odile Fairbank", images)
    question = "Who is the person shown in this image? Answer with their name."
    sample = Sample(
        sample_id="labelled-1",
        question_id="q-labelled-1",
        scenario="person",
        variant="natural",
        question=question,
        key_phrase="",
        phrase_type="",
        prompt=question,
        image_ids=[image_id],
        labels=LABELS,
    )
    pushed = push_tasks(label_studio_config, "labelled-task", [sample], images, artifacts)
    client = connect(label_studio_config)
    [task] = export_tasks(client, pushed.project_id)

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
            labeling = page.locator("#label-studio-dm")
            expect(labeling.get_by_text("Labels (correct them below)")).to_be_visible(
                timeout=60_000
            )
            expect(labeling.get_by_text("gold_answer: Odile Fairbank")).to_be_visible()
            expect(labeling.get_by_placeholder("Corrected labels", exact=False)).to_be_visible()
        finally:
            browser.close()

    result = [
        {
            "from_name": "decision",
            "to_name": "question",
            "type": "choices",
            "value": {"choices": ["Accept"]},
        },
        {
            "from_name": "corrected_labels",
            "to_name": "question",
            "type": "textarea",
            "value": {"text": ["role: protected\ngold_answer:"]},
        },
    ]
    client.annotations.create(id=task["id"], result=result)
    pulled = pull_decisions(label_studio_config, pushed.project_id, min_annotations=1)
    [consensus] = pulled.consensus
    assert consensus.decision == "accept"
    assert consensus.corrected_labels == {"role": "protected", "gold_answer": ""}
