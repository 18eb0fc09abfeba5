# Cordon: the two commands of the quick start are `make demo` and `make test`.
PYTHON ?= python3
VENV   := .venv
PY     := $(VENV)/bin/python
STAMP  := $(VENV)/.installed

.PHONY: demo test bench clean

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -e '.[test]'
	touch $(STAMP)

demo: $(STAMP)
	$(PY) -m node.demo

test: $(STAMP)
	$(PY) .ci/browser.py
	$(PY) -m pytest -q

bench: $(STAMP)
	$(PY) bench/import.py

clean:
	rm -rf $(VENV) .demo .pytest_cache .hypothesis test-artifacts
