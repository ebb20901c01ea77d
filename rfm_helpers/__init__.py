"""rfm_helpers: the logic behind the RFM segmentation notebooks.

Modules
-------
loading     read CSV / Excel / Parquet / SQL with a column mapping, validate, quarantine
rfm         one SQL definition of recency / frequency / monetary, DuckDB and Spark engines
datasets    the bundled CDNOW sample
display     safe (escaped) narrative, tables and parameters for stakeholder HTML
summary     headline figures a notebook records for the run's summary.json
"""
__version__ = "0.1.0"
