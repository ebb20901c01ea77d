"""``format: spark`` as the source of the monthly run (issue 17 point 5).

A Parquet table written by Spark is loaded twice through :func:`rfm_helpers.pipeline.prepare`:
with ``format: spark`` (read and cleaned inside a Spark session the run starts and stops) and
as a Parquet file by the file loader (DuckDB). Kept rows, set-aside reasons, customers and the
scored RFM table must be the same. Spec mistakes are refused naming the YAML file, the line
and the setting.

One JVM per test process (PySpark keeps its gateway between sessions); each run starts a
``local[1]`` session in it and stops it.
"""
from __future__ import annotations

import os
import shutil
import subprocess
import time
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from rfm_helpers.load import DataValidationError, SourceSpecError, read_source_spec
from rfm_helpers.pipeline import prepare

pytestmark = pytest.mark.filterwarnings("ignore:PySpark does not yet fully support pandas:FutureWarning")
AS_OF = "2024-06-30"
LOCAL_CONF = {"spark.ui.enabled": "false", "spark.ui.showConsoleProgress": "false",
              "spark.sql.shuffle.partitions": "2", "spark.driver.memory": "1g",
              "spark.driver.extraJavaOptions": "-XX:TieredStopAtLevel=1"}


def nasty_rows() -> pd.DataFrame:
    """Generated orders plus a row for every reason a typed source can set aside."""
    rng = np.random.default_rng(17)
    n = 400
    days = pd.Timestamp("2023-01-01") + pd.to_timedelta(rng.integers(0, 540, n), unit="D")
    gen = pd.DataFrame({
        "client": [f"k{i:03d}" for i in rng.integers(0, 90, n)],
        "day": days.date,
        "total": np.round(rng.gamma(2.0, 40.0, n), 2),
        "doc": [f"g{i}" for i in range(n)],
        "state": rng.choice(["paid", "delivered", "Paid"], n),
    })
    odd = pd.DataFrame([
        ("c1", "2024-01-05", 10.00, "o1", "paid"), ("c1", "2024-01-05", 10.00, "o1", "paid"),   # duplicate
        (None, "2024-01-05", 5.0, "o2", "paid"), ("  ", "2024-01-05", 5.0, "o2b", "paid"),     # missing ids
        ("c2", None, 5.0, "o3", "paid"),                                                       # bad_date
        ("c2", "2024-01-06", None, "o4", "paid"),                                              # bad_amount
        ("c3", "2024-07-01", 5.0, "o5", "paid"),                                               # after the date
        ("c3", "2024-01-07", 7.0, "o6", "cancelled"),                                          # excluded_status
        ("c4", "2024-01-08", 0.0, "o7", "paid"),                                               # zero_amount
        ("c6", "2024-02-01", 15.0, "o9", "paid"), ("c6", "2024-02-02", -15.0, "o9", "paid"),   # refunded order
        ("c7", "2024-02-01", -5.0, "o10", "paid"),                                             # unlinked return
        ("k001", "2024-03-01", 33.333, "o11", "paid"),                                         # rounded amount
        ("k002", "2024-03-02", 250000.0, "o12", "paid"),                                       # outlier
        ("c8", "2024-02-01", 30.0, "o13", "paid"), ("c8", "2024-02-03", -10.0, "o13", "paid"),  # refund netted
    ], columns=list(gen.columns))
    odd["day"] = pd.to_datetime(odd["day"]).dt.date
    return pd.concat([gen, odd], ignore_index=True)


@pytest.fixture(scope="module")
def pyspark():
    mod = pytest.importorskip("pyspark")
    if shutil.which("java") is None:
        pytest.skip("Spark needs Java")
    return mod


def local_session(app: str):
    from pyspark.sql import SparkSession

    b = SparkSession.builder.master("local[1]").appName(app)
    for k, v in LOCAL_CONF.items():
        b = b.config(k, v)
    s = b.getOrCreate()
    s.sparkContext.setLogLevel("ERROR")
    return s


