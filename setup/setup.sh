#!/usr/bin/env bash
# make setup: a virtual environment with the pinned Python packages and a real
# BVLC Caffe (libcaffe, pycaffe, the `caffe` binary) built from source.
#
# The Caffe build is cached OUTSIDE the clone, keyed by source checksum, patches,
# build options and the Python/NumPy versions, so a fresh clone reuses it. It is
# compiled in a scratch directory, installed into a staging directory and
# published with one rename: a killed build is never taken for a good one.
#
# Environment:
#   CAFFE_ROOT=DIR        use an existing Caffe build (DIR/python/caffe importable,
#                         a caffe binary in DIR/build/tools or DIR/bin); build nothing
#   CAFFE_SRC=FILE        build from this BVLC Caffe tarball instead of Debian's source
#   CAFFE_SHA256=HEX      expected sha256 of the source tarball (default: Debian's orig)
#   ATNET_CACHE_DIR=DIR   build cache (default: $XDG_CACHE_HOME/atnet or ~/.cache/atnet)
#   PYTHON=EXE            interpreter for .venv (default: python3)
#   JOBS=N                parallel compile jobs (default: nproc)
#   CAFFE_CPU_OPT=1       the faster CPU build (docs/cpu_speed.md): OpenMP, Debian's
#                         OpenMP OpenBLAS (libopenblas0-openmp) and the patches in
#                         setup/patches/cpu-speed/, cached under its own key;
#                         0 (default): the stock BVLC build, its key unchanged
#   CAFFE_UNITY=1         (default) compile a CPU build's C++ files 16 to a translation
#                         unit (CMake's unity build): about half the build time, and
#                         the same arithmetic bit for bit (docs/cpu_speed.md);
#                         0: file by file, as Caffe's own build. Part of the key.
#
# The CUDA build (docs/gpu.md), cached beside the CPU one under its own key:
#   CAFFE_GPU=1           build Caffe with CUDA (cuDNN off) instead of CPU_ONLY
#   CUDA_ARCH_BIN="80 90" GPU architectures to compile machine code (SASS) for
#   CUDA_ARCH_PTX="90"    architectures whose PTX is embedded (JIT-compiled on newer GPUs)
#   CUDA_HOME=DIR         the CUDA toolkit (default: /usr/local/cuda, else nvcc's on PATH)
#
# Usage: setup/setup.sh [all|deps|venv|build|caffe|source|bundle [OUT.tar.gz]]
set -euo pipefail

REPO=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
VENV=${VENV:-$REPO/.venv}
PYTHON=${PYTHON:-python3}
APT_ETC=${APT_ETC:-/etc/apt}
CACHE=${ATNET_CACHE_DIR:-${XDG_CACHE_HOME:-$HOME/.cache}/atnet}
JOBS=${JOBS:-$(nproc)}

# BVLC Caffe master at 99bd997 (2018-08-21), as packaged by Debian 11.
DEBIAN_SOURCE_VERSION=1.0.0+git20180821.99bd997-8
ORIG_TARBALL=caffe_1.0.0+git20180821.99bd997.orig.tar.gz
ORIG_SHA256=e0eb3f06794f7402c77b7dec8e8480273ee1a1bb192e9122b621a69d4147ad0c
CAFFE_SHA256=${CAFFE_SHA256:-$ORIG_SHA256}

CAFFE_GPU=${CAFFE_GPU:-0}
CAFFE_CPU_OPT=${CAFFE_CPU_OPT:-0}
CAFFE_UNITY=${CAFFE_UNITY:-1}
UNITY_BATCH_SIZE=16
CUDA_ARCH_BIN=${CUDA_ARCH_BIN:-80 90}
CUDA_ARCH_PTX=${CUDA_ARCH_PTX:-90}
# cuBLAS, cuRAND and cuobjdump for a toolkit that lacks them (see cuda_libraries_dir).
CUDA_WHEELS=$REPO/setup/cuda-wheels.txt

BUILD_DEPS=(cmake make g++ patch libboost-filesystem-dev libboost-system-dev
  libboost-thread-dev libboost-python-dev libgflags-dev libgoogle-glog-dev
  libhdf5-dev liblmdb-dev libopenblas-dev libprotobuf-dev protobuf-compiler
  libsnappy-dev python3-dev patchelf)

