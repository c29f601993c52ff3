from flows.ocr_stage import failure_reason
from schemas.records import OcrCheck


def _check(**fields: object) -> OcrCheck:
    return OcrCheck(image_id="i", kind="typo", expected="x", recognized="x", **fields)  # type: ignore[arg-type]


def test_failure_reasons_follow_the_threshold_and_fragment_rules() -> None:
    assert failure_reason(_check(cer=0.1), 0.15) is None
    assert failure_reason(_check(cer=0.4), 0.15) == "character error rate 0.40 > 0.15"
    assert "shows 'illegal'" in (failure_reason(_check(leaked_words=["illegal"]), 0.15) or "")
    assert "do not show 'drugs'" in (failure_reason(_check(missing_words=["drugs"]), 0.15) or "")
    # An image tesseract cannot read (no language pack) is not a failure: there is no evidence.
    assert failure_reason(_check(cer=None, error="no tesseract language for HANGUL"), 0.15) is None
