# The two README commands (`make demo`, `make test`) create .venv when it is missing.
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed

.PHONY: demo test bench lint format clean

$(STAMP): pyproject.toml
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	# compat: the editable install is a plain path entry, not an import hook that costs every
	# artver start ~10 ms (start-up is most of a quick command); plain -e where it is gone.
	$(PY) -m pip install --quiet -e '.[dev]' --config-settings editable_mode=compat 2>/dev/null \
		|| $(PY) -m pip install --quiet -e '.[dev]'
	touch $(STAMP)

demo: $(STAMP)
	PATH="$(CURDIR)/$(VENV)/bin:$$PATH" bash demo/walkthrough.sh

# The browser test (tests/test_plots_browser.py) needs Debian's chromium: installed here when
# missing and possible (root, apt-get), else that test skips (fails under CI=true).
test: $(STAMP)
	bash scripts/ensure-chromium.sh
	$(PY) -m pytest -q -n 2

bench: $(STAMP)
	$(PY) bench/run.py

lint: $(STAMP)
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .

format: $(STAMP)
	$(VENV)/bin/ruff check --fix .
	$(VENV)/bin/ruff format .

clean:
	rm -rf $(VENV) build *.egg-info