step() { printf '==> %s\n' "$*" >&2; }
die() { printf 'setup: error: %s\n' "$*" >&2; exit 1; }
now() { date +%s; }

sha256_of() { sha256sum "$1" | cut -d' ' -f1; }

# --- Python environment -----------------------------------------------------

setup_venv() {
  local stamp="$VENV/.requirements.sha256" want
  if [ ! -x "$VENV/bin/python" ]; then
    step "creating $VENV from $(command -v "$PYTHON")"
    "$PYTHON" -m venv "$VENV" || die "could not create a venv with $PYTHON (install python3-venv)"
  fi
  want=$(cat "$REPO/requirements.txt" | sha256sum | cut -d' ' -f1)
  if [ "$(cat "$stamp" 2>/dev/null)" != "$want" ]; then
    step "installing pinned Python packages (requirements.txt)"
    # a venv made before the switch to the contrib wheel would keep both OpenCV wheels, which break each other
    "$VENV/bin/python" -m pip uninstall -y -qq opencv-python-headless 2>/dev/null || true
    "$VENV/bin/python" -m pip install --disable-pip-version-check -qq -r "$REPO/requirements.txt" \
      || die "pip install -r requirements.txt failed"
    echo "$want" > "$stamp"
  else
    step "Python packages up to date"
  fi
}

site_packages() { "$VENV/bin/python" -c 'import sysconfig; print(sysconfig.get_paths()["purelib"])'; }

# Make `import caffe` work from any directory, install atnet (editable) into the
# venv so `import atnet` does too, and put the
# caffe binary on the venv's PATH.
link_caffe() {
  local pydir=$1 bin=$2 sp
  sp=$(site_packages)
  printf '%s\n' "$pydir" > "$sp/bvlc_caffe.pth"
  rm -f "$sp/atnet_repo.pth"   # earlier setups imported atnet through this file
  "$VENV/bin/python" -m pip install --disable-pip-version-check -qq --no-deps --no-build-isolation -e "$REPO" \
    || die "pip install -e $REPO failed"
  ln -sfn "$bin" "$VENV/bin/caffe.real"
  rm -f "$VENV/bin/caffe" && install -m 0755 "$REPO/setup/caffe-wrapper.sh" "$VENV/bin/caffe"
  (cd / && "$VENV/bin/python" -c 'import caffe, atnet' 2>&1) \
    || die "pycaffe at $pydir does not import (see the error above)"
  step "caffe: python $pydir, binary $bin"
}

# --- Caffe from an existing build ---------------------------------------------

use_caffe_root() {
  local bin
  [ -f "$CAFFE_ROOT/python/caffe/__init__.py" ] || die "CAFFE_ROOT=$CAFFE_ROOT has no python/caffe (build pycaffe first)"
  for bin in "$CAFFE_ROOT/build/tools/caffe" "$CAFFE_ROOT/build/tools/caffe.bin" "$CAFFE_ROOT/bin/caffe" ""; do
    [ -n "$bin" ] && [ -x "$bin" ] && break
  done
  [ -n "$bin" ] || die "CAFFE_ROOT=$CAFFE_ROOT has no caffe binary in build/tools or bin"
  step "using the existing Caffe at CAFFE_ROOT=$CAFFE_ROOT (nothing is built)"
  link_caffe "$CAFFE_ROOT/python" "$bin"
}

# --- Caffe from source ------------------------------------------------------------

cmake_options() {
  local numpy_inc
  numpy_inc=$("$VENV/bin/python" -c 'import numpy; print(numpy.get_include())')
  if gpu_build; then gpu_cmake_options "$(cuda_home)"; else echo -DCPU_ONLY=ON; fi
  printf '%s\n' -DUSE_OPENCV=OFF -DUSE_LEVELDB=OFF -DUSE_LMDB=ON \
    -DBLAS=Open -Dpython_version=3 -DBUILD_docs=OFF -DBUILD_matlab=OFF \
    -DCMAKE_BUILD_TYPE=Release \
    "-DPYTHON_EXECUTABLE=$VENV/bin/python" "-DNUMPY_INCLUDE_DIR=$numpy_inc"
  if cpu_opt_build; then cpu_opt_cmake_options; fi
  if unity_build; then printf '%s\n' -DCMAKE_UNITY_BUILD=ON "-DCMAKE_UNITY_BUILD_BATCH_SIZE=$UNITY_BATCH_SIZE"; fi
}

