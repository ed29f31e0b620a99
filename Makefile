# ATNet reproduction: the commands a researcher needs.
#   make setup   .venv + a real BVLC Caffe (built once, cached outside the clone)
#   make test    setup if needed, then the test suite
#   make demo    setup if needed, then the whole pipeline on synthetic data (runs/demo)
#   make prototxt  regenerate prototxt/ from atnet/nets.py and atnet/solver.py
#   make baselines PREPARED=DIR OUT=DIR   the eight LBP-TOP/HOOF rows of Tables II and III
#   make bench   speed measurements (bench/)
SHELL := /bin/bash
VENV ?= .venv
PY := $(VENV)/bin/python

.PHONY: help setup test demo bench prototxt baselines clean

help:
	@grep -E '^#   make' Makefile | sed 's/^#   //'

setup:
	@bash setup/setup.sh

test: setup
	$(PY) -m pytest tests

demo: setup
	$(PY) tools/demo.py

prototxt: setup
	$(PY) tools/make_prototxt.py

baselines: setup
	@test -n "$(PREPARED)" -a -n "$(OUT)" || { echo "usage: make baselines PREPARED=prepared-dir OUT=runs-dir" >&2; exit 2; }
	$(PY) tools/baselines.py --all --prepared "$(PREPARED)" --out "$(OUT)"

bench: setup
	@for b in bench/bench_*.py; do echo "== $$b"; $(PY) $$b || exit 1; done

clean:
	rm -rf .pytest_cache $(VENV)
