# ATNet reproduction: the commands a researcher needs.
#   make setup   .venv + a real BVLC Caffe (built once, cached outside the clone)
#   make test    setup if needed, then the test suite
SHELL := /bin/bash
VENV ?= .venv
PY := $(VENV)/bin/python

.PHONY: help setup test bench prototxt clean

help:
	@grep -E '^#   make' Makefile | sed 's/^#   //'

setup:
	@bash setup/setup.sh

test: setup
	$(PY) -m pytest tests

bench: setup
	@for b in bench/bench_*.py; do echo "== $$b"; $(PY) $$b || exit 1; done

clean:
	rm -rf .pytest_cache $(VENV)