# Most of a file's compile time is parsing the same headers (caffe.pb.h, Boost,
# glog); a unity build parses them once per 16 files. CPU builds only: the
# CUDA build (nvcc, not unity-compiled anyway) keeps the options it was checked with.
unity_build() {
  case "$CAFFE_UNITY" in
    0) return 1 ;;
    1) ! gpu_build ;;
    *) die "CAFFE_UNITY=$CAFFE_UNITY: expected 1 (unity build, the default) or 0 (file by file)" ;;
  esac
}

# The patches every build applies, then (CUDA builds only) setup/patches/cuda/.
patch_files() {
  printf '%s\n' "$REPO"/setup/patches/*.patch
  if gpu_build; then printf '%s\n' "$REPO"/setup/patches/cuda/*.patch; fi
  if cpu_opt_build; then printf '%s\n' "$REPO"/setup/patches/cpu-speed/*.patch; fi
}

# Everything the binary depends on, minus machine paths; cache_key hashes it
# and each build keeps a copy (build-info.txt).
cache_inputs() {
  local patches
  mapfile -t patches < <(patch_files)
  echo "source $CAFFE_SHA256"
  cat "${patches[@]}"
  cmake_options | grep -v -e '^-DPYTHON_EXECUTABLE' -e '^-DNUMPY_INCLUDE_DIR' \
    -e '^-DCUDA_TOOLKIT_ROOT_DIR' -e '^-DCMAKE_LIBRARY_PATH' -e '-isystem'
  "$VENV/bin/python" -c 'import sys, numpy; print(sys.version, numpy.__version__)'
  if gpu_build; then cuda_versions; fi
}

# The cache key names everything the binary depends on.
cache_key() {
  cache_inputs | sha256sum | cut -c1-16
}

# The cached build for the current options: $CACHE/caffe/{cpu,gpu}-<key>.
caffe_prefix() {
  echo "$CACHE/caffe/$(build_variant)-$(cache_key)"
}

# --- The faster CPU build (CAFFE_CPU_OPT=1, docs/cpu_speed.md) -------------------------

cpu_opt_build() {
  case "$CAFFE_CPU_OPT" in
    0|"") return 1 ;;
    1) gpu_build && die "CAFFE_CPU_OPT=1 is a CPU build: unset CAFFE_GPU or CAFFE_CPU_OPT"; return 0 ;;
    *) die "CAFFE_CPU_OPT=$CAFFE_CPU_OPT: expected 0 (stock build) or 1 (the faster CPU build)" ;;
  esac
}

# Debian's OpenMP build of OpenBLAS: it runs a GEMM called from inside an
# OpenMP region on the calling thread, so the patched layers can put the
# images of a batch on OpenMP's threads. Linked by its own directory, which
# lands in libcaffe's RUNPATH: the machine's default libopenblas.so.0 (the
# pthreads one) is left as it is.
CPU_OPT_DEPS=(libopenblas-openmp-dev)
cpu_opt_blas_dir() { echo "/usr/lib/$(gcc -print-multiarch)/openblas-openmp"; }

cpu_opt_cmake_options() {
  local multiarch
  multiarch=$(gcc -print-multiarch)
  printf '%s\n' -DUSE_OPENMP=ON "-DOpenBLAS_LIB=$(cpu_opt_blas_dir)/libopenblas.so" \
    "-DOpenBLAS_INCLUDE_DIR=/usr/include/$multiarch/openblas-openmp"
}

# --- CUDA (CAFFE_GPU=1) -------------------------------------------------------------

gpu_build() {
  case "$CAFFE_GPU" in
    0|"") return 1 ;;
    1) return 0 ;;
    *) die "CAFFE_GPU=$CAFFE_GPU: expected 0 (CPU build) or 1 (CUDA build)" ;;
  esac
}

build_variant() { if gpu_build; then echo gpu; else echo cpu; fi; }

# The toolkit whose nvcc compiles Caffe: CUDA_HOME, else /usr/local/cuda, else
# the one around the nvcc on PATH.
cuda_home() {
  local home=${CUDA_HOME:-}
  if [ -z "$home" ]; then
    if [ -x /usr/local/cuda/bin/nvcc ]; then home=/usr/local/cuda
    elif command -v nvcc >/dev/null; then home=$(dirname "$(dirname "$(readlink -f "$(command -v nvcc)")")")
    fi
  fi
  [ -n "$home" ] && [ -x "$home/bin/nvcc" ] \
    || die "CAFFE_GPU=1 needs CUDA's nvcc: set CUDA_HOME to a CUDA toolkit (with bin/nvcc)"
  echo "$home"
}

# A full toolkit ships cuBLAS and cuRAND; one assembled from NVIDIA's PyPI
# wheels (as on our build machines: nvcc, cudart, CCCL only) may not.
toolkit_has_libraries() {
  local home=$1 lib
  [ -f "$home/include/cublas_v2.h" ] && [ -f "$home/include/curand.h" ] || return 1
  for lib in cublas curand; do
    compgen -G "$home/lib*/lib$lib.so" >/dev/null || return 1
  done
}

