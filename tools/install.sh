#!/usr/bin/env bash
# Installs the verified OpenMMLab stack and mmakd (editable) into the active
# Python environment. Idempotent: when everything is in place it only checks.
#
#   bash tools/install.sh          # what `make install` runs
#   TORCH_SPEC='torch==2.13.0' bash tools/install.sh
#
# A torch that is already installed (e.g. your CUDA build) is kept; torch is
# installed only when missing. mmcv 2.1.0 has no wheel on PyPI for recent
# torch: pip builds it from source (about 15 min on 2 cores) unless a wheel
# built for your torch is on PIP_FIND_LINKS.
set -euo pipefail
cd "$(dirname "$0")/.."
PYTHON=${PYTHON:-python}
TORCH_SPEC=${TORCH_SPEC:-torch==2.13.0}
pip_install() { "$PYTHON" -m pip install --disable-pip-version-check "$@"; }

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

echo "mmakd: installing mmengine"
pip_install 'mmengine==0.10.7'

if ! "$PYTHON" tools/check_env.py --quiet --only mmcv; then
  echo "mmakd: installing mmcv 2.1.0 with compiled ops (source build if no wheel matches)"
  MAX_JOBS=${MAX_JOBS:-$(nproc)} pip_install --no-build-isolation \
    -r requirements/mminstall.txt
fi

echo "mmakd: installing mmdet, mmsegmentation, mmrazor, the demo's and test tools, mmakd"
pip_install -r requirements/runtime.txt -r requirements/demo.txt \
  -r requirements/tests.txt
pip_install --no-build-isolation --no-deps -e .

"$PYTHON" tools/check_env.py
