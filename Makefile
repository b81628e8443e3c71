# The two commands of the README: `make quickstart` and `make test` (both set up first).
VENV ?= .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.fivefold-setup

.PHONY: setup quickstart test lint

$(STAMP): pyproject.toml scripts/setup.sh
	bash scripts/setup.sh
	touch $(STAMP)

setup: $(STAMP)

quickstart: $(STAMP)
	$(VENV)/bin/fivefold run examples/quickstart.toml

test: $(STAMP)
	$(VENV)/bin/ruff check src tests benchmarks
	$(VENV)/bin/ruff format --check src tests benchmarks
	$(VENV)/bin/mypy --strict src/
	$(VENV)/bin/pytest -q -m "not slow"; s=$$?; \
	if [ $$s -eq 5 ]; then echo "pytest collected no tests"; exit 0; fi; exit $$s

lint: $(STAMP)
	$(VENV)/bin/ruff check src tests benchmarks
	$(VENV)/bin/ruff format --check src tests benchmarks
	$(VENV)/bin/mypy --strict src/
