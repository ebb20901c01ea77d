"""Drive the real JupyterLab of this environment in the system Chromium (Playwright).

Used by ``tests/test_jupyterlab.py`` (every notebook, English and Russian, run as an analyst runs
it) and by ``tests/screenshots.py`` (``make screenshots``: the README's pictures).

* :class:`LabServer` starts ``jupyter lab`` on loopback with a random token, in a *scratch
  project*: a temporary folder holding a copy of the notebooks, ``pyproject.toml`` and a link to
  the package, so ``rfm_helpers.paths.project_root()`` is that folder, interactive runs write
  into its ``reports/_interactive/`` and JupyterLab's saves never touch the checkout. JupyterLab's
  own settings and workspaces also live there (no news pop-up, no autosave, every cell attached
  to the page so every output can be read).
* :class:`Lab` opens a notebook, runs all cells (JupyterLab's own *Run All* command, exposed to
  the page by ``--LabApp.expose_app_in_browser``), waits until the kernel is idle and every cell
  has run, and reads what the page shows: each output's text, whether maths was typeset in it
  (``mjx-container``/``.MathJax`` elements), error outputs.

Playwright drives ``/usr/bin/chromium`` (``executable_path``); it never downloads a browser.
"""
from __future__ import annotations

import contextlib
import json
import os
import shutil
import socket
import subprocess
import sys
import time
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path
from typing import Iterator

REPO = Path(__file__).resolve().parent.parent
TOKEN = "rfm-lab-test"
CHROMIUM_NAMES = ("chromium", "chromium-browser", "google-chrome", "google-chrome-stable")

#: JupyterLab settings of the scratch project (user settings folder): no news or update
#: checks (no network), no autosave (the analyst's file is what the test reads), every cell
#: attached to the page (virtual scrolling would leave outputs out of the DOM).
LAB_SETTINGS = {
    "@jupyterlab/apputils-extension/notification.jupyterlab-settings": {"fetchNews": "false",
                                                                       "checkForUpdates": False},
    "@jupyterlab/docmanager-extension/plugin.jupyterlab-settings": {"autosave": False},
    "@jupyterlab/notebook-extension/tracker.jupyterlab-settings": {"windowingMode": "none"},
    "@jupyterlab/apputils-extension/themes.jupyterlab-settings": {"theme": "JupyterLab Light"},
}


def chromium() -> str | None:
    """The system Chromium, or ``None``."""
    for name in CHROMIUM_NAMES:
        path = shutil.which(name)
        if path:
            return path
    return None


def playwright_missing() -> str:
    """Why the browser tests cannot run here ("" when they can)."""
    try:
        import playwright.sync_api  # noqa: F401
    except ImportError:
        return "the Python package playwright is not installed (make install-test)"
    if chromium() is None:
        return "Chromium is not installed (Debian: apt-get install chromium; `make browser` does it)"
    return ""


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def make_scratch_project(root: Path, checkout: Path = REPO) -> Path:
    """A project folder JupyterLab can serve: ``notebooks/`` of ``checkout`` copied (with
    ``ru/``), a copy of its ``pyproject.toml`` and a link to its package (what
    ``project_root()`` looks for). ``checkout`` other than this one (an exported older commit,
    to compare with) is imported by the kernels through ``PYTHONPATH``."""
    root.mkdir(parents=True, exist_ok=True)
    checkout = Path(checkout)
    shutil.copytree(checkout / "notebooks", root / "notebooks", dirs_exist_ok=True,
                    ignore=shutil.ignore_patterns(".ipynb_checkpoints"))
    shutil.copy2(checkout / "pyproject.toml", root / "pyproject.toml")
    link = root / "rfm_helpers"
    if not link.exists():
        link.symlink_to(checkout / "rfm_helpers", target_is_directory=True)
    return root


