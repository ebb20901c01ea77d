"""rfm_helpers: the logic behind the RFM segmentation notebooks.

Modules
-------
loading         read CSV / Excel / Parquet / SQL with a column mapping, validate, quarantine
engine          run one SQL text on DuckDB (frames, Arrow, files) or Spark; instrumented fetches
rfm             one SQL definition of recency / frequency / monetary (exact money, calendar
                dates) and quantile scores, run through the engine layer
pipeline        what every notebook does first: parameters -> load -> RFM -> scores
segments        named segment maps (segment_maps.yaml, EN/RU), quantile and threshold methods
clustering      k-means / Gaussian-mixture segmentation and the comparison of methods
exports         mailing lists (CSV with BOM, XLSX) and prioritised call lists
campaign        campaign files, outcomes after sending, the demo campaign generator
abtest          A/B statistics: SRM, conversion, revenue, CUPED, per-segment effects, power, ROI
tracking        monthly segment snapshots, transitions, migration
runner, cli     papermill runs into reports/YYYY-MM, HTML, summary.json, index (rfm-report)
display         safe (escaped) narrative, tables and parameters for stakeholder HTML
summary         headline figures a notebook records for the run's summary.json
insights        headline figures and sentences about the RFM table
plots*          plotting functions (each returns a matplotlib Figure)
datasets        the bundled CDNOW sample
"""
__version__ = "0.1.0"
