# The README's two commands: `make demo` and `make test`. Both create .venv
# and install the package into it first (once; again when setup.cfg changes).
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed

.PHONY: demo test install clean-venv

demo: $(STAMP)
	$(PY) -m eval.demo $(ARGS)

# The suite runs in TEST_WORKERS processes (pytest-xdist), a test file per
# worker at a time (session fixtures are made once per worker), the longest
# files first (tests/conftest.py: LONGEST_FILES; --no-loadscope-reorder keeps
# that order instead of xdist's by number of tests).
TEST_WORKERS ?= 2

# First the type checker over the annotated modules ([mypy] in setup.cfg;
# a few seconds, under a second with its cache .mypy_cache/).
test: $(STAMP)
	sh scripts/system_deps.sh test
	$(PY) -m mypy
	$(PY) -m pytest -q -n $(TEST_WORKERS) --dist=loadfile --no-loadscope-reorder $(ARGS)

install: $(STAMP)

$(STAMP): setup.cfg setup.py
	@$(PYTHON) -c 'import sys; assert sys.version_info >= (3, 10), "neuralsynth needs Python >= 3.10"'
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q -e '.[test]'
	touch $(STAMP)

clean-venv:
	rm -rf $(VENV)
