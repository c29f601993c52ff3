"""Which collection images a recipe's `collection` step takes for one question (pure).

Strategies: `least_similar` (CS-DJ distractors, JOOD's harmless image: the images whose
captions, object labels and visible text share the fewest words with the query), `most_similar`,
and `seeded` (a reproducible draw); a step's `tag` first narrows the collection to the images
whose metadata carries that tag (e.g. `harmless`). Ties are broken by a hash of the seed, the query and the
image id, so the same inputs always pick the same images.
"""

from __future__ import annotations

import re
from collections.abc import Sequence

from generators.collection import description
from schemas.records import ImageRecord, stable_id

STRATEGIES = ("least_similar", "most_similar", "seeded")
_WORD = re.compile(r"[^\W_]{3,}")


class PickError(ValueError):
    """The collection cannot give what the step asks (unknown strategy, too few images)."""


def words(text: str) -> set[str]:
    return {w.casefold() for w in _WORD.findall(text)}


def similarity(query: str, record: ImageRecord) -> float:
    """Jaccard overlap of the query's words and the image's description words."""
    about = description(record)
    image_words = words(" ".join([*about["captions"], *about["objects"], about["ocr"]]))
    asked = words(query)
    union = asked | image_words
    return len(asked & image_words) / len(union) if union else 0.0


def pick_images(
    images: Sequence[ImageRecord],
    strategy: str,
    count: int,
    query: str,
    seed: int,
    tag: str | None = None,
) -> list[ImageRecord]:
    """`count` distinct images of the collection (those tagged `tag`, when given) for `query`,
    in the order the strategy ranks them."""
    if strategy not in STRATEGIES:
        raise PickError(f"pick must be one of {', '.join(STRATEGIES)}, not {strategy!r}")
    if tag is not None:
        images = [i for i in images if tag in i.params.get("tags", [])]
    if count > len(images):
        tagged = f" tagged {tag!r}" if tag is not None else ""
        raise PickError(
            f"the collection has {len(images)} image(s){tagged}; the recipe needs {count}"
        )

    def tie(record: ImageRecord) -> str:
        return stable_id("pick", str(seed), query, record.image_id)

    if strategy == "seeded":
        ranked = sorted(images, key=tie)
    else:
        sign = 1 if strategy == "least_similar" else -1
        ranked = sorted(images, key=lambda r: (sign * similarity(query, r), tie(r)))
    return list(ranked[:count])
