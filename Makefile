# SafetyForge — `make demo` builds the quickstart benchmark offline; `make test` runs every test.
SHELL := /bin/bash
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed-$(shell sha256sum pyproject.toml | cut -c1-12)
PYTHON ?= python3

.PHONY: help install system-deps test-deps demo test lint format clean label-studio label-studio-install llm-server llm-server-install

help:  ## List the targets
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  make %-14s %s\n", $$1, $$2}'

# pip's output goes to this log; its tail is shown when an install fails.
INSTALL_LOG := $(VENV)/install.log

$(STAMP): pyproject.toml
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	@echo "Installing Python packages into $(VENV) (minutes on a fresh clone; log: $(INSTALL_LOG))"
	@# torch first, pinned: an unpinned torch pulls a multi-GB CUDA build.
	@{ $(BIN)/pip install --upgrade pip \
	  && $(BIN)/pip install torch==2.13.0 \
	  && $(BIN)/pip install -e '.[sd,dev]'; } > $(INSTALL_LOG) 2>&1 \
	  || { tail -n 40 $(INSTALL_LOG); echo "Installing Python packages failed: the full log is $(INSTALL_LOG)" >&2; exit 1; }
	@rm -f $(VENV)/.installed-*
	@touch $(STAMP)
	@echo "Python packages installed."

system-deps:  ## Install fonts and tesseract from Debian where missing
	@bash scripts/install_system_deps.sh

test-deps:  ## Also install chromium (headless test of the Label Studio page)
	@bash scripts/install_system_deps.sh --with-browser

install: $(STAMP) system-deps  ## Create .venv and install everything the project needs

demo: install  ## Build the quickstart benchmark (offline: no API key, GPU or server)
	$(BIN)/safetyforge build --config configs/quickstart.yaml

lint: install  ## ruff check + format check
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

test: install test-deps lint label-studio-install llm-server-install  ## Install, lint and run the whole test suite
	$(BIN)/pytest -q

format: install  ## Apply ruff formatting and safe fixes
	$(BIN)/ruff check --fix .
	$(BIN)/ruff format .

label-studio-install: install  ## Install the Label Studio server (own venv, cached per machine)
	@bash scripts/label_studio.sh install

label-studio: label-studio-install  ## Start Label Studio on 127.0.0.1; prints URL, login, token
	@bash scripts/label_studio.sh serve

llm-server-install: install  ## Install llama-cpp-python (own venv) and the qwen-0.5b model, cached per machine
	@$(BIN)/safetyforge llm install --model qwen-0.5b

llm-server: llm-server-install  ## Start a local OpenAI-compatible LLM server (qwen-0.5b); prints the --set lines
	@$(BIN)/safetyforge llm serve --model qwen-0.5b

clean:  ## Remove build outputs (keeps .venv)
	rm -rf artifacts .pytest_cache .ruff_cache
