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

# Branch coverage of the model and the XML-RPC packages, reported and
# held at 95 %.
COVERAGE := --cov=codeimport.model --cov=codeimport.xmlrpc --cov-branch \
	--cov-report=term:skip-covered --cov-fail-under=95

test: system $(VENV)/.installed
	$(PY) -m pytest $(COVERAGE)

bench: system $(VENV)/.installed
	$(PY) -m benchmarks

bench-quick: system $(VENV)/.installed
	$(PY) -m benchmarks --quick

lint: $(VENV)/.installed
	$(PY) -m pip install --quiet flake8 isort
	$(VENV)/bin/flake8 src tests benchmarks

clean:
	rm -rf $(VENV) build src/*.egg-info
