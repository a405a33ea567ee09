# Two commands for a fresh Debian machine with python3 and git:
#   make demo   - install into .venv and scan the bundled samples
#   make test   - install into .venv (and the Debian tools the tests drive) and run every test
# and for development:
#   make lint       - the plugin import contract, ruff, mypy (core and provcheck.formats), no new Any in the API
#   make test-fast  - the tests that download nothing (under a minute); `slow` ones need real data
#   make fuzz       - every fuzz target of tests/fuzz for FUZZ_SECONDS each (the suite runs them for 3 s, CI 30 s)
VENV    ?= .venv
PY      := $(VENV)/bin/python
STAMP   := $(VENV)/.installed

.PHONY: demo test test-fast lint fuzz system-deps bench clean

FUZZ_SECONDS ?= 600

$(STAMP): pyproject.toml $(wildcard samples/*/pyproject.toml)
	python3 -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q -e '.[test]'
	touch $@

demo: $(STAMP)
	$(PY) samples/demo.py

system-deps:
	@bash scripts/system-deps.sh

test: $(STAMP) system-deps
	$(PY) -m pytest -n 2 -q $(PYTEST_ARGS)

test-fast: $(STAMP) system-deps
	PROVCHECK_TESTS_OFFLINE=1 $(PY) -m pytest -n 2 -q -m "not slow" $(PYTEST_ARGS)

lint: $(STAMP)
	$(PY) scripts/check_imports.py
	$(PY) -m ruff check src plugins tests scripts samples benchmarks
	$(PY) -m mypy
	$(PY) scripts/check_api_types.py

fuzz: $(STAMP) system-deps
	PROVCHECK_FUZZ_SECONDS=$(FUZZ_SECONDS) $(PY) -m pytest -p no:xdist -q tests/fuzz

bench: $(STAMP) system-deps
	$(PY) benchmarks/unpack_image.py

clean:
	rm -rf $(VENV) .cache
