"""The export files at scale (issue 12): the mailing lists written from one materialized table
are byte for byte the files of the per-segment writer they replace, and the size policy
(gzip-compressed CSV files above a row limit, no workbook above a row limit) is applied,
recorded and said, never silent. Tiny limits keep these tests fast."""
from __future__ import annotations

import gzip
import json
import zlib

import numpy as np
import pandas as pd
import pytest

from rfm_helpers import act
from rfm_helpers.act import mailing as M
from rfm_helpers.act.files import _key_warnings, write_csv
from rfm_helpers.act.writer import GZIP_ROWS, GZIP_ROWS_ENV, WORKBOOK_ROWS, WORKBOOK_ROWS_ENV
from rfm_helpers.engine import DuckDBEngine
from rfm_helpers.report.texts.act import call_list_note, export_notes, export_words, size_policy_note
from rfm_helpers.rfm import score_quantiles
from rfm_helpers.segments import assign_segments

NASTY_IDS = ["00001", "0000000000000000123", "ЦБ-000123", "1E5", "+79161234567", "-5", "=1+2", "@SUM(1;2)",
             'a"b;c,d', " 7 "]
TESTS = [{"customer_id": "TEST-1", "email": "qa@example.com"}, {"customer_id": "=TEST", "email": "@qa@example.com"}]


def assigned(language="en", n=300, seed=1):
    rng = np.random.default_rng(seed)
    freq = rng.geometric(0.4, n)
    tenure = rng.integers(0, 700, n)
    rec = np.minimum(tenure, rng.integers(0, 700, n))
    cid = [f"{i:05d}" for i in range(n)]
    cid[: len(NASTY_IDS)] = NASTY_IDS
    df = pd.DataFrame({"customer_id": pd.array(cid, dtype="string"), "recency_days": rec.astype("int64"),
                       "frequency": freq.astype("int64"), "monetary": np.round(freq * rng.gamma(2.0, 25.0, n), 2),
                       "tenure_days": tenure.astype("int64")})
    df.loc[3:8, "monetary"] = 42.0  # ties: the order falls back to the id
    as_of = pd.Timestamp("2024-12-31")
    df["first_purchase"] = as_of - pd.to_timedelta(df["tenure_days"], unit="D")
    df["last_purchase"] = as_of - pd.to_timedelta(df["recency_days"], unit="D")
    return assign_segments(score_quantiles(df), "classic", language)


def writer(folder, language="en", **kw):
    return act.ExportWriter(folder, language, export_words(language), source_name="shop.csv",
                            as_of=pd.Timestamp("2024-12-31").date(), **kw)


def reference_lists(folder, a, language, tests, contacts):
    """The lists as main's writer wrote them (one query per segment over the ``customers`` view,
    rows counted and key values checked per file): file -> (bytes, warnings)."""
    ex = writer(folder, language, gzip_rows=0)
    seg = M.segment_texts("classic", language)
    t = M.load_test_recipients(tests)
    if contacts is not None:
        contacts, _ = M.prepare_contacts(contacts, "US")
    if len(t):
        t, _ = M.prepare_contacts(t, "US")
        t = t.astype("string")
    base, columns, frames = M.list_inputs("mailing_<segment>.csv", a, seg, contacts, t)
    out = {}
    with M.list_engine(frames) as con:
        extra = [c for c in columns if c.key not in {b.key for b in base}]
        con.execute(f"CREATE TEMP VIEW customers AS {M.customer_sql(M.columns_of(con), contacts, extra)}")
        for s in seg.itertuples():
            sql = f"SELECT * FROM customers WHERE segment = '{s.segment}'"
            if not con.execute(f"SELECT count(*) FROM ({sql})").fetchone()[0]:
                continue
            if len(t):
                sql = (f"{sql} UNION ALL BY NAME SELECT *, '{s.segment}' AS segment, "
                       f"{M.sql_literal(s.segment_label)} AS segment_label, {M.sql_literal(s.suggested_offer)} AS "
                       f"suggested_offer, {M.sql_literal(s.recommended_channel)} AS recommended_channel, 1 AS is_test FROM tests")
            sql = f"SELECT * FROM ({sql}) AS l ORDER BY is_test, monetary DESC NULLS LAST, customer_id"
            name = f"mailing_{s.segment}.csv"
            rec = write_csv(con, sql, columns, folder / name, ex.dialect)
            assert rec.warnings == _key_warnings(con, sql, columns, name)
            out[name] = ((folder / name).read_bytes(), rec.warnings, rec.rows)
    return out


