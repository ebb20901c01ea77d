"""Act on the segments: the export files of a run (customer lists and tables for other tools).

Every file of a run goes through one :class:`ExportWriter` (one CSV dialect per run, chosen by
the report language; every value quoted; money in cents; ids byte for byte) and, for people,
one workbook per list with typed cells and an About sheet. See ``files.py`` for the dialect
and the formula-injection policy, ``columns.py`` for the columns of every file.
"""
from .calls import call_priority, write_call_list
from .columns import CONTACT_COLUMNS, SCHEMAS, Column
from .engine_tables import segmented_table
from .files import DIALECTS, CsvDialect, dialect_for, formula_like, needs_apostrophe
from .mailing import load_test_recipients, write_mailing_lists
from .tables import (write_customer_value, write_excluded_customers, write_migration_list, write_scores,
                     write_segment_effects)
from .workbook import XLSX_MAX_ROWS, ExportWords
from .writer import DICTIONARY_FILE, ExportWriter

__all__ = [
    "ExportWriter", "ExportWords", "CsvDialect", "DIALECTS", "dialect_for", "Column", "SCHEMAS",
    "CONTACT_COLUMNS", "XLSX_MAX_ROWS", "DICTIONARY_FILE", "formula_like", "needs_apostrophe",
    "write_scores", "write_mailing_lists", "write_call_list", "call_priority", "load_test_recipients",
    "write_excluded_customers", "write_segment_effects", "write_migration_list", "write_customer_value",
    "segmented_table",
]
