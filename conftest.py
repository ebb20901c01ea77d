"""pytest settings for the whole checkout.

nbval executes the English report notebooks (``notebooks/NN_*.ipynb``); the generated
translations in ``notebooks/<lang>/`` are the same code with translated Markdown and are
executed by the Russian end-to-end run (``tests/test_e2e_report.py``) instead, so the suite
does not run every notebook twice under nbval.
"""
collect_ignore_glob = ["notebooks/*/*.ipynb"]
