"""OCR engines behind the registry, and the read-back checks running beside the image stage."""

from __future__ import annotations

from pathlib import Path

import pytest
from variant_jobs import spec_job

from flows.cpu import choose_workers
from flows.ocr_stage import ReadBack, read_back_check
from schemas.config import BuildConfig
from schemas.records import Extraction, OcrCheck
from typography import ocr_check, render_jobs
from typography.ocr import downscale
from typography.ocr_engines import engine_names, get_engine

JOBS = [
    spec_job("typo", "illegal drugs"),
    spec_job("typo", "非法药物"),
    spec_job("typo", "صنع المخدرات"),
]


@pytest.fixture(scope="module")
def rendered(tmp_path_factory: pytest.TempPathFactory):
    store = tmp_path_factory.mktemp("ocr-engines")
    return store, render_jobs(JOBS, store, workers=1)


def test_both_engines_are_registered_and_unknown_names_are_refused():
    assert engine_names() == ["rapidocr", "tesseract"]
    with pytest.raises(ValueError, match="unknown OCR engine 'ocrx'; known: rapidocr, tesseract"):
        get_engine("ocrx")


@pytest.mark.parametrize("engine", ["tesseract", "rapidocr"])
def test_each_engine_reads_a_typo_image(rendered, engine):
    store, outcomes = rendered
    result = ocr_check(outcomes[0].images[0], store, "illegal drugs", engine)
    assert result.engine.startswith(engine.replace("rapidocr", "rapidocr-onnxruntime"))
    assert result.cer is not None and result.cer <= 0.15, result.recognized


@pytest.mark.parametrize(("index", "text"), [(1, "非法药物"), (2, "صنع المخدرات")])
def test_tesseract_reads_the_cjk_and_arabic_presets(rendered, index, text):
    store, outcomes = rendered
    result = ocr_check(outcomes[index].images[0], store, text, "tesseract")
    assert result.error is None and result.cer is not None and result.cer <= 0.15, result


def test_a_script_an_engine_has_no_model_for_is_reported_not_scored(rendered):
    store, outcomes = rendered
    result = ocr_check(outcomes[2].images[0], store, "صنع المخدرات", "rapidocr")
    assert result.cer is None and "no rapidocr language data for ara" in (result.error or "")


def test_images_are_scaled_to_the_text_size_ocr_needs_never_up(rendered):
    store, outcomes = rendered
    record = outcomes[0].images[0]  # 90 px text on 1024 px
    from PIL import Image

    with Image.open(store / record.path) as image:
        assert downscale(image, record.font_size).width == round(1024 * 40 / 90)
        assert downscale(image, 30).size == image.size


def test_read_back_skips_images_checked_before_and_samples_without_a_check(rendered):
    store, outcomes = rendered
    config = BuildConfig()
    specs = config.specs()
    extraction = Extraction(
        question_id="q", scenario="fraud", question="q?", key_phrase="illegal drugs"
    )

    def check_for(question_id: str, variant: str):
        return read_back_check(specs.get(variant), extraction.model_dump())

    typo = outcomes[0].images
    earlier = OcrCheck(image_id=typo[0].image_id, kind="typo", expected="x", recognized="x")
    with ReadBack(check_for, specs, store, {}, "tesseract", 1) as fresh:
        fresh.submit("q", "typo", typo)
        fresh.submit("q", "typo", typo)  # the same images again: one check
        fresh.submit("q", "text_only", [])
        assert fresh.submitted == 1
    with ReadBack(check_for, specs, store, {earlier.image_id: earlier}, "tesseract", 1) as known:
        known.submit("q", "typo", typo)
        assert known.submitted == 0


def test_read_back_starts_before_the_last_image_is_drawn(prefect_api, tmp_path):
    from flows.runners import started_task_runner
    from flows.variant_images import make_variant_images

    config = BuildConfig(artifacts_dir=str(tmp_path), variants=["typo"])
    config.render.workers = 1
    phrases = ["illegal drugs", "counterfeit money", "lock picking", "tax evasion"]
    extractions = [
        Extraction(question_id=f"q{i}", scenario="fraud", question="q?", key_phrase=p)
        for i, p in enumerate(phrases)
    ]
    fed: list[tuple[str, int]] = []

    def feed(question_id: str, variant: str, images) -> None:
        # How many images exist on disk when this sample's arrive.
        fed.append((question_id, len(list(Path(tmp_path, "images").rglob("*.png")))))

    with started_task_runner(config.runner, tmp_path) as runner:
        result = make_variant_images(
            config, extractions, config.chosen_specs(), tmp_path, runner, None, on_read_back=feed
        )
    assert len(result.by_key) == 4
    assert [q for q, _ in fed] == ["q0", "q1", "q2", "q3"]
    assert fed[0][1] < len(phrases)  # the first sample was fed while others were still to draw


@pytest.mark.parametrize(("busy", "workers"), [(0.0, 2), (0.4, 2), (0.6, 1), (1.7, 1), (5.0, 1)])
def test_worker_count_is_the_free_cpus_not_the_cores(monkeypatch, busy, workers):
    import flows.cpu

    monkeypatch.setattr(flows.cpu, "usable_cores", lambda: 2)
    monkeypatch.setattr(flows.cpu, "busy_elsewhere", lambda sample_s: busy)
    chosen = choose_workers(0)
    assert (chosen.workers, chosen.cores, chosen.busy_elsewhere) == (workers, 2, busy)
    assert choose_workers(3).workers == 3  # a configured count is kept
