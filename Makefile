# hyperlib: one command opens the course, one runs every test.
#   make lab      set up (first time only), then start JupyterLab on notebooks/ at localhost
#   make test     set up (first time only), then run the unit tests and every notebook at smoke scale
#   make execute  re-run every notebook in place, top to bottom, each in a fresh kernel
#   make student  copies of the notebooks without solutions or outputs, in student/ (to hand out)
#   make site     the notebooks as a static HTML site with a contents page, in site/
# The environment is a plain `venv` in .venv, made on first use and reused after, by
# setup_course.py (which also works without make). TORCH_INDEX=URL: torch from that index first.

PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
HYPERLIB_SCALE ?= classroom
NOTEBOOKS := $(sort $(wildcard notebooks/[0-9][0-9]_*.ipynb))

.PHONY: setup lab test execute student site lint bench clean

setup: $(STAMP)

$(STAMP): requirements.txt pyproject.toml setup_course.py
	$(PYTHON) setup_course.py $(if $(TORCH_INDEX),--torch-index $(TORCH_INDEX))
	touch $(STAMP)

# JupyterLab refuses to run as root unless told to (containers, cloud machines)
AS_ROOT := $(if $(filter 0,$(shell id -u)),--allow-root)

lab: setup
	$(BIN)/jupyter lab --ip=127.0.0.1 --ServerApp.root_dir=notebooks $(AS_ROOT)

# The browser test (tests/test_browser.py) drives Debian's Chromium; Playwright never downloads one.
CHROMIUM := /usr/bin/chromium
SUDO := $(if $(filter 0,$(shell id -u)),,sudo)

$(CHROMIUM):
	$(SUDO) apt-get update -qq
	$(SUDO) env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends \
		chromium chromium-driver

test: setup $(CHROMIUM)
	HYPERLIB_SCALE=smoke $(BIN)/python -m pytest

execute: setup
	HYPERLIB_SCALE=$(HYPERLIB_SCALE) $(BIN)/jupyter nbconvert --to notebook --execute --inplace \
		--ExecutePreprocessor.kernel_name=python3 --ExecutePreprocessor.timeout=-1 \
		--ExecutePreprocessor.record_timing=False $(NOTEBOOKS)

student: setup
	rm -rf student
	$(BIN)/python -m hyperlib.classroom student --out student

site: setup
	rm -rf site
	$(BIN)/python -m hyperlib.classroom site --out site

lint: setup
	$(BIN)/ruff check .

bench: setup
	$(BIN)/python -m hyperlib.bench

clean:
	rm -rf $(VENV) data/cache *.egg-info student site
