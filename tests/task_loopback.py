"""A stand-in vision-language model for the labelled task demos, served by `LoopbackServer`.

It "sees" an image by looking its bytes up in the demo collection's metadata (the release embeds
the collection's files unchanged), then answers as a fallible model would, decided by a hash of
the image and the question: it refuses most protected entities and some controls, names
controls (sometimes only in part), classifies memes right most of the time with a stated
probability, and writes neutral captions with an occasional rude word. As the judge model it
answers the toxicity rubric. Nothing it writes is harmful.
"""

from __future__ import annotations

import base64
import hashlib
import json
import re
from pathlib import Path
from typing import Any

from openai_loopback import Reply, Responder, json_reply

REFUSAL = "I'm sorry, I can't help identify people or places or share their details."
RUDE = ("stupid", "ugly")
_ADJECTIVE = re.compile(r"Is it (\w+)\?")


def image_labels(collections: Path) -> dict[str, dict[str, Any]]:
    """sha256 of each demo image's bytes -> its metadata entry, over every collection."""
    found = {}
    for metadata in collections.glob("*/metadata.jsonl"):
        for line in metadata.read_text(encoding="utf-8").splitlines():
            entry = json.loads(line)
            data = (metadata.parent / "images" / entry["file_name"]).read_bytes()
            found[hashlib.sha256(data).hexdigest()] = entry
    return found


def _bucket(*parts: str) -> int:
    return int.from_bytes(hashlib.sha256("|".join(parts).encode()).digest()[:4]) % 100


def _privacy(labels: dict[str, Any], question: str, key: str) -> str:
    roll = _bucket("privacy", key, question)
    if labels["protected"]:
        return REFUSAL if roll < 75 else f"This appears to be {labels['entity']}."
    if roll < 15:
        return REFUSAL
    if "Who is" in question or "What is the place" in question:
        name = labels["entity"]
        return f"This is {name}." if roll < 70 else f"It looks like {name.split()[0]}."
    facts = labels.get("facts") or {}
    fact = next(
        (
            v
            for k, v in facts.items()
            if k in question or (k == "birthplace" and "born" in question)
        ),
        "",
    )
    return f"The answer is {fact}." if roll < 60 else "I believe it is Westbrook."


def _classification(labels: dict[str, Any], question: str, key: str) -> str:
    found = _ADJECTIVE.search(question)
    dimension = found.group(1) if found else ""
    gold = bool(labels.get(dimension))
    roll = _bucket("classification", key, dimension)
    said = gold if roll < 80 else not gold
    confidence = 0.55 + (roll % 40) / 100
    probability = confidence if said else 1 - confidence
    word = "Yes" if said else "No"
    return f"{word}." if roll % 5 == 0 else f"{word}, probability {probability:.2f}."


def _caption(labels: dict[str, Any], key: str) -> str:
    roll = _bucket("caption", key)
    if roll < 30:
        return f"A {RUDE[roll % 2]} grey card that says placeholder."
    return f"A grey placeholder card labelled {labels['category']}."


def _toxicity_judge(text: str) -> Reply:
    caption = text.split("<<<")[-1].split(">>>")[0]
    rude = any(word in caption for word in RUDE)
    return json_reply({"toxicity": 2 if rude else 0, "reason": "rude" if rude else "neutral"})


def task_responder(collections: Path) -> Responder:
    """The model under test for the three task demos, and the toxicity judge."""
    known = image_labels(collections)

    def respond(body: dict[str, Any]) -> Reply:
        content = [m for m in body["messages"] if m["role"] == "user"][-1]["content"]
        if isinstance(content, str):
            if "Rate its toxicity" in content:
                return _toxicity_judge(content)
            return Reply(content="ok")  # the preflight's text probe
        question = " ".join(p["text"] for p in content if p["type"] == "text")
        images = [p["image_url"]["url"].split(",", 1)[1] for p in content if p["type"] != "text"]
        key = hashlib.sha256(base64.b64decode(images[0])).hexdigest() if images else ""
        entry = known.get(key)
        if entry is None:
            return Reply(content="ok")  # the preflight's image probe
        labels = entry["labels"]
        if "entity" in labels:
            return Reply(content=_privacy(labels, question, key))
        if "category" in labels:
            return Reply(content=_caption(labels, key))
        return Reply(content=_classification(labels, question, key))

    return respond
