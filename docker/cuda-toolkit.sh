#!/usr/bin/env bash
# A CUDA toolkit at PREFIX (default /usr/local/cuda-13.0, linked as
# /usr/local/cuda) from NVIDIA's wheels pinned in docker/cuda-toolkit-wheels.txt,
# for docker/Dockerfile.gpu on a plain Debian base. Does nothing when the base
# image already has a toolkit (nvidia/cuda:*-devel: /usr/local/cuda/bin/nvcc).
#
# The wheels all unpack under nvidia/cu13/{bin,include,lib,nvvm}: that tree is
# the toolkit, plus the unversioned library links a full toolkit has. nvcc.profile
# finds everything relative to bin/ and under targets/<arch>-linux/, which is
# linked to it as in NVIDIA's installers.
#
# Usage (as root): docker/cuda-toolkit.sh [PREFIX]   (PIP_CERT is honoured by pip)
set -euo pipefail

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
PINS=$HERE/cuda-toolkit-wheels.txt
PREFIX=${1:-/usr/local/cuda-13.0}

die() { printf 'cuda-toolkit: error: %s\n' "$*" >&2; exit 1; }

if [ -x /usr/local/cuda/bin/nvcc ]; then
  echo "cuda-toolkit: the base image has one: $(/usr/local/cuda/bin/nvcc --version | grep release)"
  exit 0
fi
case "$(uname -m)" in
  x86_64) target=x86_64-linux ;;
  aarch64) target=sbsa-linux ;;
  *) die "no CUDA wheels for $(uname -m)" ;;
esac
[ ! -e "$PREFIX" ] || die "$PREFIX exists but has no bin/nvcc"

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
python3 -m venv "$work/venv"
"$work/venv/bin/python" -m pip install --disable-pip-version-check -q --no-cache-dir --no-deps \
    --target "$work/site" -r "$PINS" \
  || die "pip could not install the wheels pinned in $PINS"
[ -x "$work/site/nvidia/cu13/bin/nvcc" ] || die "the wheels of $PINS hold no nvidia/cu13/bin/nvcc"
mv -T "$work/site/nvidia/cu13" "$PREFIX"
mkdir -p "$PREFIX/dist-info" "$PREFIX/targets/$target"
mv "$work/site/"*.dist-info "$PREFIX/dist-info/"
# Linkers and CMake's FindCUDA look for libcudart.so; the wheels ship libcudart.so.13 only.
for lib in "$PREFIX"/lib/lib*.so.*; do
  [ -e "${lib%%.so.*}.so" ] || ln -s "$(basename "$lib")" "${lib%%.so.*}.so"
done
ln -s lib "$PREFIX/lib64"
ln -s ../../include "$PREFIX/targets/$target/include"
ln -s ../../lib "$PREFIX/targets/$target/lib"
ln -sfn "$(basename "$PREFIX")" "$(dirname "$PREFIX")/cuda"
echo "$PREFIX/lib" > /etc/ld.so.conf.d/cuda.conf
ldconfig
"$PREFIX/bin/nvcc" --version | grep release
