"""Import an existing image collection into the content-addressed store.

Sources: a local folder of images with an optional metadata file (JSON list or mapping, JSONL or
CSV; one entry per image, keyed by its path relative to the folder), or a Hugging Face image
dataset loaded with `datasets.load_dataset` (a local copy works offline). Each image is stored as
`images/collection/<id[:2]>/<id>.<png|jpg>` (id: the sha256 of its bytes) beside `<id>.json`, its
ImageRecord, whose params hold the source, licence, original id and the textual description
(captions, object labels, visible text) that grounded questions are written from.
"""

from __future__ import annotations

import csv
import hashlib
import io
import json
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import PIL
from PIL import Image, UnidentifiedImageError

from schemas.config import CollectionColumns, CollectionConfig
from schemas.files import write_atomic
from schemas.records import ImageRecord

IMAGE_SUFFIXES = frozenset({".png", ".jpg", ".jpeg", ".webp", ".bmp", ".gif", ".tif", ".tiff"})
# Stored as they come (lossless for PNG, no re-encoding loss for JPEG); other formats become PNG.
KEPT_FORMATS = {"PNG": "png", "JPEG": "jpg"}


class CollectionError(ValueError):
    """The collection cannot be read (missing folder, unreadable metadata, unknown column)."""


@dataclass(frozen=True)
class SourceImage:
    """One image as the source gives it, before import."""

    original_id: str
    data: bytes
    captions: list[str]
    objects: list[str]
    ocr: str
    license: str | None  # None: the collection's licence
    tags: list[str]
    labels: dict[str, Any] = field(default_factory=dict)  # a labelled task's, as given


@dataclass
class ImportResult:
    images: list[ImageRecord] = field(default_factory=list)  # in source order, no duplicates
    imported: int = 0  # written this time
    reused: int = 0  # already in the store with the same record
    skipped: list[tuple[str, str]] = field(default_factory=list)  # (original id, reason)
    unmatched_metadata: list[str] = field(default_factory=list)  # entries naming no image file


def description(record: ImageRecord) -> dict[str, Any]:
    """The textual description of a collection image: captions, objects and visible text."""
    return {
        "captions": list(record.params.get("captions", [])),
        "objects": list(record.params.get("objects", [])),
        "ocr": str(record.params.get("ocr", "")),
    }


def _as_list(value: Any, separators: str) -> list[str]:
    """A list of non-empty strings from a list, a separated string or nothing."""
    if value is None:
        return []
    if isinstance(value, str):
        for sep in separators[1:]:
            value = value.replace(sep, separators[0])
        items: list[Any] = value.split(separators[0])
    elif isinstance(value, list | tuple):
        items = list(value)
    else:
        items = [value]
    return [" ".join(str(i).split()) for i in items if i is not None and str(i).strip()]


def _labels(value: Any) -> dict[str, Any]:
    """Per-image labels: a mapping, or its JSON text (a CSV cell); nothing gives none."""
    if value is None or value == "":
        return {}
    if isinstance(value, str):
        try:
            value = json.loads(value)
        except json.JSONDecodeError as exc:
            raise CollectionError(f"collection labels {value[:40]!r}: not JSON: {exc}") from None
    if not isinstance(value, Mapping):
        raise CollectionError(f"collection labels must be a mapping, got {type(value).__name__}")
    return dict(value)


def _fields(entry: Mapping[str, Any], columns: CollectionColumns, labelled: bool) -> dict[str, Any]:
    license_value = entry.get(columns.license)
    return {
        "captions": _as_list(entry.get(columns.captions), "|"),
        "objects": _as_list(entry.get(columns.objects), ",|"),
        "ocr": " ".join(str(entry.get(columns.ocr) or "").split()),
        "license": str(license_value).strip() if license_value else None,
        "tags": _as_list(entry.get(columns.tags), ",|"),
        # Read for a labelled task only: elsewhere a `labels` column may mean something else
        # (an HF dataset's class ids).
        "labels": _labels(entry.get(columns.labels)) if labelled else {},
    }


def read_metadata(path: Path, columns: CollectionColumns) -> dict[str, dict[str, Any]]:
    """Metadata entries keyed by image path (relative to the folder, '/'-separated)."""
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise CollectionError(f"collection.metadata: cannot read {path}: {exc}") from None
    suffix = path.suffix.lower()
    try:
        if suffix == ".csv":
            rows: list[Any] = list(csv.DictReader(io.StringIO(text)))
        elif suffix == ".jsonl":
            rows = [json.loads(line) for line in text.splitlines() if line.strip()]
        elif suffix == ".json":
            loaded = json.loads(text)
            rows = (
                [{columns.file: key, **value} for key, value in loaded.items()]
                if isinstance(loaded, dict)
                else loaded
            )
        else:
            raise CollectionError(f"collection.metadata: {path} is not .json, .jsonl or .csv")
    except json.JSONDecodeError as exc:
        raise CollectionError(f"collection.metadata: {path}: invalid JSON: {exc}") from None
    entries: dict[str, dict[str, Any]] = {}
    for number, row in enumerate(rows, start=1):
        if not isinstance(row, dict) or not row.get(columns.file):
            raise CollectionError(
                f"collection.metadata: {path}: entry {number} has no {columns.file!r} "
                "(the image path relative to the folder; see collection.columns.file)"
            )
        entries[Path(str(row[columns.file])).as_posix()] = row
    return entries


