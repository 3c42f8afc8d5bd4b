# Sourced by dist_train.sh and dist_test.sh: runs a tool of this folder with
# torchrun, one process per GPU (per CPU process on a machine without CUDA,
# where tools/train.py chooses the gloo backend).
#
#   torchrun_tool TOOL NPROC [TOOL ARGS...]
#
# Env: NNODES (1), NODE_RANK (0), MASTER_ADDR (127.0.0.1), PORT (29500).
# Multi-node: run on every node with the same NNODES, MASTER_ADDR and PORT and
# that node's NODE_RANK.
torchrun_tool() {
  local tools_dir
  tools_dir=$(dirname "${BASH_SOURCE[0]}")
  local tool=$1 nproc=$2
  shift 2
  PYTHONPATH="$tools_dir/..${PYTHONPATH:+:$PYTHONPATH}" \
  python -m torch.distributed.run \
    --nnodes="${NNODES:-1}" \
    --node_rank="${NODE_RANK:-0}" \
    --master_addr="${MASTER_ADDR:-127.0.0.1}" \
    --nproc_per_node="$nproc" \
    --master_port="${PORT:-29500}" \
    "$tools_dir/$tool" "$@" --launcher pytorch
}