# The pinned wheel requirements, comments dropped.
cuda_wheel_pins() { grep -E '^[^#[:space:]]' "$CUDA_WHEELS"; }

cuda_wheels_dir() { echo "$CACHE/cuda/wheels-$(cuda_wheel_pins | sha256sum | cut -c1-16)"; }

# Where cuBLAS and cuRAND come from: the toolkit, else the pinned wheels.
cuda_libraries_dir() {
  if toolkit_has_libraries "$1"; then echo "$1"; else cuda_wheels_dir; fi
}

# NVIDIA's cuBLAS, cuRAND and cuobjdump wheels (setup/cuda-wheels.txt), laid
# out like a toolkit (include/, lib/, bin/) and published with one rename.
install_cuda_wheels() {
  local dir tmp sub lib
  dir=$(cuda_wheels_dir)
  [ -f "$dir/.complete" ] && return
  step "installing cuBLAS, cuRAND and cuobjdump from NVIDIA's wheels ($CUDA_WHEELS) into $dir"
  mkdir -p "$CACHE/cuda"
  tmp=$(mktemp -d "$CACHE/cuda/.wheels.XXXXXX")
  "$VENV/bin/python" -m pip install --disable-pip-version-check -qq --no-deps --no-cache-dir \
      --target "$tmp/site" -r <(cuda_wheel_pins) \
    || { rm -rf "$tmp"; die "pip could not install the CUDA wheels pinned in $CUDA_WHEELS"; }
  # The wheels nest their files as nvidia/<name>/{include,lib,bin}.
  for sub in include lib bin; do
    mkdir -p "$tmp/$sub"
    find "$tmp/site/nvidia" -mindepth 2 -maxdepth 2 -type d -name "$sub" -exec cp -al {}/. "$tmp/$sub/" \;
  done
  # Linkers look for libcublas.so; the wheels ship libcublas.so.13 only.
  for lib in "$tmp"/lib/lib*.so.*; do
    [ -e "${lib%%.so.*}.so" ] || ln -s "$(basename "$lib")" "${lib%%.so.*}.so"
  done
  rm -rf "$tmp/site"
  cuda_wheel_pins > "$tmp/wheels.txt"
  chmod 755 "$tmp"
  touch "$tmp/.complete"
  rm -rf "$dir"
  mv -T "$tmp" "$dir"
}

# Refuse bad CUDA settings before anything is keyed or built.
check_cuda_options() {
  local home
  [[ "$CUDA_ARCH_BIN" =~ ^[0-9()\ ]+$ && "$CUDA_ARCH_PTX" =~ ^[0-9\ ]*$ ]] \
    || die "CUDA_ARCH_BIN='$CUDA_ARCH_BIN' / CUDA_ARCH_PTX='$CUDA_ARCH_PTX': expected compute capabilities like \"80 90\""
  home=$(cuda_home)
  step "CUDA build with $("$home/bin/nvcc" --version | grep -o 'release [0-9.]*') at $home; code for sm: $CUDA_ARCH_BIN, PTX: ${CUDA_ARCH_PTX:-none}"
}

