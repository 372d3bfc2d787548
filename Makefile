# The two commands README.md opens with. Each builds .venv by itself on first use.
PYTHON ?= python3
VENV := .venv
export HF_HUB_OFFLINE := 1

.PHONY: demo check test

# geoseg alone (no torch: the demo's spectral model never imports it), then, for the checks and
# tests, the dev extra, which includes the torch one (trained models).
$(VENV)/.installed: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(VENV)/bin/pip install --quiet --upgrade pip
	$(VENV)/bin/pip install --quiet -e .
	touch $@

$(VENV)/.installed-dev: $(VENV)/.installed
	$(VENV)/bin/pip install --quiet -e '.[dev]'
	touch $@

# Run geoseg on the bundled real sample scenes with embedded defaults.
demo: $(VENV)/.installed
	$(VENV)/bin/geoseg process samples/ -o out/ --quicklook

# Formatting and types: ruff's format check, then mypy over geoseg/ (configured in pyproject.toml).
check: $(VENV)/.installed-dev
	$(VENV)/bin/ruff format --check geoseg tests benchmarks models
	$(VENV)/bin/mypy

# The whole test suite (what CI runs), after the checks.
test: check
	$(VENV)/bin/python -m pytest