class LabServer:
    """``jupyter lab`` on 127.0.0.1 serving ``root`` (stopped by :meth:`stop`)."""

    def __init__(self, root: Path, env: dict[str, str] | None = None):
        self.root = Path(root)
        self.port = _free_port()
        settings = self.root / ".lab-settings"
        for name, values in LAB_SETTINGS.items():
            path = settings / name
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(json.dumps(values), encoding="utf-8")
        run_env = {k: v for k, v in os.environ.items() if not k.startswith(("RFM_RUN_DIR", "JPY_"))}
        run_env.update({"JUPYTERLAB_SETTINGS_DIR": str(settings),
                        "JUPYTERLAB_WORKSPACES_DIR": str(self.root / ".lab-workspaces"),
                        "JUPYTER_RUNTIME_DIR": str(self.root / ".lab-runtime"),
                        "MPLBACKEND": "module://matplotlib_inline.backend_inline"})
        if (self.root / "rfm_helpers").resolve() != (REPO / "rfm_helpers").resolve():
            run_env["PYTHONPATH"] = str(self.root)  # before the editable install's finder
        run_env.update(env or {})
        jupyter = Path(sys.executable).with_name("jupyter")
        self.log = (self.root / ".lab-server.log").open("wb")
        self.proc = subprocess.Popen(
            [str(jupyter), "lab", "--no-browser", "--ip=127.0.0.1", f"--port={self.port}",
             f"--IdentityProvider.token={TOKEN}", "--allow-root", "--LabApp.extension_manager=readonly",
             f"--ServerApp.root_dir={self.root}",
             "--ServerApp.open_browser=False", "--LabApp.expose_app_in_browser=True",
             "--LabApp.news_url=", "--ServerApp.disable_check_xsrf=False",
             "--LanguageServerManager.autodetect=False"],
            cwd=self.root, env=run_env, stdout=self.log, stderr=subprocess.STDOUT)
        self._wait_ready()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def _wait_ready(self, timeout: float = 60) -> None:
        end = time.monotonic() + timeout
        while time.monotonic() < end:
            if self.proc.poll() is not None:
                raise RuntimeError(f"jupyter lab exited: {self.log_text()[-2000:]}")
            try:
                with urllib.request.urlopen(f"{self.url}/api/status?token={TOKEN}", timeout=2) as r:
                    if r.status == 200:
                        return
            except OSError:
                time.sleep(0.3)
        raise RuntimeError(f"jupyter lab did not answer in {timeout:.0f} s: {self.log_text()[-2000:]}")

    def log_text(self) -> str:
        self.log.flush()
        return (self.root / ".lab-server.log").read_text(encoding="utf-8", errors="replace")

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(timeout=10)
        self.log.close()


# JavaScript run in the page ------------------------------------------------------------------

_JS_STATE = """() => {
  const app = window.jupyterapp;
  const w = app && app.shell.currentWidget;
  if (!w || !w.content || !w.sessionContext) return null;
  const s = w.sessionContext.session;
  const k = s && s.kernel;
  const cells = w.content.widgets.filter(c => c.model.type === 'code');
  return {
    ready: !!k && w.context.isReady,
    kernel: k ? k.status : 'none',
    cells: cells.length,
    ran: cells.filter(c => c.model.executionCount !== null).length,
    busy: cells.filter(c => (c.promptNode && c.promptNode.textContent || '').includes('*')).length,
  };
}"""

_JS_OUTPUTS = """() => {
  const w = window.jupyterapp.shell.currentWidget;
  const out = [];
  w.content.widgets.forEach((cell, index) => {
    if (cell.model.type !== 'code') return;
    const area = cell.node.querySelector('.jp-OutputArea');
    const children = area ? area.querySelectorAll(':scope > .jp-OutputArea-child') : [];
    const model = cell.model.outputs;
    for (let k = 0; k < model.length; k++) {
      const child = children[k];
      const node = child && child.querySelector('.jp-OutputArea-output');
      const data = model.get(k).data || {};
      let source = null;
      if (typeof data['text/html'] === 'string') {  // the output's own text, never typeset
        const d = document.createElement('div');
        d.innerHTML = data['text/html'];
        d.querySelectorAll('script, style').forEach(e => e.remove());
        source = d.textContent;
      }
      out.push({
        cell: index, output: k, kind: model.get(k).type,
        mime: node ? (node.getAttribute('data-mime-type') || '') : '',
        maths: node ? node.querySelectorAll('mjx-container, .MathJax, .MathJax_Display, .MathJax_Preview').length : 0,
        tables: node ? node.querySelectorAll('table').length : 0,
        images: node ? node.querySelectorAll('img').length : 0,
        text: node ? node.innerText : '',
        shown: node ? node.textContent : '',
        source: source,
      });
    }
  });
  return out;
}"""

