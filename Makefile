# mmakd: the two commands a newcomer needs, each installing what is missing.
PYTHON ?= python
PYTEST ?= $(PYTHON) -m pytest

.PHONY: install demo demo-quick test test-slow benchmark

install:
	bash tools/install.sh

demo: install
	$(PYTHON) tools/akd_demo.py

demo-quick: install
	$(PYTHON) tools/akd_demo.py --quick

test: install
	$(PYTEST) tests

test-slow: install
	$(PYTEST) tests -m slow

benchmark: install
	$(PYTHON) tools/analysis_tools/benchmark_avatars.py
