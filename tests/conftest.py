"""Shared test setup: quiet glog, CPU mode, and a few small Caffe helpers."""
import os

# Must be set before pycaffe loads glog.
os.environ.setdefault("GLOG_minloglevel", "2")

import pytest  # noqa: E402


@pytest.fixture(scope="session")
def caffe():
    """The real pycaffe, in CPU mode."""
    import caffe as caffe_module
    caffe_module.set_mode_cpu()
    return caffe_module
