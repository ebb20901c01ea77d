# The two front-door commands (see README):
#   make report   -> virtual environment + install + monthly report on the bundled CDNOW data
#   make test     -> virtual environment + install + the whole test suite
# Only Python 3.11+ with venv/pip is needed; everything else is installed here.

PYTHON ?= python3
VENV   ?= .venv
PY     := $(VENV)/bin/python
PIP    := $(PY) -m pip --disable-pip-version-check
MONTH  ?= 1998-06

.PHONY: report test install install-test browser calc backfill bench clean messages

$(VENV)/.installed-main: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(PIP) install -q --upgrade pip
	$(PIP) install -q -e .
	$(PY) -m ipykernel install --sys-prefix --name python3 >/dev/null
	touch $@

$(VENV)/.installed-test: $(VENV)/.installed-main
	$(PIP) install -q -e ".[test]"
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

clean:
	rm -rf $(VENV) reports/*/ reports/index.html .pytest_cache