@pytest.fixture(scope="module")
def table_dir(pyspark, tmp_path_factory) -> Path:
    """orders.parquet written by Spark (one file, rows in order; DATE order dates) and two
    specs beside it that read it: through Spark and as a file."""
    from pyspark.sql import types as T

    folder = tmp_path_factory.mktemp("spark_source")
    rows = nasty_rows()
    session = local_session("rfm-spark-source-writer")
    try:
        schema = T.StructType([T.StructField("client", T.StringType()), T.StructField("day", T.DateType()),
                               T.StructField("total", T.DoubleType()), T.StructField("doc", T.StringType()),
                               T.StructField("state", T.StringType())])
        data = [tuple(None if (isinstance(v, float) and np.isnan(v)) else v for v in r)
                for r in rows.astype(object).where(rows.notna(), None).itertuples(index=False)]
        session.createDataFrame(data, schema).coalesce(1).write.parquet(str(folder / "orders.parquet"))
    finally:
        session.stop()
    columns = "columns: {customer_id: client, order_date: day, amount: total, order_id: doc, status: state}\n"
    (folder / "as_file.yaml").write_text("path: orders.parquet\ncurrency: EUR\n" + columns, encoding="utf-8")
    (folder / "with_spark.yaml").write_text(
        "format: spark\ncurrency: EUR\nspark:\n  path: orders.parquet\n  conf:\n"
        + "".join(f"    {k}: '{v}'\n" for k, v in LOCAL_CONF.items()) + columns, encoding="utf-8")
    return folder


def assert_same_run(got, want) -> None:
    g, w = got.load, want.load
    assert (g.rows_in, g.rows_kept, g.customers_lost) == (w.rows_in, w.rows_kept, w.customers_lost)
    assert g.reason_counts().to_dict() == w.reason_counts().to_dict()
    assert g.statuses == w.statuses
    # the same remarks with the same values (the column as the source names it; the outlier's row
    # is Spark's row id + 1, which equals the line in a one-file table written in order)
    assert {r.code: r.values for r in g.remarks} == {r.code: r.values for r in w.remarks}
    assert {"statuses", "amount_rounded", "refunds_netted", "orders_fully_refunded", "unlinked_returns",
            "outliers"} <= {r.code for r in g.remarks}
    keys = ["customer_id", "order_date", "amount", "order_id"]
    a = g.clean[keys].sort_values(keys).reset_index(drop=True)
    b = w.clean[keys].sort_values(keys).reset_index(drop=True)
    assert a["customer_id"].astype(str).tolist() == b["customer_id"].astype(str).tolist()
    assert a["order_id"].astype(str).tolist() == b["order_id"].astype(str).tolist()
    assert (a["order_date"].to_numpy() == b["order_date"].to_numpy()).all()
    assert a["amount"].tolist() == b["amount"].tolist()
    assert got.as_of == want.as_of and got.currency == want.currency == "EUR"
    pd.testing.assert_frame_equal(got.rfm.sort_values("customer_id").reset_index(drop=True),
                                  want.rfm.sort_values("customer_id").reset_index(drop=True), check_dtype=False)


def test_spark_path_source_equals_the_file_loader(table_dir, monkeypatch, tmp_path):
    from pyspark.sql import SparkSession

    # the master from the environment (the spec names none); no session is running before
    monkeypatch.setenv("RFM_SPARK_MASTER", "local[1]")
    assert SparkSession.getActiveSession() is None
    want = prepare(AS_OF, str(table_dir / "as_file.yaml"), run_dir=str(tmp_path / "file"))
    got = prepare(AS_OF, str(table_dir / "with_spark.yaml"), run_dir=str(tmp_path / "spark"))
    assert SparkSession.getActiveSession() is None, "the run must stop the session it started"
    assert got.load.rows_in == len(nasty_rows()) and got.load.rows_quarantined == 12
    assert set(got.load.reason_counts().index) >= {"duplicate", "missing_customer_id", "bad_date", "bad_amount",
                                                   "after_analysis_date", "excluded_status", "zero_amount",
                                                   "refund_netted", "refunded_order", "return_or_cancellation"}
    assert_same_run(got, want)
    assert got.rfm["customer_id"].nunique() == len(got.rfm) > 80
    assert got.load.remark("amount_rounded").values["column"] == "total"


