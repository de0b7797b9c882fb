"""A force's node: POLE store in DuckDB, ingest, local analyses, egress."""
