"""Every result fetched from an engine into Python is reported here (see the package docstring)."""
from __future__ import annotations

import contextlib
import json
import os
from dataclasses import asdict, dataclass
from typing import Callable, Iterator

#: What a fetched result is: one row per customer (must stay bounded in notebooks 03-05),
#: one row per transaction (the clean transactions read into pandas, e.g. ``Prepared.transactions``
#: from the run's Parquet cache; larger still), an aggregate (one row per segment, month,
#: score...) or a bounded sample.
FETCH_KINDS = ("per_customer", "per_transaction", "aggregate", "sample")


@dataclass(frozen=True)
class FetchRecord:
    """One result brought from an engine into Python."""

    engine: str
    label: str
    kind: str
    rows: int
    columns: int
    nbytes: int
    seconds: float


class FetchLimitExceeded(RuntimeError):
    """A per-customer fetch was larger than ``RFM_FETCH_MAX_ROWS`` allows."""


_listeners: list[Callable[[FetchRecord], None]] = []


def add_fetch_listener(listener: Callable[[FetchRecord], None]) -> Callable[[], None]:
    """Call ``listener(record)`` after every fetch; returns a function that removes it."""
    _listeners.append(listener)

    def remove() -> None:
        with contextlib.suppress(ValueError):
            _listeners.remove(listener)

    return remove


@contextlib.contextmanager
def recording_fetches() -> Iterator[list[FetchRecord]]:
    """``with recording_fetches() as log:`` - ``log`` lists every fetch made inside."""
    log: list[FetchRecord] = []
    remove = add_fetch_listener(log.append)
    try:
        yield log
    finally:
        remove()


def _report_fetch(record: FetchRecord) -> None:
    for listener in list(_listeners):
        listener(record)
    path = os.environ.get("RFM_FETCH_LOG")
    if path:
        with open(path, "a", encoding="utf-8") as fh:
            fh.write(json.dumps({**asdict(record), "pid": os.getpid()}) + "\n")
    limit = os.environ.get("RFM_FETCH_MAX_ROWS")
    if limit and record.kind == "per_customer" and record.rows > int(limit):
        raise FetchLimitExceeded(
            f"{record.label}: fetched {record.rows:,} per-customer rows into pandas, more than "
            f"RFM_FETCH_MAX_ROWS={int(limit):,}; keep this work in the engine (write files with "
            "Relation.write_parquet, fetch aggregates)")