@pytest.mark.parametrize("language", ["en", "ru"])
@pytest.mark.parametrize("through_engine", [False, True])
def test_lists_byte_identical_to_the_per_segment_writer(tmp_path, language, through_engine):
    a = assigned(language)
    ids = a["customer_id"].tolist()
    contacts = pd.DataFrame({"customer_id": ids, "email": [f"c{i}@example.com" for i in range(len(ids))],
                             "name": ["=cmd"] + ["Ann"] * (len(ids) - 1)})
    ref = reference_lists(tmp_path / "ref", a, language, TESTS, contacts)
    ex = writer(tmp_path / "new", language)
    if through_engine:  # the notebook's path: the segmented customers are a view of the run's engine
        eng = DuckDBEngine(threads=2)
        eng.con.register("seg_customers", a)
        man = act.write_mailing_lists(ex, "seg_customers", "classic", test_recipients=TESTS, contacts=contacts,
                                      engine=eng)
        # the engine is left as it was: no scratch names, its thread setting kept
        left = {r[0] for r in eng.con.execute("SELECT table_name FROM duckdb_tables() UNION ALL "
                                              "SELECT view_name FROM duckdb_views() WHERE NOT internal").fetchall()}
        assert not left & set(M.SCRATCH_NAMES)
        assert eng.con.execute("SELECT current_setting('threads')").fetchone()[0] == 2
    else:
        man = act.write_mailing_lists(ex, a, test_recipients=TESTS, contacts=contacts)
    assert sorted(man["csv_file"]) == sorted(ref)
    warned = {}
    for r in ex.records:
        warned.setdefault(r.file, []).extend(r.warnings)
    for name, (data, warnings, rows) in ref.items():
        assert (tmp_path / "new" / name).read_bytes() == data, name
        assert warned[name] == warnings, name
        assert int(man.loc[man["csv_file"] == name, "customers"].iloc[0]) + len(TESTS) == rows
    assert any(w["code"] == "formula_like_keys" for ws in warned.values() for w in ws)  # the nasty ids were seen


def test_lists_compressed_together_above_the_limit(tmp_path):
    a = assigned()
    plain = writer(tmp_path / "plain", gzip_rows=0)
    act.write_mailing_lists(plain, a, test_recipients=TESTS, formats=("csv",))
    ex = writer(tmp_path / "gz", gzip_rows=len(a))  # every list is smaller, all together are larger
    man = act.write_mailing_lists(ex, a, test_recipients=TESTS, formats=("csv",))
    assert man["csv_file"].str.endswith(".csv.gz").all()
    for f in man["csv_file"]:
        raw = (tmp_path / "gz" / f).read_bytes()
        d = zlib.decompressobj(31)
        body = d.decompress(raw)
        assert d.eof and d.unused_data == b""  # one gzip member: every unpacker reads it whole
        assert body == (tmp_path / "plain" / f.removesuffix(".gz")).read_bytes()
        back = pd.read_csv(tmp_path / "gz" / f, encoding="utf-8-sig", dtype={"customer_id": "string"},
                           keep_default_na=False, na_values=[""])
        assert len(back) == int(man.loc[man["csv_file"] == f, "customers"].iloc[0]) + len(TESTS)
    notes = export_notes(ex.warnings, "en")
    assert any("gzip" in n and "RFM_EXPORT_GZIP_ROWS" in n and man["csv_file"].iloc[0] in n for n in notes)
    listing = json.loads((tmp_path / "gz" / ".files.json").read_text())
    assert set(man["csv_file"]) <= set(listing["files"]) and listing["policy"]["gzip_rows"] == len(a)
    readme = (tmp_path / "gz" / "README.txt").read_text()
    assert man["csv_file"].iloc[0] in readme and "RFM_EXPORT_GZIP_ROWS" in readme
    # the same folder written again without compression: no stale .gz beside the new .csv
    again = writer(tmp_path / "gz", gzip_rows=0)
    man2 = act.write_mailing_lists(again, a, test_recipients=TESTS, formats=("csv",))
    assert not list((tmp_path / "gz").glob("*.gz"))
    listing = json.loads((tmp_path / "gz" / ".files.json").read_text())
    assert not [f for f in listing["files"] if f.endswith(".gz")] and set(man2["csv_file"]) <= set(listing["files"])


