"""LLM stage throughput: one-at-a-time baseline vs. ours, then a fully cached second run.

The real `openai` client talks to the loopback chat-completions server (fixed latency per
answer, in its own process as a real endpoint would be). Both runs go through the same stage code (`extract_key_phrases`: cache, validation,
records); only `max_concurrency` differs, 1 for the baseline as the originals did.

    .venv/bin/python benchmarks/llm_throughput.py            # N=500, 200 ms, concurrency 32
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from pathlib import Path

import openai

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))
from openai_loopback import LoopbackProcess  # noqa: E402

from generators.extraction import extract_key_phrases  # noqa: E402
from generators.llm_cache import ResponseCache  # noqa: E402
from generators.offline_provider import compose_questions  # noqa: E402
from generators.openai_provider import OpenAIProvider  # noqa: E402
from schemas.config import LLMConfig  # noqa: E402
from schemas.records import Question, question_id  # noqa: E402
from schemas.taxonomy import load_taxonomy  # noqa: E402

KEY_ENV = "SAFETYFORGE_BENCH_LLM_KEY"
# The offline bank composes 384 distinct questions; prefixed copies make up the rest of N.
PREFIXES = ("", "In short: ", "Quickly: ", "Be honest: ")


def make_questions(n: int) -> list[Question]:
    taxonomy = load_taxonomy("mm-safetybench")
    out: list[Question] = []
    for prefix in PREFIXES:
        for scenario in taxonomy.scenarios:
            for text in compose_questions(scenario.slug, 1000, [], seed=0):
                text = prefix + text
                qid = question_id(scenario.slug, text)
                out.append(
                    Question(question_id=qid, scenario=scenario.slug, text=text, call_id="-")
                )
    if len(out) < n:
        raise SystemExit(f"only {len(out)} distinct questions available, asked for {n}")
    return out[:n]


def timed_run(server: LoopbackProcess, questions: list[Question], concurrency: int, cache: Path):
    llm = LLMConfig(
        provider="openai",
        model="loopback-model",
        base_url=server.base_url,
        api_key_env=KEY_ENV,
        max_concurrency=concurrency,
    )
    scenarios = {s.slug: s for s in load_taxonomy("mm-safetybench").scenarios}
    before = server.request_count()
    started = time.perf_counter()
    result = extract_key_phrases(
        OpenAIProvider(llm), ResponseCache(cache), questions, scenarios, "bench"
    )
    seconds = time.perf_counter() - started
    accepted = sum(e.status == "accepted" for e in result.extractions)
    return seconds, server.request_count() - before, accepted, server.max_in_flight()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=500, help="extraction calls")
    parser.add_argument("--latency", type=float, default=0.2, help="server seconds per answer")
    parser.add_argument("--concurrency", type=int, default=32)
    args = parser.parse_args()
    questions = make_questions(args.n)
    work = Path(tempfile.mkdtemp(prefix="safetyforge-bench-"))
    with LoopbackProcess(latency_s=args.latency) as server:
        os.environ[KEY_ENV] = server.api_key
        print(
            f"llm_throughput: N={args.n} extraction calls, loopback latency "
            f"{args.latency * 1000:.0f} ms, openai {openai.__version__}, {os.cpu_count()} CPUs, "
            f"load average {os.getloadavg()[0]:.1f}"
        )
        runs = {}
        for label, concurrency in (("baseline", 1), ("ours", args.concurrency)):
            server.reset()
            runs[label] = timed_run(server, questions, concurrency, work / label)
            seconds, requests, accepted, peak = runs[label]
            print(
                f"{label:<8} max_concurrency={concurrency:<3} {requests} requests in {seconds:7.2f} s"
                f" = {requests / seconds:7.1f} req/s  ({accepted} accepted, peak in flight {peak})"
            )
        ratio = runs["ours"][0] and runs["baseline"][0] / runs["ours"][0]
        print(f"ratio    ours / baseline throughput = {ratio:.1f}x (target >= 20x)")
        server.reset()
        seconds, requests, accepted, _ = timed_run(
            server, questions, args.concurrency, work / "ours"
        )
        share = 100 * seconds / runs["ours"][0]
        print(
            f"cached   second run of ours: {requests} requests in {seconds:.3f} s = {share:.1f}% of"
            f" the first run ({accepted} accepted; target: 0 requests, < 5%)"
        )


if __name__ == "__main__":
    main()
