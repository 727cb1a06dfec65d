#!/usr/bin/env bash
# One node, N processes (one per GPU; on CPU, gloo). Extra arguments are Hydra overrides.
#   launch/torchrun.sh 8 experiment=df415 prompts.file=/data/df415.txt guidance.path=/models/IF-I-XL-v1.0
set -euo pipefail
nproc=${1:?usage: launch/torchrun.sh NPROC [hydra overrides...]}
shift
exec torchrun --standalone --nnodes=1 --nproc_per_node="$nproc" -m atom.train "$@"
