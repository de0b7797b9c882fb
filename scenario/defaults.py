"""Defaults of the messy-record options, in a module light enough for `crossforce --help`
(no numpy / pyarrow / Faker): the CLI and the generator both read them from here."""

#: Share of real people with two or more records (duplicate nominals) in one force.
DEFAULT_DUPLICATES = 0.15
#: Share of dates of birth written in a form a DATE column cannot hold ("1985",
#: "1997-21-25"). 0 until node ingest keeps such dates instead of refusing the file;
#: then 0.04 (realistic: 0.03-0.05).
DEFAULT_DIRTY_DOBS = 0.04
