# Two commands do all set-up on a fresh machine with Python 3.11: `make run` and `make test`.
# Each creates .venv when it is missing and installs what it needs (pinned by
# requirements/constraints.txt), so nothing depends on something installed by hand.

PYTHON ?= $(shell command -v python3.11 2>/dev/null || command -v python3)
VENV := .venv
BIN := $(VENV)/bin
CONSTRAINTS := requirements/constraints.txt
RUN_STAMP := $(VENV)/.installed-run
DEV_STAMP := $(VENV)/.installed-dev
BENCH_STAMP := $(VENV)/.installed-bench
# The optional C accelerator (issue 8): an edit to it rebuilds it on the next make.
ACCEL := logd/records/_speedups.c $(wildcard logd/storage/_compact*.[ch])
PYTEST_WORKERS ?= 2
SEEDS ?= 100000
SEED_START ?= 0

.PHONY: run test lint proto records soak bench bench-quick clean venv dev

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip

$(RUN_STAMP): pyproject.toml $(CONSTRAINTS) $(ACCEL) | $(BIN)/python
	$(BIN)/pip install -q -c $(CONSTRAINTS) -e '.[zstd,fast]'
	touch $@

$(DEV_STAMP): pyproject.toml $(CONSTRAINTS) $(ACCEL) | $(BIN)/python
	$(BIN)/pip install -q -c $(CONSTRAINTS) -e '.[dev,zstd,fast]'
	touch $@ $(RUN_STAMP)

$(BENCH_STAMP): pyproject.toml $(CONSTRAINTS) $(ACCEL) | $(BIN)/python
	$(BIN)/pip install -q -c $(CONSTRAINTS) -e '.[dev,zstd,fast,bench]'
	touch $@ $(DEV_STAMP) $(RUN_STAMP)

venv: $(RUN_STAMP)
dev: $(DEV_STAMP)

## run: start one broker in the foreground on 127.0.0.1:7070 with data in ./logd-data
run: $(RUN_STAMP)
	$(BIN)/logd serve $(ARGS)

## test: the default suite (unit, property, simulation, integration, short fault run)
test: $(DEV_STAMP)
	scripts/ensure-tools
	$(BIN)/python -m pytest -n $(PYTEST_WORKERS) --dist worksteal -m "not soak" $(ARGS)

## lint: ruff and mypy (--strict on the pure packages and the client, see pyproject.toml)
lint: $(DEV_STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy logd partitioning replication cli

## records: regenerate logd/groups/records_gen.py from Kafka's schemas under schemas/kafka/
records: $(DEV_STAMP)
	$(BIN)/python -m logd.recordgen

## proto: regenerate the committed protobuf modules under logd/v1/
proto: $(DEV_STAMP)
	$(BIN)/python -m logd.protogen

## soak: long runs (Raft simulator seeds SEED_START..SEED_START+SEEDS-1, long fault runs)
soak: $(DEV_STAMP)
	$(BIN)/python -m pytest -p no:cacheprovider -m soak -s $(ARGS) \
		--seeds=$(SEEDS) --seed-start=$(SEED_START)

## bench: the benchmark suite with peers side by side (QUICK=1 for a few minutes)
bench: $(BENCH_STAMP)
	$(BIN)/python -m bench $(if $(QUICK),--quick,) $(ARGS)
	$(BIN)/python -m bench.scale $(if $(QUICK),--quick,)
	$(BIN)/python -m bench.http_produce $(if $(QUICK),--quick,)
	$(BIN)/python -m bench.avro_decode

bench-quick:
	$(MAKE) bench QUICK=1

clean:
	rm -rf $(VENV) .mypy_cache .ruff_cache .pytest_cache .hypothesis
