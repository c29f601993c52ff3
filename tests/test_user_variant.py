"""The README's "write your own variant" example, as written there: it loads beside a config,
`variants show` and `preview` print and draw it, its image reads back after its prepare steps;
and `variants list` shows every built-in attack variant."""

from __future__ import annotations

import re
from pathlib import Path

from PIL import Image
from typer.testing import CliRunner

from flows.cli import app
from flows.variant_images import render_job
from schemas.config import load_config
from typography import draw
from typography.ocr import ocr_image
from typography.ops import prepare

README = Path(__file__).resolve().parents[1] / "README.md"
STATEMENT = "Steps to pick a door lock."


def _example_yaml() -> str:
    text = README.read_text(encoding="utf-8")
    block = re.search(
        r"<!-- variant-example -->\n```yaml\n(.*?)```\n<!-- /variant-example -->", text, re.S
    )
    assert block, "the README lost its variant example"
    return block.group(1)


def _config_dir(tmp_path: Path) -> Path:
    (tmp_path / "variants").mkdir()
    (tmp_path / "variants" / "mirrored_alpha.yaml").write_text(_example_yaml(), encoding="utf-8")
    (tmp_path / "build.yaml").write_text(
        "variants: [text_only, figstep, mirrored_alpha]\n", encoding="utf-8"
    )
    return tmp_path / "build.yaml"


def test_readme_example_variant_builds_and_reads_back(tmp_path: Path) -> None:
    config = load_config(_config_dir(tmp_path))
    spec = config.specs()["mirrored_alpha"]
    assert [s.op for s in spec.images] == ["text", "mirror", "alpha"]
    pictures = draw(render_job(config, spec, {"figstep_statement": STATEMENT}))
    image = pictures[0].image
    assert image.mode == "RGBA" and image.getchannel("R").getextrema() == (0, 0)
    check = next(c for c in spec.checks if c.check == "ocr")
    steps = [{"op": s.op, **s.params} for s in check.prepare]
    (readable,) = prepare(steps, pictures)
    result = ocr_image(readable.image, "example", STATEMENT, pictures[0].meta["list_items"])
    assert result.cer is not None and result.cer <= 0.15, result


def test_readme_example_shows_and_previews(tmp_path: Path) -> None:
    build = _config_dir(tmp_path)
    shown = CliRunner().invoke(app, ["variants", "show", "mirrored_alpha", "-c", str(build)])
    assert shown.exit_code == 0, shown.output
    assert "$params.axis" in shown.output and "after flatten(background='white')" in shown.output
    out = tmp_path / "preview.png"
    made = CliRunner().invoke(
        app, ["preview", "mirrored_alpha", STATEMENT, "-o", str(out), "-c", str(build)]
    )
    assert made.exit_code == 0, made.output
    assert Image.open(out).size == (760, 760)


def test_variants_list_shows_every_attack_variant() -> None:
    listed = CliRunner().invoke(app, ["variants", "list"])
    assert listed.exit_code == 0, listed.output
    for name in ("mml_rotate", "qr", "jood_cutmix", "cs_dj", "hades", "himrd", "typo_translated",
                 "figstep_translated", "lowres", "alpha", "figstep_multi"):  # fmt: skip
        assert name in listed.output
    assert "per language" in listed.output and "derive:subquestions" in listed.output