def test_per_file_limit_for_scores_and_call_list(tmp_path):
    a = assigned()
    ex = writer(tmp_path, gzip_rows=100)
    rec = act.write_scores(ex, a)
    assert rec.file == "rfm_scores.csv.gz" and rec.rows == len(a)
    assert any(w["code"] == "csv_gzipped" for w in rec.warnings)
    back = pd.read_csv(tmp_path / rec.file, dtype={"customer_id": "string"}, keep_default_na=False, na_values=[""])
    assert back["customer_id"].tolist() == a["customer_id"].tolist()
    calls = act.write_call_list(ex, a, max_rows=20)  # 20 rows: under the limit
    assert calls["csv_file"] == "call_list.csv" and calls["xlsx_file"] == "call_list.xlsx"
    assert (tmp_path / "call_list.csv").exists()


def test_workbook_skipped_above_its_limit_and_said(tmp_path):
    a = assigned()
    (tmp_path / "mailing_lists.xlsx").write_bytes(b"stale workbook of an earlier run")
    ex = writer(tmp_path, workbook_rows=len(a) - 1)
    man = act.write_mailing_lists(ex, a)
    assert not (tmp_path / "mailing_lists.xlsx").exists()
    assert (man["xlsx_sheet"] == "").all() and (man["csv_file"] != "").all()
    note = [w for w in ex.warnings if w["code"] == "workbook_skipped"]
    assert note and note[0]["rows"] == len(a) and note[0]["csv_files"] == man["csv_file"].tolist()
    for language in ("en", "ru"):
        text = " ".join(export_notes(ex.warnings, language))
        assert "mailing_lists.xlsx" in text and "RFM_EXPORT_WORKBOOK_ROWS=0" in text and man["csv_file"].iloc[0] in text
    readme = (tmp_path / "README.txt").read_text()
    assert "mailing_lists.xlsx" in readme and "RFM_EXPORT_WORKBOOK_ROWS" in readme
    assert "mailing_lists.xlsx" in json.loads((tmp_path / ".files.json").read_text())["skipped"]
    # the call list's workbook under the limit is written; above it, the sentence names the CSV only
    calls = act.write_call_list(ex, a, max_rows=10)
    assert calls["xlsx_file"] == "call_list.xlsx"
    few = writer(tmp_path / "few", workbook_rows=5)
    calls = act.write_call_list(few, a, max_rows=10)
    assert calls["xlsx_file"] == "" and "xlsx" not in call_list_note(calls, "en")
    # the limit off (0): written, and the skipped note leaves README
    ex0 = writer(tmp_path, workbook_rows=0)
    man0 = act.write_mailing_lists(ex0, a)
    assert (tmp_path / "mailing_lists.xlsx").exists() and (man0["xlsx_sheet"] != "").all()
    assert "mailing_lists.xlsx" not in json.loads((tmp_path / ".files.json").read_text())["skipped"]


