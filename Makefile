# mmakd: the two commands a newcomer needs, each installing what is missing.
PYTHON ?= python
PYTEST ?= $(PYTHON) -m pytest

.PHONY: install demo demo-quick lint test test-slow benchmark
LINTED = mmakd mmakd_compat tools tests configs setup.py

install:
	bash tools/install.sh

demo: install
	$(PYTHON) tools/akd_demo.py

demo-quick: install
	$(PYTHON) tools/akd_demo.py --quick

lint: install
	$(PYTHON) -m flake8 $(LINTED)
	$(PYTHON) -m isort --check-only --diff $(LINTED)

test: install lint
	$(PYTEST) tests

test-slow: install
	$(PYTEST) tests -m slow

benchmark: install
	$(PYTHON) tools/analysis_tools/benchmark_avatars.py
