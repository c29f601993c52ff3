"""SD+TYPO: a Stable Diffusion image stacked above key-phrase typography, same width."""

from __future__ import annotations

import hashlib
from pathlib import Path

from PIL import Image

from schemas.records import ImageRecord, stable_id
from typography.errors import TypographyError
from typography.presets import TypoPreset, get_preset
from typography.render import make_record, render_id
from typography.renderers import draw_typo
from typography.store import Ledger, encode_png, job_dir, write_file
from typography.text import clean_text


def compose_sd_typo(
    sd_image: Path,
    key_phrase: str,
    artifacts_dir: Path,
    *,
    preset: str = "sd-typo",
    compress_level: int = 1,
    ledger: Ledger | None = None,
) -> ImageRecord:
    """SD image on top, typography of `key_phrase` below; the SD image is resized (Lanczos) to
    the typography width when they differ. Cached by the SD image's bytes and the render inputs.
    Raises TypographyError when the phrase cannot be rendered or the preset is not a typo one.
    Pass one `Ledger(artifacts_dir, "sd_typo")` for a batch of calls, so it is read once."""
    artifacts_dir = Path(artifacts_dir)
    chosen = get_preset(preset)
    if not isinstance(chosen, TypoPreset):
        raise TypographyError(f"preset {preset!r} draws {chosen.layout!r}, not typo images")
    text = clean_text(key_phrase)
    sd_sha = hashlib.sha256(Path(sd_image).read_bytes()).hexdigest()
    image_id = stable_id(
        "sd_typo", sd_sha, render_id("typo", text, chosen, chosen.font_names), length=24
    )
    ledger = ledger or Ledger(artifacts_dir, "sd_typo")
    cached = ledger.lookup(image_id)
    if cached is not None:
        return cached[0]

    drawn = draw_typo(chosen, text)
    typo = drawn.images[0].convert("RGB")
    with Image.open(sd_image) as opened:
        sd = opened.convert("RGB")
    resized = sd.width != typo.width
    if resized:
        sd = sd.resize((typo.width, round(sd.height * typo.width / sd.width)), Image.LANCZOS)
    stacked = Image.new("RGB", (typo.width, sd.height + typo.height), "white")
    stacked.paste(sd, (0, 0))
    stacked.paste(typo, (0, sd.height))

    path = job_dir(artifacts_dir, "sd_typo", image_id) / f"{image_id}.png"
    data = encode_png(stacked, compress_level)
    write_file(path, data, atomic=ledger.known(image_id))
    record = make_record(
        drawn,
        stacked,
        image_id=image_id,
        kind="sd_typo",
        text=text,
        path=path.relative_to(artifacts_dir).as_posix(),
        sha256=hashlib.sha256(data).hexdigest(),
        compress_level=compress_level,
        extra={
            "sd_image_sha256": sd_sha,
            "sd_size": [sd.width, sd.height],
            "sd_resized": resized,
            "typo_top": sd.height,
        },
    )
    ledger.append(image_id, [record])
    return record
