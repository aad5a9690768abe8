# KaizenLap: the two commands are `make run` and `make test` (README.md).
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed-stamp
SAMPLE := data/sample
DATA   ?= $(SAMPLE)

# Nothing may reach beyond 127.0.0.1: stop google-auth probing a cloud metadata server.
export GCE_METADATA_HOST := 127.0.0.1:9
export GCE_METADATA_IP   := 127.0.0.1:9
export PYTHONDONTWRITEBYTECODE := 1

.PHONY: setup run test sample bench clean

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e ".[dev]"
	@touch $(STAMP)

setup: $(STAMP)

$(SAMPLE)/ground_truth.json: | $(STAMP)
	$(BIN)/python run_pipeline.py sample $(SAMPLE)

sample: $(SAMPLE)/ground_truth.json

run: setup sample
	$(BIN)/python run_pipeline.py inspect $(DATA)
	@echo "Outputs: race summaries above; parsed races cached under .kaizenlap/cache/ (JSON: add --json)."

test: setup
	$(BIN)/python -m pytest -q

bench: setup
	$(BIN)/python bench/ingest.py

clean:
	rm -rf .kaizenlap data/sample reports/*/ .pytest_cache
