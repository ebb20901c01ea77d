"""RFM stage: transactions to one row per customer with recency, frequency, monetary and scores.

* :mod:`.sql` - the definitions as SQL text (one text for DuckDB and Spark);
* :mod:`.compute` - running them through :mod:`rfm_helpers.engine` (pandas in/out, or
  relations kept in the engine).
"""
from .compute import (TransactionsSource, compute_rfm, compute_scored_rfm, register_transactions,
                      rfm_relation, score_quantiles, scored_rfm_relation, tidy_rfm, to_spark_sql)
from .sql import RFM_SQL, SCORE_SQL, parse_as_of, rfm_body_sql, rfm_sql, score_sql, scored_rfm_sql

__all__ = [
    "RFM_SQL",
    "SCORE_SQL",
    "compute_rfm",
    "compute_scored_rfm",
    "score_quantiles",
    "rfm_relation",
    "scored_rfm_relation",
    "register_transactions",
    "TransactionsSource",
    "tidy_rfm",
    "parse_as_of",
    "rfm_sql",
    "rfm_body_sql",
    "score_sql",
    "scored_rfm_sql",
    "to_spark_sql",
]