_JS_MARKDOWN = """() => {
  const w = window.jupyterapp.shell.currentWidget;
  const out = [];
  w.content.widgets.forEach((cell, index) => {
    if (cell.model.type !== 'markdown') return;
    const node = cell.node.querySelector('.jp-MarkdownOutput');
    out.push({
      cell: index,
      rendered: !!node && cell.rendered,
      headings: node ? Array.from(node.querySelectorAll('h1, h2, h3, h4')).map(h => h.textContent.replace(/\u00b6$/, '').trim()) : [],
      maths: node ? node.querySelectorAll('mjx-container, .MathJax, .MathJax_Display, .MathJax_Preview').length : 0,
      text: node ? node.innerText : '',
    });
  });
  return out;
}"""

_JS_HAS_ERROR = """() => {
  const w = window.jupyterapp.shell.currentWidget;
  return w.content.widgets.some(c => c.model.type === 'code' &&
    Array.from({length: c.model.outputs.length}, (_, k) => c.model.outputs.get(k).type).includes('error'));
}"""


@dataclass
class Output:
    """One rendered output as the page shows it."""

    cell: int
    output: int
    kind: str
    mime: str
    maths: int
    text: str
    tables: int = 0
    images: int = 0
    shown: str = ""  #: the page's text of the output (textContent)
    source: str | None = None  #: the text of the output's HTML itself (None: not an HTML output)

    @property
    def altered(self) -> bool:
        """Whether the page shows other text than the output's HTML holds (maths typeset, ...)."""
        if self.maths:
            return True
        if self.source is None:
            return False
        squash = lambda s: "".join(s.split())  # noqa: E731
        return squash(self.shown) != squash(self.source)


@dataclass
class Markdown:
    """One Markdown cell as the page shows it."""

    cell: int
    rendered: bool
    headings: list[str]
    maths: int
    text: str


@dataclass
class NotebookRun:
    """What one notebook showed after Run All."""

    path: str
    seconds: float
    outputs: list[Output] = field(default_factory=list)
    markdown: list[Markdown] = field(default_factory=list)

    @property
    def headings(self) -> list[str]:
        return [h for m in self.markdown for h in m.headings]

    @property
    def altered(self) -> list[Output]:
        """Outputs the page shows altered: maths typeset in them (text between two ``$`` turned
        into formulas) or their text otherwise not the output's own."""
        return [o for o in self.outputs if o.altered]

    @property
    def errors(self) -> list[Output]:
        return [o for o in self.outputs if o.kind == "error"]

    def text(self) -> str:
        return "\n".join(o.text for o in self.outputs)


