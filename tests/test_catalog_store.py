from pathlib import Path

import pytest

from catalog import Catalog, CatalogError
from schemas.records import ImageRecord, Question, ReviewDecision, RunRecord, Sample


def _question(qid: str, text: str = "t") -> Question:
    return Question(question_id=qid, scenario="fraud", text=text, call_id="c")


def test_records_round_trip_with_nested_fields(tmp_path: Path) -> None:
    with Catalog(tmp_path / "c.duckdb") as catalog:
        catalog.upsert(
            "runs",
            [RunRecord(run_id="r1", name="n", config={"llm": {"model": "m"}}, config_sha256="x")],
        )
        image = ImageRecord(
            image_id="i1",
            path="images/typo/i1.png",
            sha256="s",
            kind="typo",
            width=1024,
            height=180,
            params={"origin": [0, 45]},
            font_size=90,
        )
        catalog.upsert("images", [image])
        sample = Sample(
            sample_id="s1",
            question_id="q1",
            scenario="fraud",
            variant="figstep_pro",
            question="q",
            key_phrase="k",
            phrase_type="activity",
            prompt="p",
            image_ids=["a", "b", "c"],
            status="accepted",
        )
        catalog.replace_run_rows("samples", "r1", [sample])
        assert catalog.run("r1").config == {"llm": {"model": "m"}}
        assert catalog.images_by_id(["i1"])["i1"] == image
        assert catalog.run_records("samples", "r1", Sample) == [sample]
        assert catalog.latest_run() == "r1"


def test_rewriting_a_run_replaces_its_rows_only(tmp_path: Path) -> None:
    with Catalog(tmp_path / "c.duckdb") as catalog:
        catalog.replace_run_rows("questions", "r1", [_question("a"), _question("b")])
        catalog.replace_run_rows("questions", "r2", [_question("a")])
        catalog.replace_run_rows("questions", "r1", [_question("c")])
        _, rows = catalog.query("SELECT run_id, question_id FROM questions ORDER BY 1, 2")
        assert rows == [("r1", "c"), ("r2", "a")]


def test_reviews_keep_every_decision(tmp_path: Path) -> None:
    with Catalog(tmp_path / "c.duckdb") as catalog:
        first = ReviewDecision(sample_id="s", reviewer="auto:rules", decision="reject", reason="x")
        second = ReviewDecision(sample_id="s", reviewer="alice", decision="accept")
        catalog.upsert("reviews", [first], "r1")
        catalog.upsert("reviews", [second], "r1")
        assert len(catalog.records("reviews")) == 2


def test_persisted_across_connections_and_read_only_errors(tmp_path: Path) -> None:
    path = tmp_path / "c.duckdb"
    with pytest.raises(CatalogError, match="safetyforge build"):
        Catalog(path, read_only=True)
    with Catalog(path) as catalog:
        catalog.replace_run_rows("questions", "r1", [_question("a")])
    with Catalog(path, read_only=True) as catalog:
        assert [q.question_id for q in catalog.records("questions")] == ["a"]
    with pytest.raises(CatalogError, match="no run"), Catalog(path, read_only=True) as catalog:
        catalog.run("missing")


def test_catalog_made_before_a_field_existed_gains_its_column(tmp_path: Path) -> None:
    path = tmp_path / "c.duckdb"
    with Catalog(path) as catalog:
        catalog.con.execute(
            "ALTER TABLE images DROP COLUMN byte_range"
        )  # as an older release made it
    fragment = ImageRecord(
        image_id="set_1",
        path="images/figstep_pro/se/set.pngs",
        sha256="s",
        kind="figstep_pro_fragment",
        width=200,
        height=120,
        byte_range=[812, 640],
    )
    with Catalog(path) as catalog:
        catalog.upsert("images", [fragment])
        assert catalog.images_by_id(["set_1"]) == {"set_1": fragment}
