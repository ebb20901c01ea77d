"""A papermill engine that saves the executed notebook at most every few seconds.

papermill's own engine saves the whole executed notebook (charts included: serialised and
validated) at the start and at the end of every cell, while the kernel waits for its next
cell: about 20 ms a save, 2-4 s of a monthly run. :func:`throttled_engine` registers an
engine that saves at most every :data:`SAVE_EVERY_S` seconds and always at the notebook's
end, whatever its outcome (so a failed notebook still keeps every cell that ran).
"""
from __future__ import annotations

from typing import Any

__all__ = ["SAVE_EVERY_S", "throttled_engine"]

#: Seconds between two saves of the executed notebook while it runs (and at its end, always).
SAVE_EVERY_S = 5.0
_ENGINE = "rfm-throttled-saves"
_REGISTERED: list[str] = []


def throttled_engine() -> str:
    """papermill's nbclient engine, saving the executed notebook at most every
    :data:`SAVE_EVERY_S` seconds and at its end instead of twice per cell: each save
    serialises and validates the whole notebook (charts included) while the kernel waits for
    its next cell, about 20 ms a save and 2-4 s a monthly run. The end-of-notebook save
    happens whatever the outcome, so a failed notebook still leaves every cell that ran."""
    from papermill.engines import NBClientEngine, NotebookExecutionManager, papermill_engines

    if _REGISTERED:
        return _ENGINE

    class _ThrottledSaves(NotebookExecutionManager):
        _final = False

        def save(self, **kwargs: Any) -> None:
            last = getattr(self, "last_save_time", None)
            if self._final or last is None or (self.now() - last).total_seconds() >= SAVE_EVERY_S:
                super().save(**kwargs)

        def notebook_complete(self, **kwargs: Any) -> None:
            self._final = True
            super().notebook_complete(**kwargs)

    class _Engine(NBClientEngine):
        @classmethod
        def execute_notebook(cls, nb: Any, kernel_name: str, output_path: Any = None, progress_bar: bool = True,
                             log_output: bool = False, autosave_cell_every: int = 30, **kwargs: Any) -> Any:
            nb_man = _ThrottledSaves(nb, output_path=output_path, progress_bar=progress_bar,
                                     log_output=log_output, autosave_cell_every=autosave_cell_every)
            nb_man.notebook_start()
            try:
                cls.execute_managed_notebook(nb_man, kernel_name, log_output=log_output, **kwargs)
            finally:
                nb_man.cleanup_pbar()
                nb_man.notebook_complete()
            return nb_man.nb

    papermill_engines.register(_ENGINE, _Engine)
    _REGISTERED.append(_ENGINE)
    return _ENGINE
