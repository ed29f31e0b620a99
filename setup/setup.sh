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
#
# Usage: setup/setup.sh [all|deps|venv|caffe]
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

BUILD_DEPS=(cmake make g++ patch libboost-filesystem-dev libboost-system-dev
  libboost-thread-dev libboost-python-dev libgflags-dev libgoogle-glog-dev
  libhdf5-dev liblmdb-dev libopenblas-dev libprotobuf-dev protobuf-compiler
  libsnappy-dev python3-dev)

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
    "$VENV/bin/python" -m pip install --disable-pip-version-check -qq -r "$REPO/requirements.txt" \
      || die "pip install -r requirements.txt failed"
    echo "$want" > "$stamp"
  else
    step "Python packages up to date"
  fi
}

site_packages() { "$VENV/bin/python" -c 'import sysconfig; print(sysconfig.get_paths()["purelib"])'; }

# Make `import caffe` and `import atnet` work from any directory, and put the
# caffe binary on the venv's PATH.
link_caffe() {
  local pydir=$1 bin=$2 sp
  sp=$(site_packages)
  printf '%s\n' "$pydir" > "$sp/bvlc_caffe.pth"
  printf '%s\n' "$REPO" > "$sp/atnet_repo.pth"
  ln -sfn "$bin" "$VENV/bin/caffe"
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
  printf '%s\n' -DCPU_ONLY=ON -DUSE_OPENCV=OFF -DUSE_LEVELDB=OFF -DUSE_LMDB=ON \
    -DBLAS=Open -Dpython_version=3 -DBUILD_docs=OFF -DBUILD_matlab=OFF \
    -DCMAKE_BUILD_TYPE=Release \
    "-DPYTHON_EXECUTABLE=$VENV/bin/python" "-DNUMPY_INCLUDE_DIR=$numpy_inc"
}

# The cache key names everything the binary depends on.
cache_key() {
  {
    echo "source $CAFFE_SHA256"
    cat "$REPO"/setup/patches/*.patch
    cmake_options | grep -v -e '^-DPYTHON_EXECUTABLE' -e '^-DNUMPY_INCLUDE_DIR'
    "$VENV/bin/python" -c 'import sys, numpy; print(sys.version, numpy.__version__)'
  } | sha256sum | cut -c1-16
}

missing_build_deps() {
  local p
  for p in "${BUILD_DEPS[@]}"; do
    dpkg-query -W -f='${Status}\n' "$p" 2>/dev/null | grep -q 'install ok installed' || echo "$p"
  done
}

install_build_deps() {
  local missing sudo=""
  missing=$(missing_build_deps | tr '\n' ' ')
  if [ -z "${missing// /}" ]; then step "Caffe build dependencies present"; return; fi
  if [ "$(id -u)" != 0 ]; then
    if command -v sudo >/dev/null && sudo -n true 2>/dev/null; then sudo="sudo -n"
    else die "missing build packages; install them as root: apt-get install $missing"; fi
  fi
  step "installing Caffe build dependencies with apt: $missing"
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
  local key=$1 prefix=$2 tarball scratch stage log t0 src
  scratch=$CACHE/caffe/.build-$key
  stage=$CACHE/caffe/.stage-$key
  log=$CACHE/caffe/logs/build-$key.log
  mkdir -p "$CACHE/caffe/logs"
  tarball=$(obtain_source)
  # Anything left by an interrupted build is discarded, never reused.
  rm -rf "$scratch" "$stage"
  mkdir -p "$scratch/src" "$scratch/build"
  step "building BVLC Caffe (CPU) with $JOBS jobs; full log: $log"
  t0=$(now)
  tar -xzf "$tarball" -C "$scratch/src"
  src=$scratch/src
  [ -f "$src/CMakeLists.txt" ] || src=$(dirname "$(find "$scratch/src" -maxdepth 2 -name CMakeLists.txt | head -1)")
  for p in "$REPO"/setup/patches/*.patch; do
    patch -d "$src" -p1 --forward -s < "$p" || die "patch $p does not apply to $tarball"
  done
  mapfile -t opts < <(cmake_options)
  {
    cmake -S "$src" -B "$scratch/build" "${opts[@]}" "-DCMAKE_INSTALL_PREFIX=$prefix" &&
    make -C "$scratch/build" -j"$JOBS" &&
    make -C "$scratch/build" install DESTDIR="$stage"
  } > "$log" 2>&1 || { tail -n 30 "$log" >&2; die "Caffe build failed; full log: $log"; }
  touch "$stage$prefix/.complete"
  mv -T "$stage$prefix" "$prefix"
  rm -rf "$scratch" "$stage"
  step "Caffe built in $(( $(now) - t0 )) s -> $prefix"
}

setup_caffe() {
  if [ -n "${CAFFE_ROOT:-}" ]; then use_caffe_root; return; fi
  local key prefix
  mkdir -p "$CACHE/caffe" "$CACHE/src"
  key=$(cache_key)
  prefix=$CACHE/caffe/cpu-$key
  # One build at a time per cache; a second setup waits, then reuses it.
  exec 9>"$CACHE/caffe/.lock"
  flock 9
  if [ -f "$prefix/.complete" ]; then
    step "cached Caffe build $prefix"
  else
    install_build_deps
    build_caffe "$key" "$prefix"
  fi
  link_caffe "$prefix/python" "$prefix/bin/caffe"
}

usage() {
  echo "usage: setup.sh [all|deps|venv|caffe]   (default: all)" >&2
  echo "  deps: only the apt build dependencies (as root; the Docker image runs this first)" >&2
  exit 2
}

main() {
  local t0; t0=$(now)
  case "${1:-all}" in
    all) setup_venv; setup_caffe ;;
    deps) install_build_deps ;;
    venv) setup_venv ;;
    caffe) setup_caffe ;;
    *) usage ;;
  esac
  step "setup ${1:-all} done in $(( $(now) - t0 )) s"
}

# Sourcing the script (tests do) defines the functions without running anything.
if [[ "${BASH_SOURCE[0]}" == "$0" ]]; then main "$@"; fi
