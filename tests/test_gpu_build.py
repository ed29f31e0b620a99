"""The CUDA build of Caffe (`CAFFE_GPU=1 make setup`, docs/gpu.md) and the
relocatable bundles of both builds (`setup/setup.sh bundle`).

The CUDA build is not part of `make setup`: its checks are skipped, with the
reason, when it is not in the cache. They need no GPU. The bundle checks run
on the CPU build too, so the bundler is tested wherever patchelf is installed.
"""
import os
import re
import shutil
import subprocess
import sys

import pytest

from gpu_support import SETUP, cached_build, setup_env, setup_shell

#: Loaded from the system, never bundled (setup/bundle.sh's SYSTEM_LIBS).
SYSTEM_LIBS = re.compile(r"^(linux-vdso|ld-linux.*|libc|libm|libmvec|libdl|libpthread|librt|libutil|"
                         r"libresolv|libanl|libnsl|libcuda)\.so")
#: An environment with nothing that could lead the loader to libraries outside the bundle.
BARE_ENV = {"PATH": "/usr/bin:/bin", "GLOG_logtostderr": "1"}


@pytest.fixture(scope="module")
def gpu_prefix():
    return cached_build(gpu=True)


def _arch_numbers(text):
    """'86(80) 90' -> ['86', '90']: the real architectures of a CUDA_ARCH_BIN value."""
    return re.findall(r"(\d+)(?:\(\d+\))?", text)


def test_libcaffe_holds_code_for_the_configured_architectures(gpu_prefix):
    cuobjdump = setup_shell("cuda_tool cuobjdump", gpu=True).stdout.strip() or shutil.which("cuobjdump")
    if not cuobjdump:
        pytest.skip("no cuobjdump in the CUDA toolkit or the wheels of setup/cuda-wheels.txt")
    arch_bin, arch_ptx = setup_shell('echo "$CUDA_ARCH_BIN"; echo "$CUDA_ARCH_PTX"', gpu=True).stdout.splitlines()
    library = os.path.realpath(os.path.join(gpu_prefix, "lib", "libcaffe.so"))

    def listed(kind):
        out = subprocess.run([cuobjdump, "--list-" + kind, library], capture_output=True, text=True, check=True)
        counts = {}
        for arch in re.findall(r"\.(sm_\d+)\.%s$" % ("cubin" if kind == "elf" else "ptx"), out.stdout, re.M):
            counts[arch] = counts.get(arch, 0) + 1
        return counts

    cubins, ptx = listed("elf"), listed("ptx")
    assert set(cubins) == {"sm_" + a for a in _arch_numbers(arch_bin)}, cubins
    assert set(ptx) == {"sm_" + a for a in _arch_numbers(arch_ptx)}, ptx
    # Every .cu file with kernels (63 at 99bd997) is compiled once for each architecture.
    assert len(set(cubins.values()) | set(ptx.values())) == 1 and min(cubins.values()) >= 50, (cubins, ptx)


def test_cuda_build_is_keyed_apart_from_the_cpu_build():
    """Both builds live side by side in the cache: the CUDA options and patches change the key."""
    cpu = setup_shell("caffe_prefix", gpu=False)
    gpu = setup_shell("check_cuda_options && caffe_prefix", gpu=True)
    if gpu.returncode != 0:
        pytest.skip("no CUDA toolkit here: %s" % gpu.stderr.strip().splitlines()[-1])
    cpu_dir, gpu_dir = os.path.basename(cpu.stdout.strip()), os.path.basename(gpu.stdout.strip())
    assert cpu_dir.startswith("cpu-") and gpu_dir.startswith("gpu-") and cpu_dir[4:] != gpu_dir[4:]
    other_arch = setup_shell("CUDA_ARCH_BIN=86 caffe_prefix", gpu=True).stdout.strip()
    assert os.path.basename(other_arch) != gpu_dir


def test_bad_cuda_settings_are_refused(tmp_path):
    run = setup_shell("CUDA_ARCH_BIN='sm_80' check_cuda_options", gpu=True)
    assert run.returncode != 0 and "CUDA_ARCH_BIN='sm_80'" in run.stderr
    env = dict(setup_env(gpu=True), CAFFE_GPU="yes", ATNET_CACHE_DIR=str(tmp_path))
    run = subprocess.run(["bash", SETUP, "caffe"], env=env, capture_output=True, text=True)
    assert run.returncode != 0 and "CAFFE_GPU=yes" in run.stderr
    assert not os.listdir(tmp_path)