def test_spark_table_in_a_running_session_is_used_and_left_running(table_dir, tmp_path):
    spec = read_source_spec(table_dir / "with_spark.yaml")
    spark = spec.spark.model_copy(update={"path": None, "table": "orders_view", "master": "local[1]"})
    spec = spec.model_copy(update={"spark": spark})
    spec._base_dir, spec._spec_file = table_dir, "with_spark.yaml"
    session = local_session("rfm-user-session")
    try:
        session.read.parquet(str(table_dir / "orders.parquet")).createOrReplaceTempView("orders_view")
        got = prepare(AS_OF, spec, run_dir=str(tmp_path / "t"))
        assert not session.sparkContext._jsc.sc().isStopped(), "a session the run did not start stays running"
        assert session.table("orders_view").count() == len(nasty_rows())
        want = prepare(AS_OF, str(table_dir / "as_file.yaml"), run_dir=str(tmp_path / "f"))
        assert_same_run(got, want)
        bad = spec.model_copy(update={"spark": spark.model_copy(update={"table": "no_such_table"})})
        bad._base_dir, bad._spec_file = table_dir, "with_spark.yaml"
        with pytest.raises(DataValidationError, match=r"with_spark.yaml .*spark.table 'no_such_table'"):
            prepare(AS_OF, bad, run_dir=str(tmp_path / "b"))
        other = spec.model_copy(update={"spark": spark.model_copy(update={"master": "spark://elsewhere:7077"})})
        other._base_dir, other._spec_file = table_dir, "with_spark.yaml"
        with pytest.raises(DataValidationError, match=r"spark.master is 'spark://elsewhere:7077'.*local\[1\]"):
            prepare(AS_OF, other, run_dir=str(tmp_path / "o"))
    finally:
        session.stop()


def write_spec(tmp_path: Path, text: str) -> Path:
    p = tmp_path / "src.yaml"
    p.write_text(text, encoding="utf-8")
    return p


@pytest.mark.parametrize("text, message", [
    ("format: spark\nspark:\n  master: local[1]\n  tabel: sales\n",
     r"src.yaml, line 4: unknown key 'tabel' in spark\. Did you mean 'table'\?"),
    ("format: spark\nspark:\n  master: local[1]\n",
     r"src.yaml, line 2: spark: .*exactly one of 'table' .* or 'path'"),
    ("format: spark\nspark:\n  table: a\n  path: b.parquet\n", r"src.yaml, line 2: spark: .*exactly one of"),
    ("format: spark\npath: x.parquet\n", r"src.yaml: .*format: spark needs a 'spark' block"),
    ("format: spark\npath: x.parquet\nspark: {table: t}\n", r"spark.path .*not path"),
    ("format: csv\npath: x.csv\nspark: {table: t}\n", r"a 'spark' block needs format: spark"),
    ("format: sprak\n", r"unknown format 'sprak'.*did you mean 'spark'"),
    ("spark: {table: t, time_zone: Moscow}\n", r"line 1: spark: .*time_zone 'Moscow'"),
    ("spark: {table: t, file_format: xlsx}\n", r"spark.file_format"),
    ("spark: {table: t}\nids: {kind: email}\n", r"ids.kind: plain"),
    ("spark: {table: t}\ncontacts: {format: spark, path: c.csv}\n", r"contacts cannot be read with format: spark"),
])
def test_spark_spec_mistakes_name_the_file_line_and_setting(tmp_path, text, message):
    with pytest.raises(SourceSpecError, match=message):
        read_source_spec(write_spec(tmp_path, text))


def test_spark_block_alone_means_format_spark_and_conf_is_text(tmp_path):
    from rfm_helpers.load import spec_from

    spec = spec_from({"spark": {"table": "sales.orders", "conf": {"spark.x.enabled": True,
                                                                  "spark.executor.cores": 1}}})
    assert spec.format == spec.effective_format() == "spark"
    assert spec.spark.conf_strings() == {"spark.x.enabled": "true", "spark.executor.cores": "1"}
    assert spec.display_name == "sales.orders" and spec.data_label == "Spark table sales.orders"


