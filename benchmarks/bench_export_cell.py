"""Time notebook 03's export cell (the mailing lists, their workbook and the call list) outside
papermill, on a prepared run folder, phase by phase: wall seconds and CPU seconds of the process
(CPU counts every thread: the engine's, the compressor's; on a shared machine it is the steadier
figure).

    python benchmarks/bench_export_cell.py --source /tmp/rfm_bench/source_1000000.yaml \\
        --run-dir /tmp/me/p6 --date 2024-12-31 [--repeat 2] [--keep /tmp/me/exports]

The first call on a run folder loads the source and scores it (the run cache), later calls read
the cache. Run it with another checkout's interpreter (e.g. main's venv) on the same folder to
compare; ``RFM_EXPORT_GZIP_ROWS`` / ``RFM_EXPORT_WORKBOOK_ROWS`` apply as in a run.
"""
from __future__ import annotations

import argparse
import contextlib
import os
import shutil
import time


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--source", required=True)
    ap.add_argument("--run-dir", required=True)
    ap.add_argument("--date", default="")
    ap.add_argument("--repeat", type=int, default=1)
    ap.add_argument("--keep", default="", help="copy the exports folder here after the last repeat")
    a = ap.parse_args()

    from rfm_helpers import act
    from rfm_helpers.clustering import compare_methods_engine
    from rfm_helpers.pipeline import prepare
    from rfm_helpers.report.texts.act import export_words
    from rfm_helpers.segments import QuantileSegmenter

    p = prepare(analysis_date=a.date, source_config=a.source, run_dir=a.run_dir, segment_map="classic", language="en")
    t = time.time()
    result = compare_methods_engine(p.engine, p.rfm_table, {"quantile": QuantileSegmenter(segment_map="classic")},
                                    n_boot=0, random_state=42)
    print(f"customers {result['customers']:,}; segments in the engine {time.time() - t:.1f} s")
    for _ in range(a.repeat):
        shutil.rmtree(p.exports_dir, ignore_errors=True)
        wall: dict[str, float] = {}
        cpu: dict[str, float] = {}

        @contextlib.contextmanager
        def phase(name: str):
            w, c = time.perf_counter(), time.process_time()
            yield
            wall[name], cpu[name] = time.perf_counter() - w, time.process_time() - c

        view = result["assigned"]["quantile"]
        with phase("total"):
            ex = act.ExportWriter.for_run(p, "en", export_words("en"))
            stored = act.segmented_table(p.engine, view) if hasattr(act, "segmented_table") else contextlib.nullcontext(view)
            with phase("segmented table"):
                final = stored.__enter__()
            with phase("mailing lists + workbook"):
                act.write_mailing_lists(ex, final, "classic", engine=p.engine, formats=("csv", "xlsx"))
            with phase("call list"):
                act.write_call_list(ex, final, "classic", max_rows=500, engine=p.engine)
            stored.__exit__(None, None, None)
        print("  ".join(f"{k}: {wall[k]:.2f} s (cpu {cpu[k]:.2f})" for k in wall),
              f"| load {os.getloadavg()[0]:.1f}")
    if a.keep:
        shutil.rmtree(a.keep, ignore_errors=True)
        shutil.copytree(p.exports_dir, a.keep)


if __name__ == "__main__":
    main()
