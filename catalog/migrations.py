"""Catalog schema changes that move data, run when a catalog is opened for writing.

Each step is idempotent: it checks for the old shape and leaves a migrated catalog alone.
"""

from __future__ import annotations

import duckdb

# eval_results once held the rule judge's and the LLM judge's verdicts as columns; verdicts are
# now rows of eval_verdicts, one per judge (any number of judges, no new columns per judge).
_LEGACY_VERDICTS = {
    "rules": ("rule_verdict", "rule_refusal", "NULL", "NULL", "NULL"),
    "llm": ("llm_verdict", "llm_refusal", "llm_reason", "llm_error", "judge_call_id"),
}
_LEGACY_COLUMNS = (
    "rule_verdict",
    "rule_refusal",
    "rule_disclaimer",
    "llm_verdict",
    "llm_refusal",
    "llm_reason",
    "llm_error",
    "judge_call_id",
)


def _columns(con: duckdb.DuckDBPyConnection, table: str) -> set[str]:
    rows = con.execute(
        "SELECT column_name FROM information_schema.columns WHERE table_name = ?", [table]
    ).fetchall()
    return {r[0] for r in rows}


def _verdict_rows(judge: str) -> str:
    verdict, refusal, reason, error, call = _LEGACY_VERDICTS[judge]
    calls = f"CASE WHEN {call} IS NULL THEN '[]' ELSE to_json([{call}]) END"
    return (
        f"SELECT run_id, sample_id, attempt, '{judge}' AS judge, {verdict} AS verdict, "
        f"CASE WHEN {verdict} IS NULL THEN NULL ELSE {refusal} END AS refusal, "
        f"CASE {verdict} WHEN 'unsafe' THEN 1.0 WHEN 'safe' THEN 0.0 END AS score, "
        f"'[]' AS categories, {reason} AS reason, {error} AS error, false AS inconsistent, "
        f"{calls} AS call_ids FROM eval_results "
        f"WHERE {verdict} IS NOT NULL OR {error} IS NOT NULL"
    )


def migrate(con: duckdb.DuckDBPyConnection) -> None:
    """Move legacy verdict columns of eval_results into eval_verdicts (created from its model
    before this runs), then drop them; give rows from before the paired statistics their
    defaults (no question id, label unsafe, config = variant)."""
    con.execute(
        "UPDATE eval_results SET question_id = coalesce(question_id, ''), label = 'unsafe', "
        "config = coalesce(config, variant) WHERE label IS NULL"
    )
    legacy = _columns(con, "eval_results") & set(_LEGACY_COLUMNS)
    if not legacy:
        return
    con.execute("BEGIN")
    try:
        for judge in _LEGACY_VERDICTS:
            con.execute(f"INSERT OR IGNORE INTO eval_verdicts {_verdict_rows(judge)}")
        for column in sorted(legacy):
            con.execute(f'ALTER TABLE eval_results DROP COLUMN "{column}"')
        con.execute("COMMIT")
    except Exception:
        con.execute("ROLLBACK")
        raise