def test_no_master_anywhere_names_both_settings(pyspark, tmp_path, monkeypatch):
    from pyspark.sql import SparkSession

    if SparkSession.getActiveSession() is not None:
        pytest.skip("a Spark session is running in this process")
    monkeypatch.delenv("RFM_SPARK_MASTER", raising=False)
    spec = write_spec(tmp_path, "spark: {path: none.parquet}\n")
    with pytest.raises(DataValidationError, match=r"src.yaml \(Spark files none.parquet\): no Spark master: "
                                                  r"name it in spark.master .* RFM_SPARK_MASTER"):
        prepare(AS_OF, str(spec), run_dir=str(tmp_path / "r"))


# ------------------------------------------------------------------ a standalone cluster
def free_port() -> int:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_for(log: Path, text: str, proc: subprocess.Popen, seconds: float) -> None:
    end = time.monotonic() + seconds
    while time.monotonic() < end:
        if log.exists() and text in log.read_text(errors="replace"):
            return
        if proc.poll() is not None:
            break
        time.sleep(0.5)
    raise AssertionError(f"{text!r} not in {log.name} after {seconds:.0f} s:\n"
                         + (log.read_text(errors="replace")[-3000:] if log.exists() else "(no log)"))


@pytest.fixture
def standalone_cluster(pyspark, tmp_path):
    """One master and one worker (1 core, 1 GB) started with PySpark's own spark-class, stopped
    afterwards (their process groups)."""
    import sys

    home = Path(pyspark.__file__).parent
    spark_class = home / "bin" / "spark-class"
    if not spark_class.exists():
        pytest.skip("this PySpark has no bin/spark-class to start a standalone cluster")
    port = free_port()
    env = {**os.environ, "SPARK_HOME": str(home), "PYSPARK_PYTHON": sys.executable,
           "SPARK_MASTER_OPTS": "-Dspark.master.rest.enabled=false", "SPARK_LOCAL_IP": "127.0.0.1",
           "SPARK_DAEMON_JAVA_OPTS": "-XX:TieredStopAtLevel=1", "SPARK_DAEMON_MEMORY": "256m",
           "SPARK_WORKER_DIR": str(tmp_path / "work")}
    procs: list[subprocess.Popen] = []
    logs = {name: tmp_path / f"{name}.log" for name in ("master", "worker")}
    try:
        with logs["master"].open("wb") as out:
            procs.append(subprocess.Popen(
                [str(spark_class), "org.apache.spark.deploy.master.Master", "--host", "127.0.0.1", "--port",
                 str(port), "--webui-port", str(free_port())], env=env, stdout=out, stderr=subprocess.STDOUT,
                start_new_session=True))
        wait_for(logs["master"], f"'sparkMaster' on port {port}", procs[0], 90)
        url = f"spark://127.0.0.1:{port}"
        with logs["worker"].open("wb") as out:
            procs.append(subprocess.Popen(
                [str(spark_class), "org.apache.spark.deploy.worker.Worker", url, "--host", "127.0.0.1",
                 "--cores", "1", "--memory", "1g", "--webui-port", str(free_port())], env=env, stdout=out,
                stderr=subprocess.STDOUT, start_new_session=True))
        wait_for(logs["worker"], "Successfully registered with master", procs[1], 90)
        yield url, logs
    finally:
        for p in reversed(procs):
            with_group = os.getpgid(p.pid) if p.poll() is None else None
            if with_group is not None:
                os.killpg(with_group, 15)
        for p in procs:
            try:
                p.wait(timeout=30)
            except subprocess.TimeoutExpired:
                os.killpg(p.pid, 9)
                p.wait()


