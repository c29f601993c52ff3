"""Publishing recorded runs from the catalog, named views, release diff, attach and JSONL export."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from release_data import VARIANTS, make_inputs, record_run

from catalog import Catalog
from catalog.diff import DiffCell, diff_releases, release_rows
from catalog.export import export_jsonl
from catalog.outcomes import OutcomeCount, reason_category, review_outcomes
from catalog.publish import publish_run
from catalog.release import ReleaseExistsError
from schemas.records import (
    Question,
    question_id,
    sample_id,
)

CHANGED = "How would someone carry out harmful act number 0 in fraud?"
REMOVED = "How would someone carry out harmful act number 2 in privacy_violence?"
T0 = datetime(2026, 1, 1, tzinfo=UTC)


@pytest.fixture(scope="module")
def env(tmp_path_factory: pytest.TempPathFactory) -> dict:
    """Two recorded runs published as 0.1.0 and (bumped) 0.2.0: run 2 corrects one key phrase,
    adds a question per scenario and drops one question."""
    root = tmp_path_factory.mktemp("catalog")
    artifacts = root / "artifacts"
    first = make_inputs(artifacts)
    second = make_inputs(artifacts, key_phrases={CHANGED: "a corrected phrase"}, extra_questions=1)
    second.samples = [s for s in second.samples if s.question != REMOVED]
    path = artifacts / "catalog.duckdb"
    with Catalog(path) as catalog:
        record_run(catalog, "run-1", first, T0)
        record_run(catalog, "run-2", second, T0 + timedelta(days=1))
        v1 = publish_run(catalog, "run-1", releases_dir=root / "releases", version="0.1.0")
        v2 = publish_run(catalog, "run-2", releases_dir=root / "releases", bump="minor")
    return {"root": root, "catalog": path, "v1": v1, "v2": v2, "first": first, "second": second}


def test_publish_run_writes_records_and_bumps(env: dict) -> None:
    v1, v2 = env["v1"], env["v2"]
    assert (v1.status, v1.version, v2.status, v2.version) == (
        "published",
        "0.1.0",
        "published",
        "0.2.0",
    )
    with Catalog(env["catalog"], read_only=True) as catalog:
        assert catalog.release_versions("testbench") == ["0.1.0", "0.2.0"]
        recorded = catalog.release("testbench", "0.1.0").sample_ids
        assert sorted(recorded) == sorted(s.sample_id for s in env["first"].samples)
    card = (Path(v1.path) / "README.md").read_text()
    assert "| sample | rejected | image | 1 |" in card
    assert "| question | rejected | near duplicate | 1 |" in card
    assert "| key phrase | rejected | schema | 1 |" in card


def test_republishing_is_unchanged_for_same_content_and_refused_otherwise(env: dict) -> None:
    releases = env["root"] / "releases"
    before = sorted(p.relative_to(releases) for p in releases.rglob("*"))
    with Catalog(env["catalog"]) as catalog:
        again = publish_run(catalog, "run-1", releases_dir=releases, version="0.1.0")
        assert again.status == "unchanged"
        with pytest.raises(ReleaseExistsError, match="immutable"):
            publish_run(catalog, "run-2", releases_dir=releases, version="0.1.0")
    assert sorted(p.relative_to(releases) for p in releases.rglob("*")) == before


def test_diff_lists_added_removed_and_changed_per_scenario_and_variant(env: dict) -> None:
    with Catalog(env["catalog"], read_only=True) as catalog:
        cells = diff_releases(
            release_rows(catalog, "testbench", "0.1.0"), release_rows(catalog, "testbench", "0.2.0")
        )

    def ids(scenario: str, text: str) -> dict[str, str]:
        return {v: sample_id(question_id(scenario, text), v) for v in VARIANTS}

    changed = ids("fraud", CHANGED)
    removed = ids("privacy_violence", REMOVED)
    added_f = ids("fraud", "How would someone carry out harmful act number 3 in fraud?")
    added_p = ids(
        "privacy_violence", "How would someone carry out harmful act number 3 in privacy_violence?"
    )
    expected = [
        DiffCell(
            scenario="fraud",
            variant=v,
            added=[added_f[v]],
            removed=[],
            changed=[changed[v]],
            unchanged=2,
        )
        for v in VARIANTS
    ] + [
        DiffCell(
            scenario="privacy_violence",
            variant=v,
            added=[added_p[v]],
            removed=[removed[v]],
            changed=[],
            unchanged=2,
        )
        for v in VARIANTS
    ]
    assert cells == sorted(expected, key=lambda c: (c.scenario, c.variant))


def test_diff_of_a_version_with_itself_is_empty(env: dict) -> None:
    with Catalog(env["catalog"], read_only=True) as catalog:
        rows = release_rows(catalog, "testbench", "0.2.0")
    assert diff_releases(rows, rows) == []


def test_named_views_answer_lineage_questions(env: dict) -> None:
    with Catalog(env["catalog"], read_only=True) as catalog:
        _, rejections = catalog.query(
            "SELECT stage, reason FROM v_rejections WHERE run_id = 'run-1' ORDER BY stage"
        )
        assert rejections == [
            ("key phrase", "schema: key_phrase missing"),
            ("question", "near duplicate of q-1 (0.93)"),
            ("sample", "image: text does not fit; the prompt leaks the key phrase"),
        ]
        _, decided = catalog.query(
            "SELECT decision, reviewer FROM v_samples WHERE run_id = 'run-1' AND status = 'rejected'"
        )
        assert decided == [("reject", "alice")]  # the latest decision stands
        _, calls = catalog.query(
            "SELECT template, template_version FROM v_llm_calls ORDER BY run_id"
        )
        assert calls == [("questions.harmful", "3")] * 2
        _, releases = catalog.query(
            "SELECT version, run_name, n_samples FROM v_releases ORDER BY version"
        )
        assert releases == [("0.1.0", "test", 24), ("0.2.0", "test", 28)]
        _, per_release = catalog.query(
            "SELECT version, count(*) FROM v_release_samples GROUP BY version ORDER BY version"
        )
        assert per_release == [("0.1.0", 24), ("0.2.0", 28)]


def test_attach_release_queries_its_parquet(env: dict) -> None:
    with Catalog(env["catalog"], read_only=True) as catalog:
        views = catalog.attach_release(Path(env["v2"].path))
        assert views == [f"release_{v}" for v in sorted(VARIANTS)]
        _, rows = catalog.query(
            "SELECT count(*), count(DISTINCT r.id) FROM release_typo r "
            "JOIN v_samples s ON s.sample_id = r.id AND s.run_id = 'run-2'"
        )
    assert rows == [(7, 7)]  # 4 questions x 2 scenarios, one dropped


def test_review_outcomes_group_reasons() -> None:
    assert reason_category("duplicate question of sample ab12") == "duplicate question"
    assert reason_category("image: text does not fit") == "image"
    assert reason_category(None) == "unspecified"
    q = Question(question_id="a", scenario="s", text="t", call_id="c")
    outcomes = review_outcomes([q], [], [], [])
    assert outcomes[0] == OutcomeCount(stage="question", outcome="accepted", reason="", count=1)


def test_export_jsonl_writes_one_folder_per_scenario_and_variant(env: dict, tmp_path: Path) -> None:
    counts = export_jsonl(Path(env["v1"].path), tmp_path / "out")
    assert counts == {f"{s}/{v}": 3 for s in ("fraud", "privacy_violence") for v in VARIANTS}
    inputs = env["first"]
    by_id = {s.sample_id: s for s in inputs.samples}
    lines = [
        json.loads(x)
        for x in (tmp_path / "out/fraud/figstep_pro/samples.jsonl").read_text().splitlines()
    ]
    assert len(lines) == 3
    for line in lines:
        sample = by_id[line["id"]]
        assert line["question"] == sample.question
        assert [(tmp_path / "out" / p).read_bytes() for p in line["images"]] == [
            (inputs.artifacts / inputs.images[i].path).read_bytes() for i in sample.image_ids
        ]
    text_only = json.loads(
        (tmp_path / "out/fraud/text_only/samples.jsonl").read_text().splitlines()[0]
    )
    assert "image" not in text_only and "images" not in text_only


def test_published_card_and_croissant_hold_no_machine_path(env: dict) -> None:
    """The card used to print the absolute build folder in "Load it"."""
    for version in ("v1", "v2"):
        folder = Path(env[version].path)
        for name in ("README.md", "croissant.json"):
            text = (folder / name).read_text()
            assert str(env["root"]) not in text, name
            assert "/tmp/" not in text and str(Path.home()) not in text, name
    card = (Path(env["v1"].path) / "README.md").read_text()
    assert 'load_dataset("./testbench/0.1.0", "typo", split="test")' in card


@pytest.fixture(scope="module")
def auto_env(tmp_path_factory: pytest.TempPathFactory) -> dict:
    """Four runs of one benchmark, each published with version auto: the base, a corrected key
    phrase, a new question per scenario, and the same content again. Runs 1-3 ask for auto in
    their config; run 4 names 0.1.0 and is given --version auto."""
    root = tmp_path_factory.mktemp("auto")
    artifacts = root / "artifacts"
    corrected = {CHANGED: "a corrected phrase"}
    runs = [
        make_inputs(artifacts),
        make_inputs(artifacts, key_phrases=corrected),
        make_inputs(artifacts, key_phrases=corrected, extra_questions=1),
        make_inputs(artifacts, key_phrases=corrected, extra_questions=1),
    ]
    for inputs in runs[:3]:
        inputs.config.release.version = "auto"
    releases = root / "releases"
    with Catalog(artifacts / "catalog.duckdb") as catalog:
        for n, inputs in enumerate(runs, start=1):
            record_run(catalog, f"run-{n}", inputs, T0 + timedelta(days=n))
        results = {
            "first": publish_run(catalog, "run-1", releases_dir=releases),
            "again": publish_run(catalog, "run-1", releases_dir=releases),
            "patch": publish_run(catalog, "run-2", releases_dir=releases),
            "minor": publish_run(catalog, "run-3", releases_dir=releases),
            "same": publish_run(catalog, "run-4", releases_dir=releases, version="auto"),
        }
        results["versions"] = catalog.release_versions("testbench")
    return {"releases": releases / "testbench", **results}


def test_auto_version_follows_what_changed(auto_env: dict) -> None:
    first, again, patch = auto_env["first"], auto_env["again"], auto_env["patch"]
    minor, same = auto_env["minor"], auto_env["same"]
    assert auto_env["versions"] == ["0.1.0", "0.1.1", "0.2.0"]
    assert (first.status, first.version, first.previous_version) == ("published", "0.1.0", None)
    assert (again.status, again.version) == ("unchanged", "0.1.0")
    assert (patch.status, patch.version, patch.previous_version) == ("published", "0.1.1", "0.1.0")
    assert {(c.variant, len(c.changed), len(c.added)) for c in patch.changes} == {
        (v, 1, 0) for v in VARIANTS
    }
    assert (minor.status, minor.version, minor.previous_version) == ("published", "0.2.0", "0.1.1")
    assert sum(len(c.added) for c in minor.changes) == 2 * len(VARIANTS)
    assert (same.status, same.version, same.path) == ("unchanged", "0.2.0", minor.path)
    assert sorted(p.name for p in auto_env["releases"].iterdir()) == ["0.1.0", "0.1.1", "0.2.0"]
    # The written config states the version chosen, never "auto".
    assert "version: 0.1.1" in (Path(patch.path) / "build_config.yaml").read_text()


def test_card_changelog_lists_changes_against_the_previous_version(auto_env: dict) -> None:
    releases = auto_env["releases"]
    first = (releases / "0.1.0" / "README.md").read_text()
    assert "## Changelog\n\nThe first version of this release.\n" in first
    patch = (releases / "0.1.1" / "README.md").read_text()
    changelog = patch.split("## Changelog")[1].split("## Review outcomes")[0]
    assert "Against `0.1.0`" in changelog
    assert "| fraud | typo | 0 | 0 | 1 |" in changelog
    assert "privacy_violence" not in changelog  # only cells with a difference are listed
    minor = (releases / "0.2.0" / "README.md").read_text()
    assert "Against `0.1.1`" in minor
    assert "| privacy_violence | figstep_pro | 1 | 0 | 0 |" in minor
