#!/usr/bin/env bash
# Distributed testing with torchrun: one process per GPU.
#
#   bash tools/dist_test.sh CONFIG CHECKPOINT GPUS [test.py args...]
#
# Env: NNODES, NODE_RANK, MASTER_ADDR, PORT (see dist_common.sh). Without
# CUDA, GPUS is the number of CPU processes and the backend is gloo.
source "$(dirname "$0")/dist_common.sh"
torchrun_tool test.py "$3" "$1" "$2" "${@:4}"
