"""Font resolution by name (fonts.yaml), file hashes, per-process caches and glyph coverage."""

from __future__ import annotations

import hashlib
import os
from functools import cache
from pathlib import Path

import yaml
from fontTools.ttLib import TTFont
from PIL import ImageFont

from schemas._base import StrictModel
from typography.errors import TypographyError

_SYSTEM_DIRS = ("/usr/share/fonts", "/usr/local/share/fonts", "~/.local/share/fonts", "~/.fonts")


class FontSpec(StrictModel):
    file: str
    index: int = 0
    package: str


class ResolvedFont(StrictModel):
    """A font name bound to an installed file; `sha256` pins the exact bytes used."""

    name: str
    path: str
    index: int
    sha256: str


@cache
def font_specs() -> dict[str, FontSpec]:
    raw = yaml.safe_load((Path(__file__).parent / "fonts.yaml").read_text(encoding="utf-8"))
    return {name: FontSpec.model_validate(spec) for name, spec in raw.items()}


def _search_dirs() -> list[Path]:
    extra = [d for d in os.environ.get("SAFETYFORGE_FONT_DIRS", "").split(":") if d]
    return [Path(d).expanduser() for d in (*extra, *_SYSTEM_DIRS)]


@cache
def _installed_files() -> dict[str, Path]:
    """File name -> first path found, earlier folders winning (so $SAFETYFORGE_FONT_DIRS can
    override a system font)."""
    found: dict[str, Path] = {}
    for folder in _search_dirs():
        if folder.is_dir():
            for path in sorted(folder.rglob("*")):
                if path.suffix.lower() in (".ttf", ".ttc", ".otf"):
                    found.setdefault(path.name, path)
    return found


_SHA256: dict[str, str] = {}  # path -> sha256 of the file, per process


def _file_sha256(path: str) -> str:
    if path not in _SHA256:
        digest = hashlib.sha256()
        with open(path, "rb") as handle:
            for block in iter(lambda: handle.read(1 << 20), b""):
                digest.update(block)
        _SHA256[path] = digest.hexdigest()
    return _SHA256[path]


def known_hashes() -> dict[str, str]:
    return dict(_SHA256)


def remember_hashes(hashes: dict[str, str]) -> None:
    """Seed a worker process with the parent's font hashes (CJK fonts are ~20 MB each)."""
    _SHA256.update(hashes)


# A build's own font files (render.fonts: name -> path), as a hashable tuple of pairs.
UserFonts = tuple[tuple[str, str], ...]


@cache
def resolve_font(name: str, user: UserFonts = ()) -> ResolvedFont:
    """A font by name: the build's own files first (e.g. a licensed Arial), then fonts.yaml."""
    own = dict(user).get(name)
    if own is not None:
        path = Path(own).expanduser()
        if not path.is_file():
            raise TypographyError(f"font {name!r}: render.fonts names {own}, which is not a file")
        return ResolvedFont(name=name, path=str(path), index=0, sha256=_file_sha256(str(path)))
    spec = font_specs().get(name)
    if spec is None:
        known = sorted({*font_specs(), *dict(user)})
        raise TypographyError(
            f"unknown font {name!r}; known: {', '.join(known)} (add your own with render.fonts)"
        )
    path = _installed_files().get(spec.file)
    if path is None:
        folders = ", ".join(str(d) for d in _search_dirs())
        raise TypographyError(
            f"font {name!r} ({spec.file}) is not installed: install the Debian package "
            f"{spec.package} (`make system-deps`) or put the file in one of: {folders}"
        )
    return ResolvedFont(name=name, path=str(path), index=spec.index, sha256=_file_sha256(str(path)))


def resolve_chain(names: tuple[str, ...], user: UserFonts = ()) -> tuple[ResolvedFont, ...]:
    """The primary font (must exist) and the installed fallbacks, in order; a missing fallback
    only narrows coverage, and the error for an uncovered character names it."""
    chain = [resolve_font(names[0], user)]
    for name in names[1:]:
        try:
            chain.append(resolve_font(name, user))
        except TypographyError:
            continue
    return tuple(chain)


def missing_fonts(names: tuple[str, ...], user: UserFonts = ()) -> list[str]:
    missing = []
    for name in names:
        try:
            resolve_font(name, user)
        except TypographyError:
            package = font_specs()[name].package if name in font_specs() else "render.fonts"
            missing.append(f"{name} ({package})")
    return missing


@cache
def load_font(path: str, index: int, size: int) -> ImageFont.FreeTypeFont:
    """One FreeType face per (file, face, size) per process: loading is the costly part."""
    return ImageFont.truetype(path, size, index=index)


@cache
def codepoints(path: str, index: int) -> frozenset[int]:
    """Code points the face maps to a glyph (its cmap); read once per process, lazily."""
    with TTFont(path, fontNumber=index, lazy=True) as font:
        return frozenset(font.getBestCmap())


def covers(font: ResolvedFont, cluster: str) -> bool:
    # Joiners and variation selectors are often absent from cmaps but shape fine.
    table = codepoints(font.path, font.index)
    return all(
        ord(c) in table or c in "\u200c\u200d" or 0xFE00 <= ord(c) <= 0xFE0F for c in cluster
    )
