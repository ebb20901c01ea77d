"""The bundled real data set: CDNOW master transactions (see ``data/cdnow/README.md``)."""
from __future__ import annotations

from importlib import resources
from pathlib import Path

import pandas as pd

from .spec import SourceSpec, spec_from

__all__ = ["CDNOW_LAST_DATE", "cdnow_path", "cdnow_source", "read_cdnow_raw"]

#: How the bundled file is read: whitespace-separated, dates as yyyymmdd, amounts in US dollars.
CDNOW_SPEC = {
    "name": "CDNOW (bundled sample)",
    "format": "csv",
    "columns": {"customer_id": "customer_id", "order_date": "date", "amount": "dollar_value",
                "quantity": "number_of_cds"},
    "csv": {"sep": r"\s+", "encoding": "ascii"},
    "dates": {"format": "%Y%m%d"},
    "currency": "USD",
}

#: Last date in CDNOW: the default analysis date of the bundled report.
CDNOW_LAST_DATE = "1998-06-30"


def cdnow_path() -> Path:
    """Path of the bundled ``CDNOW_master.txt`` inside the installed package."""
    return Path(str(resources.files("rfm_helpers") / "data" / "cdnow" / "CDNOW_master.txt"))


def cdnow_source() -> SourceSpec:
    """The source spec of the bundled CDNOW sample."""
    spec = spec_from({**CDNOW_SPEC, "path": str(cdnow_path())})
    spec._bundled = True
    return spec


def read_cdnow_raw() -> pd.DataFrame:
    """The raw file as a DataFrame: ids stay zero-padded strings, nothing is cleaned."""
    return pd.read_csv(cdnow_path(), sep=r"\s+", dtype={"customer_id": "string"})
