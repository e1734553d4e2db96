# The two commands a newcomer needs: `make demo` and `make test`.
# `make demo DEMO_ARGS=--keep-running` keeps the demo up until Ctrl-C.
PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python

.PHONY: demo test bench bench-quick lint clean system

# System programs (Subversion, CVS ...): installed with apt-get as root,
# otherwise one line says what to install.
system:
	@sh tools/ensure-system-packages

$(VENV)/.installed: setup.cfg pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -e '.[server,worker,embedded,test]'
	touch $@

demo: system $(VENV)/.installed
	$(PY) -m codeimport.demo $(DEMO_ARGS)

# Branch coverage of the model, the wire protocol and the service, held
# at 95 % ([coverage:*] in setup.cfg).  coverage starts before pytest, so
# modules the codeimport pytest plugin imports early are measured too.
test: system $(VENV)/.installed
	$(PY) -m coverage run -m pytest
	$(PY) -m coverage report

bench: system $(VENV)/.installed
	$(PY) -m benchmarks

bench-quick: system $(VENV)/.installed
	$(PY) -m benchmarks --quick

lint: $(VENV)/.installed
	$(PY) -m pip install --quiet flake8 isort
	$(VENV)/bin/flake8 src tests benchmarks
	$(VENV)/bin/isort --check-only --diff src tests benchmarks

clean:
	rm -rf $(VENV) build src/*.egg-info
