"""Tiny notebooks for the runner, fault and browser tests (fast: a kernel each, no data load)."""
from __future__ import annotations

from html.parser import HTMLParser
from pathlib import Path

import nbformat

STANDARD = '''analysis_date = "1998-06-30"   # analysis date (inclusive); "" = last date in the data
source_config = ""             # YAML file describing the data source; "" = bundled CDNOW sample
window_days = 0                # 0 = whole history
language = "en"                # "en" or "ru"
currency = "USD"               # ISO code of the amounts' currency
run_dir = ""                   # set by the runner
'''

PLOT_AND_TABLE = '''import matplotlib
matplotlib.use("module://matplotlib_inline.backend_inline")
import matplotlib.pyplot as plt
import pandas as pd
from rfm_helpers.report import display, summary
channels = pd.DataFrame({"channel": ["web", "<script>alert(1)</script>", "shop & co"], "customers": [120, 45, 9]})
display.table(channels, caption="Customers by channel")
display.say("The biggest channel is <b>{name}</b> with {n} customers.", name=channels.channel[1], n=45)
fig, ax = plt.subplots(figsize=(5, 3))
ax.bar(["web", "phone", "shop"], [120, 45, 9])
ax.set_title("Customers by channel"); ax.set_ylabel("Customers")
plt.show()
summary.record("customers", 174, "Customers")
summary.record("revenue", 12345.678, "Revenue", fmt="money")
'''


def make_notebook(path: Path, title: str, body: list[str], *, parameters: str | None = STANDARD,
                  narrative: str = "What this report shows, in plain words.") -> Path:
    """Write a notebook: markdown title, optional ``parameters`` cell, then ``body`` code cells."""
    nb = nbformat.v4.new_notebook()
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    cells = [nbformat.v4.new_markdown_cell(f"# {title}\n\n{narrative}")]
    if parameters is not None:
        c = nbformat.v4.new_code_cell(parameters)
        c.metadata["tags"] = ["parameters"]
        cells.append(c)
    cells += [nbformat.v4.new_code_cell(src) for src in body]
    nb.cells = cells
    path.parent.mkdir(parents=True, exist_ok=True)
    nbformat.write(nb, path)
    return path


def basic_set(folder: Path) -> Path:
    """Two notebooks: one with a plot, a table and headline figures; one declaring only
    ``analysis_date`` and ``threshold`` (to check that only declared parameters are passed)."""
    make_notebook(folder / "01_overview.ipynb", "Overview of customers", [PLOT_AND_TABLE])
    make_notebook(folder / "02_small.ipynb", "Small check",
                  ["from rfm_helpers.report import display\ndisplay.say('Analysis date is {d}; threshold {t}.', "
                   "d=analysis_date, t=threshold)"],
                  parameters='analysis_date = ""\nthreshold = 1\n')
    return folder


class HtmlCells(HTMLParser):
    """Text of every <td>/<th>, the links and all tags of a page, for assertions on reports."""

    def __init__(self):
        super().__init__()
        self.cells, self.links, self.tags, self._buf, self._in = [], [], [], [], False

    def handle_starttag(self, tag, attrs):
        self.tags.append((tag, dict(attrs)))
        if tag == "a":
            self.links.append(dict(attrs).get("href"))
        if tag in ("td", "th"):
            self._in, self._buf = True, []

    def handle_endtag(self, tag):
        if tag in ("td", "th") and self._in:
            self.cells.append("".join(self._buf).strip())
            self._in = False

    def handle_data(self, data):
        if self._in:
            self._buf.append(data)


def parse_html(text: str) -> HtmlCells:
    """Parse a page into :class:`HtmlCells`."""
    p = HtmlCells()
    p.feed(text)
    return p
