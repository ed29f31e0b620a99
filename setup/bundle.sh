#!/usr/bin/env bash
# A relocatable tarball of an installed Caffe (a build prefix of setup.sh's
# cache): the `caffe` binary and pycaffe with every shared library they load,
# except the C library and the NVIDIA driver, each given an $ORIGIN-relative
# rpath. It runs from wherever it is unpacked, without apt or a compiler, on an
# x86-64 Linux with glibc at least as new as the build machine's and, for a
# CUDA build, an NVIDIA driver for that CUDA release (docs/gpu.md):
#
#   tar -xzf caffe-gpu-<key>-linux-x86_64.tar.gz
#   caffe-gpu-<key>/bin/caffe train --solver=solver.prototxt --gpu=0
#   caffe-gpu-<key>/caffe-env python3 train.py   # pycaffe: same Python X.Y as the build
#
# Usage: setup/bundle.sh PREFIX OUT.tar.gz   (`setup.sh bundle` calls it)
# Environment:
#   BUNDLE_CUDA_LIBS=0   leave cudart, cuBLAS and cuRAND out (about 700 MB of
#                        the unpacked CUDA bundle); the target's own are loaded instead
set -euo pipefail

step() { printf '==> %s\n' "$*" >&2; }
die() { printf 'bundle: error: %s\n' "$*" >&2; exit 1; }

# Never bundled: glibc (it must match the target's kernel interface and is on
# every system) and the driver's libraries (they must match the driver).
SYSTEM_LIBS='^(linux-vdso|ld-linux[^ ]*|libc|libm|libmvec|libdl|libpthread|librt|libutil|libresolv|libanl|libnsl|libBrokenLocale|libthread_db|libnss_[a-z]+|libcuda|libnvidia-[a-z-]+)\.so'
CUDA_LIBS='^(libcudart|libcublas|libcublasLt|libcurand)\.so'

# The shared libraries "$@" load, as "soname path" lines, the system's left out.
needed_libraries() {
  local file
  for file in "$@"; do
    env -u LD_LIBRARY_PATH ldd "$file" || die "ldd cannot read $file"
  done | awk '$2 == "=>" {print $1, $3}' | sort -u | while read -r name path; do
    [ "$path" = "not" ] && die "$name, needed by $*, is not found on this machine"
    [[ "$name" =~ $SYSTEM_LIBS ]] && continue
    [ "${BUNDLE_CUDA_LIBS:-1}" = 0 ] && [[ "$name" =~ $CUDA_LIBS ]] && continue
    echo "$name $path"
  done
}

# Point an ELF file's library search at DIR relative to itself. RPATH, not
# RUNPATH: a target's LD_LIBRARY_PATH (often naming another CUDA) is searched
# after RPATH but before RUNPATH, and must not swap a bundled library.
set_rpath() {
  patchelf --force-rpath --set-rpath "$2" "$1" || die "patchelf failed on $1"
}