@pytest.mark.slow
def test_monthly_load_on_a_standalone_cluster(table_dir, standalone_cluster, tmp_path):
    from pyspark.sql import SparkSession

    if SparkSession.getActiveSession() is not None:
        pytest.skip("a Spark session is running in this process")
    url, logs = standalone_cluster
    spec = read_source_spec(table_dir / "with_spark.yaml")
    conf = {**spec.spark.conf, "spark.executor.memory": "512m", "spark.executor.cores": "1",
            "spark.cores.max": "1", "spark.driver.host": "127.0.0.1",
            "spark.executor.extraJavaOptions": "-XX:TieredStopAtLevel=1"}
    spec = spec.model_copy(update={"spark": spec.spark.model_copy(update={"master": url, "conf": conf,
                                                                           "app_name": "rfm-cluster-test"})})
    spec._base_dir, spec._spec_file = table_dir, "with_spark.yaml"
    got = prepare(AS_OF, spec, run_dir=str(tmp_path / "c"))
    assert SparkSession.getActiveSession() is None
    want = prepare(AS_OF, str(table_dir / "as_file.yaml"), run_dir=str(tmp_path / "f"))
    assert_same_run(got, want)
    master_log = logs["master"].read_text(errors="replace")
    assert "Registered app rfm-cluster-test" in master_log       # the cluster ran it, on its worker's executor
    assert "Launching executor" in master_log
    assert "Removing app" in master_log or "unregistered" in master_log.lower()  # and the run let it go


def test_run_manifest_names_the_spark_table_and_says_why_there_is_no_hash(tmp_path):
    from rfm_helpers.params import RunParams
    from rfm_helpers.report.i18n import translator
    from rfm_helpers.report.manifest import data_fingerprint
    from rfm_helpers.report.texts.run import data_text

    spec = write_spec(tmp_path, "format: spark\nspark: {table: shop.sales, master: 'spark://head:7077'}\n")
    d = data_fingerprint(RunParams.for_month("2024-06", source_config=str(spec)))
    assert {k: d[k] for k in ("kind", "format", "table", "sha256", "note")} == \
        {"kind": "spark", "format": "spark", "table": "shop.sales", "sha256": None, "note": "spark_no_file"}
    assert data_text(d, translator("en", "USD")).startswith("Spark source: the table or files are read by the cluster")
    assert data_text(d, translator("ru", "RUB")).startswith("Источник Spark")


def _summary_values(path: Path) -> dict:
    """summary.json's figures (value only), without what names the source or the run."""
    import json

    data = json.loads(path.read_text(encoding="utf-8"))
    out = {}
    for section, items in data.items():
        if not isinstance(items, dict):
            continue
        for key, item in items.items():
            if isinstance(item, dict) and "value" in item and key not in ("source", "generated", "run"):
                out[f"{section}.{key}"] = item["value"]
    return out


@pytest.mark.slow
def test_whole_monthly_report_with_a_spark_source_equals_the_file_run(table_dir, tmp_path, monkeypatch):
    """The monthly run end to end (notebooks 01-05 through the runner) on ``format: spark`` and on
    the same table read as a file: the same summary figures and the same customer files."""
    from rfm_helpers.report.run import run_month

    monkeypatch.setenv("RFM_SPARK_MASTER", "local[1]")  # the kernels' Spark sessions
    # notebooks 01-05: Spark's part ends with the run cache notebook 01 writes; every later notebook
    # reads that cache the same way, and notebook 06 (model fitting, about a minute per run on this
    # table) adds CI time without touching Spark
    notebooks = tmp_path / "notebooks"
    notebooks.mkdir()
    for nb in sorted((Path(__file__).resolve().parents[1] / "notebooks").glob("0[1-5]_*.ipynb")):
        shutil.copy(nb, notebooks / nb.name)
    reports = {}
    for name in ("with_spark", "as_file"):
        reports[name] = tmp_path / name
        run_month("2024-06", reports_dir=reports[name], source_config=str(table_dir / f"{name}.yaml"),
                  notebooks_dir=notebooks, progress=False)
    spark, file = (reports[n] / "2024-06" for n in ("with_spark", "as_file"))
    got, want = _summary_values(spark / "summary.json"), _summary_values(file / "summary.json")
    assert {"headline.customers", "headline.revenue"} <= set(want)
    assert got == want
    files = sorted(p.name for p in (file / "exports").glob("*.csv"))
    assert "rfm_scores.csv" in files and any(f.startswith("mailing_") for f in files)
    assert sorted(p.name for p in (spark / "exports").glob("*.csv")) == files
    for name in files:
        a, b = (spark / "exports" / name).read_bytes(), (file / "exports" / name).read_bytes()
        assert a == b, f"{name} differs between the Spark and the file run"
