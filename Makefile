# mmakd: the two commands a newcomer needs, each installing what is missing.
PYTHON ?= python
PYTEST ?= $(PYTHON) -m pytest

.PHONY: install demo demo-quick lint test test-slow test-onedl test-lowest benchmark
LINTED = mmakd mmakd_compat tools tests configs projects setup.py
# `make test-onedl`: its own environment with the ONEDL forks of OpenMMLab's
# packages (git-ignored, reused when complete).
ONEDL_VENV ?= .venv-onedl
# `make test-lowest`: the lowest versions that requirements/*.txt admit
# (requirements/constraints-lowest.txt), in their own environment.
LOWEST_VENV ?= .venv-lowest

install:
	bash tools/install.sh

# The Digit Scenes demo is a project (projects/digit_scenes), imported from
# the repository root as mmdet's projects are: the root goes on PYTHONPATH.
demo demo-quick: export PYTHONPATH := $(CURDIR)$(if $(PYTHONPATH),:$(PYTHONPATH))

demo: install
	$(PYTHON) projects/digit_scenes/tools/akd_demo.py

demo-quick: install
	$(PYTHON) projects/digit_scenes/tools/akd_demo.py --quick

lint: install
	$(PYTHON) -m flake8 $(LINTED)
	$(PYTHON) -m isort --check-only --diff $(LINTED)

test: install lint
	$(PYTEST) tests

test-slow: install
	$(PYTEST) tests -m slow

test-onedl:
	test -x $(ONEDL_VENV)/bin/python || $(PYTHON) -m venv $(ONEDL_VENV)
	STACK=onedl PYTHON=$(ONEDL_VENV)/bin/python bash tools/install.sh
	$(ONEDL_VENV)/bin/python -m pytest tests

benchmark: install
	$(PYTHON) tools/analysis_tools/benchmark_avatars.py

test-lowest:
	test -x $(LOWEST_VENV)/bin/python || $(PYTHON) -m venv $(LOWEST_VENV)
	CONSTRAINTS=requirements/constraints-lowest.txt PYTHON=$(LOWEST_VENV)/bin/python bash tools/install.sh
	$(LOWEST_VENV)/bin/python -m pytest tests