def test_limits_from_the_environment_and_checked(tmp_path, monkeypatch):
    assert (writer(tmp_path).gzip_rows, writer(tmp_path).workbook_rows) == (GZIP_ROWS, WORKBOOK_ROWS)
    monkeypatch.setenv(GZIP_ROWS_ENV, "5_000")
    monkeypatch.setenv(WORKBOOK_ROWS_ENV, "0")
    ex = writer(tmp_path)
    assert (ex.gzip_rows, ex.workbook_rows) == (5000, 0)
    for language in ("en", "ru"):
        note = size_policy_note(ex, language)
        assert "RFM_EXPORT_GZIP_ROWS" in note and "RFM_EXPORT_WORKBOOK_ROWS" in note
    monkeypatch.setenv(GZIP_ROWS_ENV, "lots")
    with pytest.raises(ValueError, match=GZIP_ROWS_ENV):
        writer(tmp_path)
    with pytest.raises(ValueError, match="at least 0"):
        writer(tmp_path, gzip_rows=-1, workbook_rows=1)


def test_compressed_write_fails_cleanly(tmp_path):
    """An engine error while writing through the pipe raises (no hang) and leaves no file."""
    import duckdb

    con = duckdb.connect()
    ex = writer(tmp_path, gzip_rows=1)
    with pytest.raises(duckdb.Error):
        write_csv(con, "SELECT * FROM no_such_table", act.SCHEMAS["rfm_scores.csv"], tmp_path / "x.csv.gz",
                  ex.dialect, compress=True)
    assert not list(tmp_path.glob("*x.csv*"))
    con.execute("CREATE TABLE t AS SELECT CAST(range AS VARCHAR) AS customer_id FROM range(3)")
    rec = write_csv(con, "SELECT * FROM t", [act.Column("customer_id", "id")], tmp_path / "ok.csv.gz", ex.dialect,
                    compress=True)
    assert rec.rows == 3 and gzip.decompress((tmp_path / "ok.csv.gz").read_bytes()) == \
        b'\xef\xbb\xbf"customer_id"\n"0"\n"1"\n"2"\n'


def test_segmented_table_gives_the_same_files_and_is_dropped(tmp_path):
    """Notebook 03 stores the segmented view once for the lists and the call list."""
    a = assigned()
    eng = DuckDBEngine()
    eng.con.register("seg_frame", a)
    eng.con.execute("CREATE TEMP VIEW seg_view AS SELECT * FROM seg_frame")
    direct = writer(tmp_path / "direct")
    m1 = act.write_mailing_lists(direct, "seg_view", "classic", test_recipients=TESTS, engine=eng, formats=("csv",))
    c1 = act.write_call_list(direct, "seg_view", "classic", max_rows=25, engine=eng, formats=("csv",))
    stored = writer(tmp_path / "stored")
    with act.segmented_table(eng, "seg_view") as name:
        m2 = act.write_mailing_lists(stored, name, "classic", test_recipients=TESTS, engine=eng, formats=("csv",))
        c2 = act.write_call_list(stored, name, "classic", max_rows=25, engine=eng, formats=("csv",))
    assert m1.equals(m2) and c1 == c2
    for f in [*m1["csv_file"], c1["csv_file"]]:
        assert (tmp_path / "direct" / f).read_bytes() == (tmp_path / "stored" / f).read_bytes(), f
    assert not eng.con.execute("SELECT count(*) FROM duckdb_tables() WHERE table_name = 'act_segmented'").fetchone()[0]


def test_a_file_written_twice_by_one_writer_is_listed_once_with_its_rows(tmp_path):
    a = assigned()
    ex = writer(tmp_path, gzip_rows=0, workbook_rows=0)
    act.write_mailing_lists(ex, a)
    act.write_mailing_lists(ex, a)  # again: the same files, each listed with its own rows once
    listing = json.loads((tmp_path / ".files.json").read_text())["files"]
    assert listing["mailing_lists.xlsx"]["rows"] == len(a)
    assert sum(v["rows"] for k, v in listing.items() if k.startswith("mailing_") and k.endswith(".csv")) == len(a)
    files = [r.file for r in ex.records]
    assert len(files) == len(set(files))
