"""The artifacts folder lock: a second holder waits, is told who holds it, then gets it."""

from __future__ import annotations

import threading
from pathlib import Path

from flows.artifacts_lock import LOCK_FILE, artifacts_lock


def test_a_second_holder_waits_and_is_told_who_holds_the_lock(tmp_path: Path) -> None:
    artifacts = tmp_path / "artifacts"  # created by the first holder
    held, release = threading.Event(), threading.Event()

    def first() -> None:
        with artifacts_lock(artifacts, "build run A"):
            held.set()
            release.wait(10)

    thread = threading.Thread(target=first)
    thread.start()
    assert held.wait(10)
    messages: list[str] = []

    def say(message: str) -> None:
        messages.append(message)
        release.set()  # let the first holder go once the second one is waiting

    with artifacts_lock(artifacts, "build run B", say=say, poll_s=0.05) as waited:
        assert "build run B" in (artifacts / LOCK_FILE).read_text()
    thread.join(10)
    assert waited > 0
    assert len(messages) == 1 and "held by build run A (pid" in messages[0]
    assert (artifacts / LOCK_FILE).read_text() == ""  # released: no holder named