def _from_folder(
    config: CollectionConfig, labelled: bool
) -> tuple[Iterator[SourceImage], list[str]]:
    folder = Path(config.folder or "")
    if not folder.is_dir():
        raise CollectionError(f"collection.folder: {folder} is not a folder")
    columns = config.columns
    meta = read_metadata(Path(config.metadata), columns) if config.metadata else {}
    files = sorted(
        p.relative_to(folder).as_posix()
        for p in folder.rglob("*")
        if p.is_file() and p.suffix.lower() in IMAGE_SUFFIXES
    )
    unmatched = sorted(set(meta) - set(files))

    def images() -> Iterator[SourceImage]:
        for rel in files:
            entry = meta.get(rel, {})
            original = entry.get(columns.id) if columns.id else None
            yield SourceImage(
                original_id=str(original or rel),
                data=(folder / rel).read_bytes(),
                **_fields(entry, columns, labelled),
            )

    return images(), unmatched


def _image_bytes(cell: Mapping[str, Any]) -> bytes:
    if cell.get("bytes"):
        return bytes(cell["bytes"])
    if cell.get("path"):
        return Path(cell["path"]).read_bytes()
    raise CollectionError("an image cell holds neither bytes nor a path")


def _from_hf(config: CollectionConfig, labelled: bool) -> Iterator[SourceImage]:
    import datasets  # imported here: only HF collections need it

    columns = config.columns
    try:
        ds = datasets.load_dataset(config.hf_dataset or "", config.hf_config, split=config.hf_split)
    except (FileNotFoundError, ValueError, datasets.exceptions.DatasetNotFoundError) as exc:
        message = f"collection.hf_dataset: cannot load {config.hf_dataset}: {exc}"
        raise CollectionError(message) from None
    if columns.image not in ds.column_names:
        known = ", ".join(ds.column_names)
        raise CollectionError(
            f"collection.columns.image: no column {columns.image!r} in {config.hf_dataset} "
            f"(columns: {known})"
        )
    # Undecoded cells give the stored bytes: no decode/re-encode round trip.
    ds = ds.cast_column(columns.image, datasets.Image(decode=False))
    for index, row in enumerate(ds):
        original = row.get(columns.id) if columns.id else None
        yield SourceImage(
            original_id=str(original if original is not None else index),
            data=_image_bytes(row[columns.image]),
            **_fields(row, columns, labelled),
        )


def source_name(config: CollectionConfig) -> str:
    if config.source:
        return config.source
    return Path(config.folder or config.hf_dataset or "").name or str(config.hf_dataset)


def _normalised(data: bytes) -> tuple[bytes, str, int, int]:
    """(stored bytes, extension, width, height); raises UnidentifiedImageError/OSError."""
    with Image.open(io.BytesIO(data)) as image:
        image.load()
        ext = KEPT_FORMATS.get(image.format or "")
        if ext is not None:
            return data, ext, image.width, image.height
        buffer = io.BytesIO()
        converted = image.convert("RGBA" if "A" in image.getbands() else "RGB")
        converted.save(buffer, format="PNG")
        return buffer.getvalue(), "png", image.width, image.height


def image_record(item: SourceImage, source: str, default_license: str) -> tuple[ImageRecord, bytes]:
    """The record of one source image and the bytes to store; raises on unreadable data."""
    data, ext, width, height = _normalised(item.data)
    sha = hashlib.sha256(data).hexdigest()
    image_id = sha[:16]
    params: dict[str, Any] = {
        "source": source,
        "license": item.license or default_license,
        "original_id": item.original_id,
        "original_sha256": hashlib.sha256(item.data).hexdigest(),
        "captions": item.captions,
        "objects": item.objects,
        "ocr": item.ocr,
    }
    if item.tags:  # only when given: records of untagged collections stay as they were
        params["tags"] = item.tags
    if item.labels:  # likewise: only labelled collections carry labels
        params["labels"] = item.labels
    record = ImageRecord(
        image_id=image_id,
        path=f"images/collection/{image_id[:2]}/{image_id}.{ext}",
        sha256=sha,
        kind="collection",
        width=width,
        height=height,
        params=params,
        pillow_version=PIL.__version__,
    )
    return record, data


def write_image(record: ImageRecord, data: bytes, artifacts_dir: Path) -> bool:
    """Store the image and its sidecar unless both are there already; True if anything was written."""
    target = artifacts_dir / record.path
    sidecar = target.with_suffix(".json")
    try:
        unchanged = ImageRecord.model_validate_json(sidecar.read_bytes()) == record
    except (OSError, ValueError):
        unchanged = False
    if unchanged and target.is_file():
        return False
    if not target.is_file():
        write_atomic(target, data)
    # Written last: a sidecar means the image beside it is complete.
    write_atomic(sidecar, record.model_dump_json(indent=1).encode("utf-8"))
    return True


def import_collection(
    config: CollectionConfig, artifacts_dir: Path, labelled: bool = False
) -> ImportResult:
    """Copy up to `max_images` images into the store, in source order (folder: sorted paths);
    `labelled` (a labelled task's build) reads each image's labels too.

    Unreadable files and repeats of an image already imported are skipped with a reason.
    """
    if config.folder is not None:
        items, unmatched = _from_folder(config, labelled)
    else:
        items, unmatched = _from_hf(config, labelled), []
    result = ImportResult(unmatched_metadata=unmatched)
    source = source_name(config)
    seen: dict[str, str] = {}  # image id -> original id
    for item in items:
        if config.max_images is not None and len(result.images) >= config.max_images:
            break
        try:
            record, data = image_record(item, source, config.license)
        except (UnidentifiedImageError, OSError) as exc:
            result.skipped.append((item.original_id, f"unreadable image: {exc}"))
            continue
        if record.image_id in seen:
            result.skipped.append((item.original_id, f"duplicate of {seen[record.image_id]}"))
            continue
        seen[record.image_id] = item.original_id
        written = write_image(record, data, artifacts_dir)
        result.images.append(record)
        result.imported += int(written)
        result.reused += int(not written)
    return result