# shellcheck disable=SC2016  # $ORIGIN is the loader's, not the shell's
copy_tree() {
  local prefix=$1 root=$2 name path
  mkdir -p "$root/bin" "$root/lib" "$root/python"
  cp "$prefix/bin/caffe" "$root/bin/caffe"
  cp -r "$prefix/python/caffe" "$root/python/caffe"
  find "$root/python" -name __pycache__ -prune -exec rm -rf {} +
  [ -f "$prefix/build-info.txt" ] && cp "$prefix/build-info.txt" "$root/build-info.txt"
  needed_libraries "$prefix/bin/caffe" "$prefix/python/caffe/_caffe.so" > "$root/.libs"
  while read -r name path; do
    cp -L "$path" "$root/lib/$name"
    chmod u+w "$root/lib/$name"
  done < "$root/.libs"
  rm "$root/.libs"
  set_rpath "$root/bin/caffe" '$ORIGIN/../lib'
  set_rpath "$root/python/caffe/_caffe.so" '$ORIGIN/../../lib'
  for path in "$root"/lib/*; do set_rpath "$path" '$ORIGIN'; done
}

write_launcher() {
  cat > "$1/caffe-env" <<'EOF'
#!/bin/sh
# Run a command with this bundle's caffe first on PATH and its pycaffe on PYTHONPATH:
#   ./caffe-env caffe device_query -gpu 0
#   ./caffe-env python3 -c 'import caffe'
[ $# -gt 0 ] || { echo "usage: $0 COMMAND [ARGS...]" >&2; exit 2; }
here=$(cd "$(dirname "$0")" && pwd)
PATH="$here/bin:$PATH"
PYTHONPATH="$here/python${PYTHONPATH:+:$PYTHONPATH}"
export PATH PYTHONPATH
exec "$@"
EOF
  chmod +x "$1/caffe-env"
}

python_version_of() {
  readelf -d "$1" | awk 'match($0, /libpython[0-9.]*[0-9]/) {print substr($0, RSTART + 9, RLENGTH - 9)}'
}

# ", an NVIDIA driver that supports CUDA 13.0" for a CUDA build (the release from
# build-info.txt when there is one), nothing for a CPU build.
driver_note() {
  local root=$1 runtime release
  runtime=$(readelf -d "$root"/lib/libcaffe.so.* | awk 'match($0, /libcudart\.so\.[0-9]+/) {print substr($0, RSTART + 13, RLENGTH - 13)}')
  [ -n "$runtime" ] || return 0
  release=$(grep -m1 -o 'release [0-9.]*[0-9]' "$root/build-info.txt" 2>/dev/null | cut -d' ' -f2 || true)
  echo ", an NVIDIA driver that supports CUDA ${release:-$runtime}"
}

write_manifest() {
  local root=$1 prefix=$2 glibc
  glibc=$(ldd --version | awk 'NR == 1 {print $NF}')
  {
    echo "BVLC Caffe, bundled by setup/bundle.sh from the build $(basename "$prefix")"
    echo "Needs: Linux $(uname -m), glibc >= $glibc$(driver_note "$root")"
    echo "pycaffe: Python $(python_version_of "$root/python/caffe/_caffe.so") with numpy, scikit-image, protobuf, six"
    if [ "${BUNDLE_CUDA_LIBS:-1}" = 0 ]; then
      echo "Not included (BUNDLE_CUDA_LIBS=0), loaded from the target's CUDA through LD_LIBRARY_PATH or ldconfig:"
      echo "  $(readelf -d "$root"/lib/libcaffe.so.* | grep -o -E 'libcu[a-zA-Z]*\.so\.[0-9]+' | tr '\n' ' ')"
    fi
    [ -f "$root/build-info.txt" ] && echo "Build options and versions: build-info.txt"
    echo
    echo "sha256 of every file:"
    (cd "$root" && find . -type f ! -name MANIFEST.txt | sort | xargs sha256sum)
  } > "$root/MANIFEST.txt"
}

# Proof before publishing: every library resolves inside the bundle (or to the
# system's C library) with no help from the environment, and the binary runs.
# Left-out CUDA libraries are found where the build found them.
verify() {
  local root=$1 prefix=$2 file outside cuda_dirs=""
  for file in "$root/bin/caffe" "$root/python/caffe/_caffe.so"; do
    outside=$(env -i PATH=/usr/bin:/bin ldd "$file" | awk '$2 == "=>" {print $1, $3}' | while read -r name path; do
      [[ "$name" =~ $SYSTEM_LIBS ]] && continue
      [ "${BUNDLE_CUDA_LIBS:-1}" = 0 ] && [[ "$name" =~ $CUDA_LIBS ]] && continue
      [[ "$path" == "$root"/* ]] || echo "$name => $path"
    done)
    [ -z "$outside" ] || die "$file still loads libraries from outside the bundle: $outside"
  done
  if [ "${BUNDLE_CUDA_LIBS:-1}" = 0 ]; then
    cuda_dirs=$(env -u LD_LIBRARY_PATH ldd "$prefix/bin/caffe" | awk '$2 == "=>" {print $1, $3}' \
      | while read -r name path; do if [[ "$name" =~ $CUDA_LIBS ]]; then dirname "$path"; fi; done \
      | sort -u | paste -sd:)
  fi
  env -i PATH=/usr/bin:/bin ${cuda_dirs:+LD_LIBRARY_PATH=$cuda_dirs} "$root/bin/caffe" --version >/dev/null 2>&1 \
    || die "the bundled caffe does not run: $root/bin/caffe --version"
}

main() {
  [ $# -eq 2 ] || die "usage: setup/bundle.sh PREFIX OUT.tar.gz"
  local prefix=$1 out=$2 name t0
  [ -x "$prefix/bin/caffe" ] && [ -f "$prefix/python/caffe/_caffe.so" ] \
    || die "$prefix is not an installed Caffe (no bin/caffe or python/caffe/_caffe.so)"
  command -v patchelf >/dev/null || die "patchelf is missing (apt-get install patchelf)"
  [[ "$out" == *.tar.gz ]] || die "$out: the bundle's name must end in .tar.gz"
  name=$(basename "$out" .tar.gz)
  name=${name%-linux-*}
  mkdir -p "$(dirname "$out")"
  WORK=$(mktemp -d "$(dirname "$out")/.bundle.XXXXXX")
  trap 'rm -rf "$WORK"' EXIT
  t0=$(date +%s)
  step "bundling $prefix into $out"
  copy_tree "$prefix" "$WORK/$name"
  write_launcher "$WORK/$name"
  write_manifest "$WORK/$name" "$prefix"
  verify "$WORK/$name" "$prefix"
  # Same build, same bytes: fixed order, owner and time stamps.
  tar -C "$WORK" --sort=name --owner=0 --group=0 --numeric-owner --mtime="@$(stat -c %Y "$prefix/bin/caffe")" \
    -cf - "$name" | gzip -n > "$WORK/bundle.tar.gz"
  mv "$WORK/bundle.tar.gz" "$out"
  step "bundle: $out ($(du -h "$out" | cut -f1), $(du -sh "$WORK/$name" | cut -f1) unpacked) in $(( $(date +%s) - t0 )) s"
}

main "$@"