# cuDNN off: the 2018 Caffe predates cuDNN 8's API. NCCL off: one GPU per fold.
# Explicit architectures: Caffe's own list (sm_20..sm_61) is refused by nvcc 13.
gpu_cmake_options() {
  local home=$1 libs
  libs=$(cuda_libraries_dir "$home")
  printf '%s\n' -DCPU_ONLY=OFF -DUSE_CUDNN=OFF -DUSE_NCCL=OFF -DCUDA_ARCH_NAME=Manual \
    "-DCUDA_ARCH_BIN=$CUDA_ARCH_BIN" "-DCUDA_ARCH_PTX=$CUDA_ARCH_PTX" "-DCUDA_TOOLKIT_ROOT_DIR=$home"
  if [ "$libs" != "$home" ]; then
    printf '%s\n' "-DCMAKE_LIBRARY_PATH=$libs/lib" "-DCMAKE_CXX_FLAGS=-isystem $libs/include" \
      "-DCUDA_NVCC_FLAGS=-isystem=$libs/include"
  fi
}

# What a CUDA build depends on beyond its options: nvcc's release and the
# cuBLAS/cuRAND versions.
cuda_versions() {
  local home libs
  home=$(cuda_home)
  "$home/bin/nvcc" --version | grep -i 'release'
  libs=$(cuda_libraries_dir "$home")
  if [ "$libs" = "$home" ]; then
    grep -h -E '#define (CUBLAS|CURAND)_VER_(MAJOR|MINOR|PATCH|BUILD)' \
      "$home/include/cublas_api.h" "$home/include/curand.h"
  else
    cuda_wheel_pins
  fi
}

# cuobjdump (lists the GPU code in libcaffe): the toolkit's, else the wheels'.
cuda_tool() {
  local home tool
  home=$(cuda_home)
  for tool in "$home/bin/$1" "$(cuda_wheels_dir)/bin/$1"; do
    [ -x "$tool" ] && { echo "$tool"; return; }
  done
  return 1
}

# Debian packages among "$@" that are not installed.
missing_build_deps() {
  local p
  for p in "$@"; do
    dpkg-query -W -f='${Status}\n' "$p" 2>/dev/null | grep -q 'install ok installed' || echo "$p"
  done
}

