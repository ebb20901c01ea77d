"""rfm_helpers: the logic behind the RFM segmentation notebooks.

Modules
-------
load            strict source spec, readers (CSV, spreadsheets, HTML tables, Parquet, SQL), per-column
                parsing, row rules as one SQL definition, quarantine with reasons (load/bundled: CDNOW)
engine          run one SQL text on DuckDB (frames, Arrow, files) or Spark; instrumented fetches
rfm             one SQL definition of recency / frequency / monetary (exact money, calendar
                dates) and quantile scores, run through the engine layer
pipeline        what every notebook does first: parameters -> load -> RFM -> scores
segments        named segment maps (segment_maps.yaml, EN/RU), quantile and threshold methods
clustering      k-means / Gaussian-mixture segmentation and the comparison of methods
act             export files: mailing and call lists, scores, campaign and migration files
campaigns       the campaigns registry, sending with a control group held out, outcome tables (SQL),
                A/B statistics (SRM, effects, CUPED, interaction, exact tests, power, ROI), verdicts
tracking        monthly segment snapshots, transitions, migration
params          RunParams: the one place run parameters are parsed and checked; month arithmetic
paths           project root, reports folder, run folder, cache folder
redaction       what a secret looks like: refuse, mask, redact
value           forward-looking customer value (BG/NBD, Gamma-Gamma), backtest
report          the report layer: words and formats (i18n, message catalogs), the monthly run
                (run, execute, publish, render, index, manifest, cli = rfm-report), the
                notebooks in each language (notebooks), display (safe HTML), summary
                (headline figures for summary.json), texts/<stage> (sentences, captions, table
                views) and charts/<stage> (matplotlib figures) of every page
insights        headline figures of the RFM table (numbers only)
"""
__version__ = "0.1.0"
