"""Load stage: a source spec in, checked canonical transactions and a full row accounting out.

``load_transactions(spec_or_path_or_frame, analysis_date)`` -> :class:`LoadResult`.

Modules: ``spec`` (the strict source spec, pydantic, JSON Schema), ``readers`` (one
registered reader per format), ``dates`` / ``amounts`` / ``parsing`` (per-column decisions,
vectorised in DuckDB), ``rules`` (the row rules as one SQL definition), ``result``
(LoadResult, reason and remark codes), ``describe`` (aggregates for the report),
``bundled`` (the CDNOW sample).
"""
from .describe import describe_clean, monthly_activity
from .loader import assert_usable, load_transactions
from .result import (REASONS, REMARK_CODES, SET_ASIDE_NOT_LOST, STALE_AFTER_DAYS, DataValidationError, Freshness,
                     LoadResult, Remark)
from .spec import CleaningRules, SourceSpec, SourceSpecError, TableSource, TransactionsSpec, read_source_spec, spec_from

__all__ = ["load_transactions", "assert_usable", "LoadResult", "Remark", "Freshness", "DataValidationError",
           "SourceSpecError", "SourceSpec", "TransactionsSpec", "TableSource", "CleaningRules",
           "read_source_spec", "spec_from", "REASONS", "REMARK_CODES", "SET_ASIDE_NOT_LOST", "STALE_AFTER_DAYS",
           "describe_clean", "monthly_activity"]
