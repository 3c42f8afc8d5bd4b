#!/usr/bin/env bash
# Distributed training with torchrun: one process per GPU.
#
#   bash tools/dist_train.sh CONFIG GPUS [train.py args...]
#
# Env: NNODES (1), NODE_RANK (0), MASTER_ADDR (127.0.0.1), PORT (29500).
# Multi-node: run on every node with the same NNODES, MASTER_ADDR and PORT and
# that node's NODE_RANK.
#
# CPU (no CUDA): GPUS is the number of processes and the config needs the
# gloo backend, e.g. append --cfg-options env_cfg.dist_cfg.backend=gloo;
# tools/train.py then starts the process group and DDP without CUDA.

CONFIG=$1
GPUS=$2
NNODES=${NNODES:-1}
NODE_RANK=${NODE_RANK:-0}
PORT=${PORT:-29500}
MASTER_ADDR=${MASTER_ADDR:-"127.0.0.1"}

PYTHONPATH="$(dirname $0)/..":$PYTHONPATH \
python -m torch.distributed.run \
    --nnodes=$NNODES \
    --node_rank=$NODE_RANK \
    --master_addr=$MASTER_ADDR \
    --nproc_per_node=$GPUS \
    --master_port=$PORT \
    $(dirname "$0")/train.py \
    $CONFIG \
    --launcher pytorch ${@:3}