class Lab:
    """A Chromium page on a :class:`LabServer`."""

    def __init__(self, server: LabServer, width: int = 1400, height: int = 1000):
        from playwright.sync_api import sync_playwright

        self.server = server
        self._pw = sync_playwright().start()
        self.browser = self._pw.chromium.launch(
            executable_path=chromium(), headless=True,
            args=["--no-sandbox", "--disable-gpu", "--no-first-run", "--disable-background-networking",
                  "--disable-component-update", "--disable-sync", "--disable-dev-shm-usage"])
        self.context = self.browser.new_context(viewport={"width": width, "height": height})
        self.page = self.context.new_page()

    def close(self) -> None:
        with contextlib.suppress(Exception):
            self.context.close()
        with contextlib.suppress(Exception):
            self.browser.close()
        with contextlib.suppress(Exception):
            self._pw.stop()

    def open(self, relpath: str, timeout: float = 90) -> None:
        """Open ``relpath`` (relative to the served folder) and wait for its kernel."""
        url = f"{self.server.url}/lab/tree/{relpath}?token={TOKEN}&reset"
        self.page.goto(url, wait_until="domcontentloaded", timeout=timeout * 1000)
        self._wait(lambda s: s and s["ready"] and s["kernel"] == "idle", timeout, f"kernel of {relpath}")

    def _state(self) -> dict | None:
        return self.page.evaluate(_JS_STATE)

    def _wait(self, ok, timeout: float, what: str) -> dict:
        end = time.monotonic() + timeout
        state = None
        while time.monotonic() < end:
            with contextlib.suppress(Exception):
                state = self._state()
                if ok(state):
                    return state
            time.sleep(0.25)
        raise TimeoutError(f"{what}: not ready after {timeout:.0f} s (last state {state})")

    def run_all(self, relpath: str, timeout: float = 240) -> NotebookRun:
        """Open ``relpath``, run every cell with JupyterLab's Run All, and read the outputs."""
        self.open(relpath)
        t0 = time.monotonic()
        self.page.evaluate("() => window.jupyterapp.commands.execute('notebook:run-all-cells')")

        def done(s):
            return s and s["kernel"] == "idle" and s["busy"] == 0 and s["ran"] > 0 and (
                s["ran"] == s["cells"] or self._has_error())
        self._wait(done, timeout, f"Run All of {relpath}")
        time.sleep(0.5)  # the last output's typesetting (MathJax runs asynchronously)
        self._wait(done, 30, f"Run All of {relpath}")
        outputs = [Output(**o) for o in self.page.evaluate(_JS_OUTPUTS)]
        markdown = [Markdown(**m) for m in self.page.evaluate(_JS_MARKDOWN)]
        return NotebookRun(relpath, time.monotonic() - t0, outputs, markdown)

    def _has_error(self) -> bool:
        return bool(self.page.evaluate(_JS_HAS_ERROR))

    def save(self) -> None:
        """Save the open notebook as JupyterLab saves it (File > Save)."""
        self.page.evaluate("() => window.jupyterapp.commands.execute('docmanager:save')")
        self._wait(lambda s: s is not None and not self.page.evaluate(
            "() => window.jupyterapp.shell.currentWidget.context.model.dirty"), 30, "save")

    def scroll_to_output(self, cell: int) -> None:
        self.page.evaluate("(i) => { const w = window.jupyterapp.shell.currentWidget;"
                           " w.content.widgets[i].node.scrollIntoView({block: 'start'}); }", cell)
        time.sleep(0.3)

    def screenshot(self, path: Path, full_page: bool = False) -> Path:
        path.parent.mkdir(parents=True, exist_ok=True)
        self.page.screenshot(path=str(path), full_page=full_page)
        return path

    def close_all(self) -> None:
        """Shut the notebook's kernel down and close every document without saving."""
        with contextlib.suppress(Exception):
            self.page.evaluate("() => window.jupyterapp.shell.currentWidget.sessionContext.shutdown()")
            time.sleep(0.5)
        with contextlib.suppress(Exception):
            self.page.evaluate("() => window.jupyterapp.commands.execute('application:close-all')")
            time.sleep(0.3)
            # 'Discard' in an unsaved-changes dialog
            for _ in range(10):
                btn = self.page.query_selector(".jp-Dialog .jp-mod-warn, .jp-Dialog button.jp-mod-accept")
                if not btn:
                    break
                btn.click()
                time.sleep(0.2)


@contextlib.contextmanager
def lab_session(root: Path, env: dict[str, str] | None = None, checkout: Path = REPO) -> Iterator[Lab]:
    """A scratch project at ``root`` (from ``checkout``), its JupyterLab server and a browser
    page, closed after."""
    make_scratch_project(root, checkout)
    server = LabServer(root, env)
    lab = None
    try:
        lab = Lab(server)
        yield lab
    finally:
        if lab is not None:
            lab.close()
        server.stop()
