"""Importers of published question files (one module per format, registered by name) and the
import stage that turns their records into the build's questions and key-phrase records."""

from generators.importers import jailbreakv, mm_safetybench, safebench, table  # noqa: F401  (register)
from generators.importers.base import (
    IMPORTERS,
    ImportedRecord,
    Importer,
    ImportFailed,
    get_importer,
)
from generators.importers.fill import asked_fields, fill_missing, missing_fields, needed_fields
from generators.importers.stage import ImportResult, imported_question_id, read_import

__all__ = [
    "IMPORTERS",
    "ImportFailed",
    "ImportResult",
    "ImportedRecord",
    "Importer",
    "asked_fields",
    "fill_missing",
    "get_importer",
    "imported_question_id",
    "missing_fields",
    "needed_fields",
    "read_import",
]
