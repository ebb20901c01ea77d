"""Moved to :mod:`rfm_helpers.report.display` (the report layer); this name is an alias of
that module, kept while analysis modules and notebooks still import it from here."""
import sys

from .report import display as _moved

sys.modules[__name__] = _moved
