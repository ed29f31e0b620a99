# ATNet reproduction: the commands a researcher needs.
#   make setup   .venv + a real BVLC Caffe (built once, cached outside the clone)
#   make test    setup if needed, then the test suite
#   make test-quick  the suite without the tests marked slow (about half the time)
#   make demo    setup if needed, then the whole pipeline on synthetic data (runs/demo)
#   make prototxt  regenerate prototxt/ from atnet/nets.py and atnet/solver.py
#   make baselines [PREPARED=DIR | FEATURES=DIR LABELS=FILE] [BASELINES_OUT=DIR]  LBP-TOP/HOOF rows
#   make bench   speed measurements (bench/)
#   make bench-pytorch  Caffe against PyTorch on the CPU (installs the PyTorch extra; PYTORCH_INDEX=--extra-index-url URL)
#   make bundle  a relocatable tarball of the caffe binary + pycaffe (CAFFE_GPU=1: the CUDA build)
#   make test-docker      build the CPU image, run docker-compose.yml's services on synthetic data with podman, compare with a native run (tests/docker/run.py; root on Debian)
#   make test-docker-gpu  build the CUDA image (Debian + NVIDIA's wheels) and run caffe --version and the foundation tests inside it, CPU mode
SHELL := /bin/bash
VENV ?= .venv
PY := $(VENV)/bin/python

.PHONY: help setup test test-quick demo bench bench-pytorch bundle prototxt baselines clean test-docker test-docker-gpu

help:
	@grep -E '^#   make' Makefile | sed 's/^#   //'

setup:
	@bash setup/setup.sh

# One pytest-xdist worker per core (at most 4: past that the README test, minutes alone, is the
# critical path); whole files per worker, handed out longest first (tests/conftest.py).
test: setup
	$(PY) -m pytest -n auto --maxprocesses 4 --dist loadfile --no-loadscope-reorder tests

test-quick: setup
	$(PY) -m pytest -n auto --maxprocesses 4 --dist loadfile --no-loadscope-reorder -m "not slow" tests

demo: setup
	$(PY) tools/demo.py

prototxt: setup
	$(PY) tools/make_prototxt.py

# The eight LBP-TOP/HOOF configurations, CDE and HDE, extracted from a prepared
# directory, or read from the authors' release-format features with FEATURES=DIR
# (LBPTOP_P4_TIM10 ... HOOF_N8_TIM64, each with Features/) LABELS=Apex_Cropped_images.txt.
PREPARED ?= data/prepared
BASELINES_OUT ?= runs/baselines
baselines: setup
	$(PY) tools/baselines.py --all \
	  $(if $(FEATURES),--features $(FEATURES) --labels $(LABELS),--prepared $(PREPARED)) \
	  --out $(BASELINES_OUT) $(BASELINES_ARGS)

bench: setup
	@for b in bench/bench_*.py; do [ $$b = bench/bench_vs_pytorch.py ] && continue; echo "== $$b"; $(PY) $$b || exit 1; done

# Caffe against PyTorch (CPU) on the same nets and inputs; PyTorch is a benchmark-only extra
# (bench/requirements-pytorch.txt), installed into the venv here, never a product dependency.
bench-pytorch: setup
	$(PY) -m pip install -q -r bench/requirements-pytorch.txt -c requirements.txt $(PYTORCH_INDEX)
	$(PY) bench/bench_vs_pytorch.py

bundle: setup
	@bash setup/setup.sh bundle

# TEST_DOCKER_ARGS: more options of tests/docker/run.py (--help), e.g. --iters 20 --no-suite
test-docker: setup
	$(PY) tests/docker/run.py $(TEST_DOCKER_ARGS)

test-docker-gpu: setup
	$(PY) tests/docker/run.py --gpu-image $(TEST_DOCKER_ARGS)

clean:
	rm -rf .pytest_cache $(VENV)
