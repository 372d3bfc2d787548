# The two commands README.md opens with. Each builds .venv by itself on first use.
PYTHON ?= python3
VENV := .venv
export HF_HUB_OFFLINE := 1

.PHONY: demo test

$(VENV)/.installed: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(VENV)/bin/pip install --quiet --upgrade pip
	$(VENV)/bin/pip install --quiet -e '.[dev]'
	touch $@

# Run geoseg on the bundled real sample scenes with embedded defaults.
demo: $(VENV)/.installed
	$(VENV)/bin/geoseg process samples/ -o out/ --quicklook

# The whole test suite (what CI runs).
test: $(VENV)/.installed
	$(VENV)/bin/python -m pytest
