# S4 — every target installs what it needs first, so a fresh Debian machine needs only `make`.
SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := .make
DEMO_HOME ?= .demo-home
# The sample scans (samples/scans also holds their ground truth and manifest).
SAMPLE_SCANS = $(wildcard samples/scans/scan_*.pdf samples/scans/scan_*.tif \
	samples/scans/scan_*.jpg samples/scans/scan_*.png)
SYSTEM_PACKAGES := tesseract-ocr tesseract-ocr-eng tesseract-ocr-osd ghostscript unpaper \
	pngquant poppler-utils qpdf fonts-dejavu-core chromium redis-server
# Binaries that prove the system packages are present (skip apt-get when they are).
# chromium: the desk's browser tests drive Debian's build (Playwright never downloads one).
# redis-server: the broker for OCR on several machines; the tests start their own.
SYSTEM_BINARIES := tesseract gs unpaper pngquant pdftoppm qpdf redis-server
SUDO := $(shell [ "$$(id -u)" = 0 ] || echo sudo)

.PHONY: help install system demo test bench evaluate accuracy lint clean

help:
	@echo "make demo   install everything, then run the pipeline on samples/"
	@echo "make test   install everything, then run the test suite"
	@echo "make bench  S4 against plain ocrmypdf on the same pages (speed; CER per paper quality); stack separation"
	@echo "make evaluate  classifier on templates the model never saw (OCRed)"
	@echo "make accuracy  OCR character error rate on samples/"
	@echo "make lint   ruff"

system: $(STAMP)/system
$(STAMP)/system: Makefile
	@mkdir -p $(STAMP)
	@missing=0; for b in $(SYSTEM_BINARIES); do command -v $$b >/dev/null || missing=1; done; \
	[ -f /usr/share/tesseract-ocr/5/tessdata/osd.traineddata ] || missing=1; \
	[ -x /usr/bin/chromium ] || missing=1; \
	if [ $$missing = 1 ]; then \
		echo "Installing system packages: $(SYSTEM_PACKAGES)"; \
		$(SUDO) apt-get update -qq && \
		DEBIAN_FRONTEND=noninteractive $(SUDO) apt-get install -y -qq --no-install-recommends $(SYSTEM_PACKAGES); \
	else echo "System packages present."; fi
	@touch $@

install: system $(STAMP)/venv
$(STAMP)/venv: pyproject.toml setup.py
	@mkdir -p $(STAMP)
	@[ -x $(BIN)/python ] || $(PYTHON) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip
	$(BIN)/pip install -q -e '.[dev]'
	@touch $@

demo: install
	@rm -rf $(DEMO_HOME)
	$(BIN)/s4 --home $(DEMO_HOME) init
	$(BIN)/s4 --home $(DEMO_HOME) run --batch demo-box-001 $(SAMPLE_SCANS)
	$(BIN)/s4 --home $(DEMO_HOME) status
	$(BIN)/s4 --home $(DEMO_HOME) review list
	$(BIN)/python bench/accuracy.py --home $(DEMO_HOME) --manifest samples/scans/manifest.json

test: install
	$(BIN)/ruff check s4 tests samples bench
	OMP_THREAD_LIMIT=1 $(BIN)/python -m pytest -q -ra

bench: install
	$(BIN)/python bench/bench.py
	$(BIN)/python bench/profile_pages.py
	$(BIN)/python bench/quality.py
	OMP_THREAD_LIMIT=1 $(BIN)/python bench/separation.py --documents 30
	$(BIN)/python bench/desk.py
	$(BIN)/python bench/celery_bench.py

evaluate: install
	$(BIN)/python bench/classify_holdout.py

accuracy: install
	@rm -rf .bench/accuracy-home
	$(BIN)/s4 --home .bench/accuracy-home init >/dev/null
	$(BIN)/s4 --home .bench/accuracy-home run --batch accuracy $(SAMPLE_SCANS) || true
	$(BIN)/python bench/accuracy.py --home .bench/accuracy-home

lint: install
	$(BIN)/ruff check s4 tests samples bench

clean:
	rm -rf $(VENV) $(STAMP) $(DEMO_HOME) .bench build *.egg-info
