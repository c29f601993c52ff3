"""Named views over the catalog tables, for people querying the lineage.

Views take a `v_` prefix so they never collide with the tables they read (`samples`, `releases`):
- `v_samples`: every sample with the decision that stands (latest review) and its reason;
- `v_rejections`: every rejected question, key-phrase record and sample, with stage and reason;
- `v_llm_calls`: LLM calls with template name, version and prompt hash unpacked;
- `v_releases`: releases with their run's name and sample count;
- `v_release_samples`: one row per sample of each release (what `releases diff` compares).
"""

from __future__ import annotations

import duckdb

# Ordered: later views read earlier ones.
VIEWS: dict[str, str] = {
    "v_samples": """
        SELECT s.run_id, s.sample_id, s.question_id, s.scenario, s.variant, s.question,
               s.key_phrase, s.phrase_type, s.prompt, s.image_ids, s.status,
               d.reviewer, d.decision, d.reason AS review_reason, d.decided_at
        FROM samples s
        LEFT JOIN (
            SELECT * FROM reviews
            QUALIFY row_number() OVER (PARTITION BY run_id, sample_id ORDER BY decided_at DESC) = 1
        ) d ON d.run_id = s.run_id AND d.sample_id = s.sample_id
    """,
    "v_rejections": """
        SELECT run_id, 'question' AS stage, question_id AS record_id, scenario,
               NULL::VARCHAR AS variant, text AS question, reject_reason AS reason
        FROM questions WHERE status = 'rejected'
        UNION ALL
        SELECT run_id, 'key phrase', question_id, scenario, NULL, question, reject_reason
        FROM extractions WHERE status = 'rejected'
        UNION ALL
        SELECT run_id, 'sample', sample_id, scenario, variant, question, review_reason
        FROM v_samples WHERE status = 'rejected'
    """,
    "v_llm_calls": """
        SELECT run_id, call_id, stage, scenario, provider, model, base_url, offline,
               prompt ->> 'template' AS template,
               prompt ->> 'template_version' AS template_version,
               prompt ->> 'prompt_sha256' AS prompt_sha256,
               tokens_in, tokens_out, latency_s, retries, cached, finish_reason, error,
               created_at, request, response_text
        FROM llm_calls
    """,
    "v_releases": """
        SELECT r.name, r.version, r.created_at, r.run_id, ru.name AS run_name,
               json_array_length(r.sample_ids) AS n_samples, r.counts, r.path,
               r.manifest_sha256
        FROM releases r LEFT JOIN runs ru ON ru.run_id = r.run_id
    """,
    "v_release_samples": """
        SELECT r.name, r.version, s.*
        FROM (
            SELECT name, version, run_id AS release_run_id,
                   unnest(from_json(sample_ids, '["VARCHAR"]')) AS release_sample_id
            FROM releases
        ) r
        JOIN samples s ON s.run_id = r.release_run_id AND s.sample_id = r.release_sample_id
    """,
}


def create_views(con: duckdb.DuckDBPyConnection, temporary: bool) -> None:
    """Create (or refresh) every view. A read-only connection gets them as temporary views."""
    kind = "TEMP VIEW" if temporary else "VIEW"
    for name, sql in VIEWS.items():
        con.execute(f"CREATE OR REPLACE {kind} {name} AS {sql}")
