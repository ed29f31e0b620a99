"""Shared test setup: quiet glog, CPU mode, and a few small Caffe helpers; the order of the
test files for `make test`'s parallel run (pytest-xdist, one worker per core)."""
import os

# Must be set before pycaffe loads glog.
os.environ.setdefault("GLOG_minloglevel", "2")

# Under pytest-xdist every core already runs a worker: one BLAS thread per worker (and so per
# tool process a test starts, unless the test sets its own), not a spinning thread per core in
# each of them. A test that sets OPENBLAS_NUM_THREADS / OMP_NUM_THREADS for its processes keeps its value.
if os.environ.get("PYTEST_XDIST_WORKER"):
    for _name in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS"):
        os.environ.setdefault(_name, "1")

import pytest  # noqa: E402

#: The longest test files, longest first (measured on 2 cores). `make test` hands whole files to
#: the workers (--dist loadfile, --no-loadscope-reorder) in collection order, so these start first
#: and the many short files fill the other worker meanwhile, instead of a long file starting last
#: and running alone at the end. Files not listed keep pytest's order, after these.
LONGEST_FIRST = (
    "test_readme.py",
    "test_slurm_cluster.py",
    "test_faults.py",
    "test_integrity_resume.py",
    "test_macro_pretrain.py",
)


def pytest_collection_modifyitems(session, config, items):
    """Longest files first (LONGEST_FIRST), and in each file its slow tests first, so the
    README's native sequence (minutes) starts at once; otherwise the collected order."""
    rank = {name: position for position, name in enumerate(LONGEST_FIRST)}
    position = {id(item): index for index, item in enumerate(items)}
    first_of_file = {}
    for index, item in enumerate(items):
        first_of_file.setdefault(item.path, index)

    def key(item):
        return (rank.get(item.path.name, len(rank)), first_of_file[item.path],
                item.get_closest_marker("slow") is None, position[id(item)])

    items.sort(key=key)


@pytest.fixture(scope="session")
def caffe():
    """The real pycaffe, in CPU mode."""
    import caffe as caffe_module
    caffe_module.set_mode_cpu()
    return caffe_module
