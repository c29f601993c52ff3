"""DuckDB lineage catalog and release writer."""

from catalog.store import TABLES, Catalog, CatalogError

__all__ = ["TABLES", "Catalog", "CatalogError"]
