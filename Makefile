# Two commands do all the set-up: `make run` (the whole pipeline) and `make test`.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
export TAGIFAI_HOME ?= $(CURDIR)/.tagifai
export DAGSTER_HOME ?= $(TAGIFAI_HOME)/dagster
REQUIREMENTS := requirements/requirements.txt requirements/dev.txt
JOB ?= end_to_end

.PHONY: run test dev serve lint lock benchmark clean production-up production-down

run: $(VENV)/.installed $(DAGSTER_HOME)/dagster.yaml  ## Run the whole pipeline on the embedded defaults.
	$(BIN)/dagster job execute -m tagifai_platform.definitions -j $(JOB)
	$(BIN)/tagifai status

TEST_WORKERS ?= 2

test: $(VENV)/.installed  ## Run the test suite, on two worker processes (TEST_WORKERS=0: in this one).
	$(BIN)/pytest -n $(TEST_WORKERS)

dev: $(VENV)/.installed $(DAGSTER_HOME)/dagster.yaml  ## Dagster UI and daemon on http://127.0.0.1:3000
	$(BIN)/dagster dev -w workspace.yaml -h 127.0.0.1 -p 3000

serve: $(VENV)/.installed  ## The prediction service on http://127.0.0.1:8000
	$(BIN)/tagifai serve

production-up: $(VENV)/.installed  ## PostgreSQL, Redis, MLflow server, a Celery worker, webserver and daemon under .production/
	$(BIN)/python -m tagifai_platform.production start

production-down:  ## Stop what production-up started (the data stays under .production/).
	$(BIN)/python -m tagifai_platform.production stop

lint: $(VENV)/.installed
	$(BIN)/ruff check tagifai_platform tagifai_platform_tests benchmarks
	$(BIN)/ruff format --check tagifai_platform tagifai_platform_tests benchmarks

benchmark: $(VENV)/.installed $(DAGSTER_HOME)/dagster.yaml  ## Measure the figures in the README.
	$(BIN)/python -m benchmarks.dataops
	$(BIN)/python -m benchmarks.pipeline
	$(BIN)/python -m benchmarks.serving
	$(BIN)/python -m benchmarks.parallel_tuning

lock: $(VENV)/.installed  ## Re-pin the requirements after editing requirements/*.in.
	$(BIN)/uv pip compile --python-version 3.11 --generate-hashes --no-header --no-annotate -o requirements/requirements.txt requirements/requirements.in
	$(BIN)/uv pip compile --python-version 3.11 --generate-hashes --no-header --no-annotate -o requirements/dev.txt requirements/dev.in

$(VENV)/.installed: requirements/bootstrap.txt $(REQUIREMENTS) pyproject.toml setup.py
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --require-hashes -r requirements/bootstrap.txt
	$(BIN)/uv pip install --quiet --compile-bytecode --python $(BIN)/python --require-hashes $(addprefix -r ,$(REQUIREMENTS))
	$(BIN)/uv pip install --quiet --python $(BIN)/python --no-deps -e .
	touch $@

# The instance configuration is copied once: a DAGSTER_HOME you point elsewhere keeps its own.
$(DAGSTER_HOME)/dagster.yaml:
	mkdir -p $(DAGSTER_HOME)
	cp -n dagster.yaml $@

clean:  ## Forget all state: the instance, warehouse, feature store, MLflow and Optuna stores.
	rm -rf $(TAGIFAI_HOME)