# Caffe's build dependencies, or the packages given (the bundle needs patchelf).
install_build_deps() {
  local missing sudo="" packages=("${BUILD_DEPS[@]}") what="Caffe build dependencies"
  if cpu_opt_build; then packages+=("${CPU_OPT_DEPS[@]}"); fi
  if [ $# -gt 0 ]; then packages=("$@"); what="$*"; fi
  missing=$(missing_build_deps "${packages[@]}" | tr '\n' ' ')
  if [ -z "${missing// /}" ]; then step "$what present"; return; fi
  if [ "$(id -u)" != 0 ]; then
    if command -v sudo >/dev/null && sudo -n true 2>/dev/null; then sudo="sudo -n"
    else die "missing build packages; install them as root: apt-get install $missing"; fi
  fi
  step "installing $what with apt: $missing"
  local t0; t0=$(now)
  $sudo apt-get update -q >/dev/null || die "apt-get update failed"
  # shellcheck disable=SC2086
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -q --no-install-recommends $missing >/dev/null \
    || die "apt-get install failed for: $missing"
  step "apt took $(( $(now) - t0 )) s"
}

# The Debian archive URI the machine already uses (deb822 or one-line style).
debian_archive_uri() {
  local f uri=""
  for f in "$APT_ETC"/sources.list.d/*.sources; do
    [ -f "$f" ] || continue
    uri=$(awk '/^URIs:/ {for (i = 2; i <= NF; i++) print $i}' "$f" | grep -v security | grep '/debian/\?$' | head -1 || true)
    [ -n "$uri" ] && break
  done
  if [ -z "$uri" ]; then
    uri=$(cat "$APT_ETC"/sources.list "$APT_ETC"/sources.list.d/*.list 2>/dev/null \
      | awk '$1 == "deb" || $1 == "deb-src" {for (i = 2; i <= NF; i++) if ($i ~ /^[a-z]+:\/\//) {print $i; break}}' \
      | grep -v security | grep '/debian/\?$' | head -1 || true)
  fi
  echo "$uri"
}

# Debian 11's source package of BVLC Caffe, fetched with apt-get's own sources
# list and state directory, so the machine's apt configuration is not touched.
fetch_debian_source() {
  local dest=$1 uri tmp
  uri=$(debian_archive_uri)
  [ -n "$uri" ] || die "no Debian archive found in $APT_ETC; download BVLC Caffe 99bd997 yourself and set CAFFE_SRC=tarball"
  tmp=$(mktemp -d "$CACHE/src/.fetch.XXXXXX")
  mkdir -p "$tmp/lists/partial" "$tmp/cache/archives/partial"
  echo "deb-src $uri bullseye main" > "$tmp/sources.list"
  local apt_opts=(-q -o "Dir::Etc::SourceList=$tmp/sources.list" -o Dir::Etc::SourceParts=/dev/null
    -o "Dir::State::Lists=$tmp/lists" -o "Dir::Cache=$tmp/cache")
  # As root apt would download as user _apt, who cannot write into our cache.
  [ "$(id -u)" = 0 ] && apt_opts+=(-o APT::Sandbox::User=root)
  step "fetching Debian source package caffe=$DEBIAN_SOURCE_VERSION from $uri (suite bullseye)"
  (cd "$tmp" && apt-get "${apt_opts[@]}" update >/dev/null \
     && apt-get "${apt_opts[@]}" source --download-only "caffe=$DEBIAN_SOURCE_VERSION" >/dev/null) \
    || die "apt-get source caffe=$DEBIAN_SOURCE_VERSION failed (no network? set CAFFE_SRC=tarball)"
  mv "$tmp/$ORIG_TARBALL" "$dest"
  rm -rf "$tmp"
}

verify_sha256() {
  local file=$1 want=$2 got
  got=$(sha256_of "$file")
  [ "$got" = "$want" ] || die "checksum mismatch for $file: expected sha256 $want, got $got"
}

obtain_source() {
  local tarball
  if [ -n "${CAFFE_SRC:-}" ]; then
    [ -f "$CAFFE_SRC" ] || die "CAFFE_SRC=$CAFFE_SRC is not a file"
    tarball=$CAFFE_SRC
  else
    tarball=$CACHE/src/$ORIG_TARBALL
    [ -f "$tarball" ] || fetch_debian_source "$tarball"
  fi
  verify_sha256 "$tarball" "$CAFFE_SHA256"
  echo "$tarball"
}

build_caffe() {
  local key=$1 prefix=$2 tarball scratch stage log t0 src patches
  scratch=$CACHE/caffe/.build-$key
  stage=$CACHE/caffe/.stage-$key
  log=$CACHE/caffe/logs/build-$key.log
  mkdir -p "$CACHE/caffe/logs"
  tarball=$(obtain_source)
  # Anything left by an interrupted build is discarded, never reused.
  rm -rf "$scratch" "$stage"
  mkdir -p "$scratch/src" "$scratch/build"
  step "building BVLC Caffe ($(build_variant | tr '[:lower:]' '[:upper:]')) with $JOBS jobs; full log: $log"
  t0=$(now)
  tar -xzf "$tarball" -C "$scratch/src"
  src=$scratch/src
  [ -f "$src/CMakeLists.txt" ] || src=$(dirname "$(find "$scratch/src" -maxdepth 2 -name CMakeLists.txt | head -1)")
  mapfile -t patches < <(patch_files)
  for p in "${patches[@]}"; do
    patch -d "$src" -p1 --forward -s < "$p" || die "patch $p does not apply to $tarball"
  done
  mapfile -t opts < <(cmake_options)
  {
    cmake -S "$src" -B "$scratch/build" "${opts[@]}" "-DCMAKE_INSTALL_PREFIX=$prefix" &&
    make -C "$scratch/build" -j"$JOBS" &&
    make -C "$scratch/build" install DESTDIR="$stage"
  } > "$log" 2>&1 || { tail -n 30 "$log" >&2; die "Caffe build failed; full log: $log"; }
  cache_inputs > "$stage$prefix/build-info.txt"
  touch "$stage$prefix/.complete"
  mv -T "$stage$prefix" "$prefix"
  rm -rf "$scratch" "$stage"
  step "Caffe built in $(( $(now) - t0 )) s -> $prefix"
}

# Sets CAFFE_PREFIX to the cached build for the current options, building it
# first if it is missing.
ensure_caffe_build() {
  local key home
  if gpu_build; then check_cuda_options; fi
  mkdir -p "$CACHE/caffe" "$CACHE/src"
  key=$(cache_key)
  CAFFE_PREFIX=$CACHE/caffe/$(build_variant)-$key
  # One build per key at a time: a second setup of the same build waits, then
  # reuses it; other builds (CPU and CUDA: an hour apart) do not wait for it.
  if [ ! -f "$CAFFE_PREFIX/.complete" ]; then
    exec 9>"$CACHE/caffe/.lock-$(basename "$CAFFE_PREFIX")"
    flock 9
  fi
  if [ -f "$CAFFE_PREFIX/.complete" ]; then
    step "cached Caffe build $CAFFE_PREFIX"
    return
  fi
  install_build_deps
  # The source first (fetched, checksum verified): a wrong source stops setup
  # before a CUDA build downloads its 700 MB of cuBLAS/cuRAND wheels.
  obtain_source >/dev/null
  if gpu_build; then
    home=$(cuda_home)
    [ "$(cuda_libraries_dir "$home")" = "$home" ] || install_cuda_wheels
  fi
  build_caffe "$key" "$CAFFE_PREFIX"
}

setup_caffe() {
  if [ -n "${CAFFE_ROOT:-}" ]; then use_caffe_root; return; fi
  ensure_caffe_build
  link_caffe "$CAFFE_PREFIX/python" "$CAFFE_PREFIX/bin/caffe"
}

# A relocatable tarball of the cached build (setup/bundle.sh; docs/gpu.md),
# made once per build and bundler version unless OUT is given. Prints its path.
bundle_caffe() {
  local out=${1:-} inputs suffix=""
  [ -z "${CAFFE_ROOT:-}" ] || die "bundle packs a build of this script; for CAFFE_ROOT's Caffe run setup/bundle.sh PREFIX OUT.tar.gz on its install prefix"
  ensure_caffe_build
  inputs="$(sha256_of "$REPO/setup/bundle.sh") cuda-libs=${BUNDLE_CUDA_LIBS:-1}"
  if [ "${BUNDLE_CUDA_LIBS:-1}" = 0 ]; then suffix=-nocudalibs; fi
  if [ -z "$out" ]; then
    out=$CACHE/caffe/bundles/caffe-$(basename "$CAFFE_PREFIX")$suffix-linux-$(uname -m).tar.gz
    if [ -f "$out" ] && [ "$(cat "$out.inputs" 2>/dev/null)" = "$inputs" ]; then
      step "cached bundle $out"
      echo "$out"
      return
    fi
  fi
  install_build_deps patchelf
  mkdir -p "$(dirname "$out")"
  bash "$REPO/setup/bundle.sh" "$CAFFE_PREFIX" "$out" || die "bundling $CAFFE_PREFIX failed"
  echo "$inputs" > "$out.inputs"
  echo "$out"
}

usage() {
  echo "usage: setup.sh [all|deps|venv|build|caffe|source|bundle [OUT.tar.gz]]   (default: all)" >&2
  echo "  deps: only the apt build dependencies (as root; the Docker image runs this first)" >&2
  echo "  build: the venv and the cached Caffe build only: links nothing, imports nothing of the" >&2
  echo "         project (the Docker images' Caffe layer, built before the project is copied in)" >&2
  echo "  source: fetch and verify the Caffe source tarball; print its path" >&2
  echo "  bundle: a relocatable tarball of the build (caffe + pycaffe + libraries); print its path" >&2
  exit 2
}

main() {
  local t0; t0=$(now)
  gpu_build || true  # refuses a bad CAFFE_GPU before anything runs
  cpu_opt_build || true  # likewise CAFFE_CPU_OPT
  unity_build || true  # and CAFFE_UNITY
  case "${1:-all}" in
    all) setup_venv; setup_caffe ;;
    deps) install_build_deps ;;
    venv) setup_venv ;;
    build) setup_venv; ensure_caffe_build ;;
    caffe) setup_caffe ;;
    source) mkdir -p "$CACHE/src"; obtain_source ;;
    bundle) bundle_caffe "${2:-}" ;;
    *) usage ;;
  esac
  step "setup ${1:-all} done in $(( $(now) - t0 )) s"
}

# Sourcing the script (tests do) defines the functions without running anything.
if [[ "${BASH_SOURCE[0]}" == "$0" ]]; then main "$@"; fi
