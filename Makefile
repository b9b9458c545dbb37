# The two commands of the README. Each prepares the machine first (Debian packages, .venv, pinned
# Python packages), then does its job.
VENV := .venv
BIN := $(VENV)/bin

.PHONY: demo test lint bootstrap clean up check-pins

bootstrap:
	@./scripts/bootstrap.sh

demo: bootstrap
	$(BIN)/recast demo --out out

up: bootstrap
	$(BIN)/recast up

test: bootstrap lint
	$(BIN)/pytest

# The pins resolve from PyPI alone (no local wheels, no extra index); CI runs it first.
check-pins:
	@./scripts/check_pins.sh

lint:
	$(BIN)/ruff check --no-cache .
	$(BIN)/ruff format --no-cache --check .
	$(BIN)/mypy

clean:
	rm -rf out .pytest_cache .mypy_cache .ruff_cache
