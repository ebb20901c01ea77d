# The two front-door commands (see README):
#   make report   -> virtual environment + install + monthly report on the bundled CDNOW data
#   make test     -> virtual environment + install + the whole test suite
# Only Python 3.11+ with venv/pip is needed; everything else is installed here.

PYTHON ?= python3
VENV   ?= .venv
PY     := $(VENV)/bin/python
PIP    := $(PY) -m pip --disable-pip-version-check
MONTH  ?= 1998-06
# Lock files: exact versions of every package (see requirements/README.md).
LOCK      := requirements/lock.txt
TEST_LOCK := requirements/lock-test.txt
UV_VERSION ?= 0.13.9

.PHONY: report test install install-test browser calc backfill bench clean messages notebooks lock

$(PY):
	$(PYTHON) -m venv $(VENV)
	$(PIP) install -q --upgrade pip

# Install exactly the locked versions, then the package itself without resolving anything
# (--no-deps); check_lock.py stops first if pyproject.toml gained a dependency the lock lacks.
$(VENV)/.installed-main: pyproject.toml $(LOCK) | $(PY)
	$(PY) requirements/check_lock.py $(LOCK)
	$(PIP) install -q -r $(LOCK)
	$(PIP) install -q --no-deps -e .
	$(PY) -m ipykernel install --sys-prefix --name python3 >/dev/null
	touch $@

$(VENV)/.installed-test: $(VENV)/.installed-main $(TEST_LOCK)
	$(PY) requirements/check_lock.py $(TEST_LOCK) --extras test spark
	$(PIP) install -q -r $(TEST_LOCK)
	touch $@

install: $(VENV)/.installed-main
install-test: $(VENV)/.installed-test

report: install
	$(VENV)/bin/rfm-report run --month $(MONTH)

backfill: install
	$(VENV)/bin/rfm-report run --from 1997-03 --to 1998-06

# Headless Chromium for the browser test (Debian package); skipped where apt is absent.
browser:
	@command -v chromium >/dev/null 2>&1 || { command -v apt-get >/dev/null 2>&1 && \
	  (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null) \
	  || echo "warning: could not install chromium; the browser test will be skipped"; }

# LibreOffice Calc (headless) for the real-client export test; skipped where apt is absent.
calc:
	@command -v soffice >/dev/null 2>&1 || { command -v apt-get >/dev/null 2>&1 && \
	  (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq \
	   libreoffice-calc-nogui >/dev/null) \
	  || echo "warning: could not install LibreOffice Calc; the export test with a real client will be skipped"; }

test: install-test browser calc
	$(PY) -m pytest -n 2 --dist loadfile -q --nbval-lax --nbval-current-env tests notebooks

bench: install-test
	$(PY) benchmarks/bench_rfm.py

# Message catalogs: extract the ids from the code and merge them into every
# rfm_helpers/report/locale/<lang>/LC_MESSAGES/messages.po, then list what needs translating.
messages: install
	$(PY) -m rfm_helpers.report.catalogs update
	$(PY) -m rfm_helpers.report.catalogs check || true
	$(PY) -m rfm_helpers.report.notebooks build

# The notebooks in other languages (notebooks/ru/...), generated from the English notebooks
# and the message catalogs; run after editing a notebook's Markdown (then 'make messages' and
# translate the new paragraphs) or its code.
notebooks: install
	$(PY) -m rfm_helpers.report.notebooks build

# Re-resolve both lock files from pyproject.toml (after adding or changing a dependency).
# uv resolves for Python 3.11 and every platform at once (--universal); versions already
# pinned are kept where they still fit. Commit requirements/*.txt afterwards.
lock: | $(PY)
	$(PIP) install -q "uv==$(UV_VERSION)"
	$(VENV)/bin/uv pip compile -q pyproject.toml --all-extras --universal --python-version 3.11 \
	  --custom-compile-command "make lock" -o $(TEST_LOCK)
	$(VENV)/bin/uv pip compile -q pyproject.toml --universal --python-version 3.11 \
	  --custom-compile-command "make lock" -c $(TEST_LOCK) -o $(LOCK)
	$(PY) requirements/check_lock.py $(LOCK)
	$(PY) requirements/check_lock.py $(TEST_LOCK) --extras test spark

clean:
	rm -rf $(VENV) reports/*/ reports/index.html .pytest_cache
