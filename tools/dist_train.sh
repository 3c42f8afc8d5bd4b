#!/usr/bin/env bash
# Distributed training with torchrun: one process per GPU.
#
#   bash tools/dist_train.sh CONFIG GPUS [train.py args...]
#
# Env: NNODES, NODE_RANK, MASTER_ADDR, PORT (see dist_common.sh). Without
# CUDA, GPUS is the number of CPU processes and the backend is gloo.
source "$(dirname "$0")/dist_common.sh"
torchrun_tool train.py "$2" "$1" "${@:3}"
