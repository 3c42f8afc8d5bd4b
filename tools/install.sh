#!/usr/bin/env bash
# Installs the verified OpenMMLab stack and mmakd (editable) into the active
# Python environment. Idempotent: when everything is in place it only checks.
#
#   bash tools/install.sh          # what `make install` runs
#   TORCH_SPEC='torch==2.13.0' bash tools/install.sh
#   STACK=onedl bash tools/install.sh   # the ONEDL forks instead
#   CONSTRAINTS=requirements/constraints-lowest.txt bash tools/install.sh
#
# The versions come from a constraints file (pip install -c): by default
# requirements/constraints.txt (requirements/constraints-onedl.txt with
# STACK=onedl), the exact stack the tests run on; requirements/*.txt hold
# the ranges mmakd supports.
#
# A torch that is already installed (e.g. your CUDA build) is kept; torch is
# installed only when missing. mmcv 2.1.0 (onedl-mmcv 2.3.6 with
# STACK=onedl) has no wheel on PyPI for recent torch: pip builds it from
# source (about 15 min on 2 cores) unless a wheel built for your torch is on
# PIP_FIND_LINKS.
#
# STACK=onedl installs onedl-mmengine, onedl-mmcv, onedl-mmdetection and
# onedl-mmsegmentation (requirements/onedl*.txt) with MMRazor 1.0.0. Use it
# in an environment without OpenMMLab's packages (e.g. `make test-onedl`'s
# .venv-onedl): a fork and the package it forks own the same files.
set -euo pipefail
cd "$(dirname "$0")/.."
PYTHON=${PYTHON:-python}
TORCH_SPEC=${TORCH_SPEC:-torch==2.13.0}
export STACK=${STACK:-openmmlab}
case "$STACK" in
  openmmlab) MMCV=mmcv; MMINSTALL=mminstall; STACK_REQS=openmmlab
    DEFAULT_CONSTRAINTS=requirements/constraints.txt ;;
  onedl) MMCV=onedl-mmcv; MMINSTALL=onedl-mminstall; STACK_REQS=onedl
    DEFAULT_CONSTRAINTS=requirements/constraints-onedl.txt ;;
  *) echo "mmakd: STACK must be openmmlab or onedl, got '$STACK'" >&2; exit 2 ;;
esac
export CONSTRAINTS=${CONSTRAINTS:-$DEFAULT_CONSTRAINTS}
if [ ! -f "$CONSTRAINTS" ]; then
  echo "mmakd: CONSTRAINTS=$CONSTRAINTS: no such file" >&2; exit 2
fi
pip_install() { "$PYTHON" -m pip install --disable-pip-version-check -c "$CONSTRAINTS" "$@"; }

if "$PYTHON" tools/check_env.py --quiet; then
  echo "mmakd: environment complete ($("$PYTHON" tools/check_env.py --summary))"
  exit 0
fi

echo "mmakd: installing build tools"
pip_install -r requirements/build.txt

if ! "$PYTHON" -c 'import torch' 2>/dev/null; then
  echo "mmakd: installing $TORCH_SPEC"
  pip_install "$TORCH_SPEC"
fi

if [ "$STACK" = openmmlab ]; then
  echo "mmakd: installing mmengine"
  pip_install mmengine
fi

if ! "$PYTHON" tools/check_env.py --quiet --only "$MMCV"; then
  echo "mmakd: installing $MMCV with compiled ops (source build if no wheel matches)"
  MAX_JOBS=${MAX_JOBS:-$(nproc)} pip_install --no-build-isolation \
    -r "requirements/$MMINSTALL.txt"
fi

echo "mmakd: installing the detection and segmentation packages, mmrazor, the demo's and test tools, mmakd"
pip_install -r "requirements/$STACK_REQS.txt" -r requirements/runtime.txt \
  -r requirements/demo.txt -r requirements/tests.txt
# No --no-deps: mmakd's install_requires name no package that a fork replaces.
pip_install --no-build-isolation -e .

"$PYTHON" tools/check_env.py