# --- the bundle -------------------------------------------------------------------------

@pytest.fixture(scope="module", params=["cpu", "gpu"])
def bundle(request, tmp_path_factory):
    """The build's bundle (made by `setup.sh bundle`, cached), unpacked into an empty directory."""
    gpu = request.param == "gpu"
    cached_build(gpu)
    if not shutil.which("patchelf"):
        pytest.skip("patchelf is not installed (`setup/setup.sh bundle` installs it with apt)")
    run = subprocess.run(["bash", SETUP, "bundle"], env=setup_env(gpu), capture_output=True, text=True)
    assert run.returncode == 0, run.stderr[-3000:]
    tarball = run.stdout.strip().splitlines()[-1]
    target = tmp_path_factory.mktemp("unpacked-" + request.param)
    assert not os.listdir(target)
    subprocess.run(["tar", "-xzf", tarball, "-C", str(target)], check=True)
    (top,) = os.listdir(target)
    return request.param, os.path.join(target, top)


def _ldd(path):
    """{soname: resolved path} of an ELF file, as the loader resolves it with a bare environment."""
    out = subprocess.run(["ldd", path], env=BARE_ENV, capture_output=True, text=True, check=True).stdout
    return dict(re.findall(r"^\s*(\S+) => (.+?) \(0x", out, re.M) +
                re.findall(r"^\s*(\S+) => (not found)", out, re.M))


def test_bundle_loads_only_its_own_libraries(bundle):
    _, root = bundle
    for elf in ("bin/caffe", "python/caffe/_caffe.so"):
        resolved = _ldd(os.path.join(root, elf))
        assert "libcaffe.so.1.0.0" in resolved
        outside = {name: path for name, path in resolved.items()
                   if not SYSTEM_LIBS.match(name) and not path.startswith(root + os.sep)}
        assert not outside, "%s loads libraries from outside the bundle: %s" % (elf, outside)


def test_bundled_caffe_runs_from_anywhere(bundle, tmp_path):
    kind, root = bundle
    caffe = os.path.join(root, "bin", "caffe")
    version = subprocess.run([caffe, "--version"], cwd=tmp_path, env=BARE_ENV, capture_output=True, text=True)
    assert version.returncode == 0 and "caffe version 1.0.0" in version.stdout + version.stderr
    query = subprocess.run([caffe, "device_query", "-gpu", "0"], cwd=tmp_path, env=BARE_ENV,
                           capture_output=True, text=True, timeout=120)
    output = query.stdout + query.stderr
    assert "error while loading shared libraries" not in output
    if kind == "cpu":
        assert query.returncode != 0 and "CPU-only Caffe" in output
    elif query.returncode == 0:  # a GPU and its driver are here
        assert "Total global memory" in output and "Clock rate" in output
    else:  # the CUDA runtime ran and found no usable device or driver
        assert "Check failed: error == cudaSuccess" in output, output[-2000:]


def test_bundled_pycaffe_imports_with_the_same_python(bundle, tmp_path):
    _, root = bundle
    with open(os.path.join(root, "MANIFEST.txt")) as handle:
        wanted = re.search(r"^pycaffe: Python (\d+\.\d+)", handle.read(), re.M).group(1)
    if wanted != "%d.%d" % sys.version_info[:2]:
        pytest.skip("the bundle's pycaffe is for Python %s" % wanted)
    probe = ("import caffe\n"
             "print(caffe.__file__)\n"
             "print([l.split()[-1] for l in open('/proc/self/maps') if 'libcaffe.so' in l][0])\n"
             "print(' '.join(sorted(caffe.layer_type_list())))\n")
    run = subprocess.run([os.path.join(root, "caffe-env"), sys.executable, "-c", probe], cwd=tmp_path,
                         env=dict(BARE_ENV, GLOG_minloglevel="2"), capture_output=True, text=True)
    assert run.returncode == 0, run.stderr[-2000:]
    module, library, layers = run.stdout.splitlines()
    assert module.startswith(root + os.sep) and library.startswith(root + os.sep)
    assert {"LSTM", "Reduction", "Tile", "Data"} <= set(layers.split())
