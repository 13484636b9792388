#!/usr/bin/env bash
# The parity suites on a vector set made from another CIFAR ResNet depth (docs/parity.md).
#
# 1. bench/torch/parity.py makes the set again from ResNet-20 and compares it with the shipped one
#    (../shared/parity): it must agree to float32 rounding (relative 1e-5), or the script's recipe
#    is not the shipped set's.
# 2. It makes the set for MODEL (default cifar10_resnet56) from the same inputs.
# 3. Every test that reads parity files (test/*.test.ts importing ./helpers/parity) runs against
#    that set through NATINV_PARITY_DIR, on the backend NATINV_BACKEND names (default cpu).
#
# Usage: bench/parity-other-depth.sh [MODEL] [extra jest arguments]
#   npm run parity:other-depth
#   NATINV_BACKEND=tensorflow npm run parity:other-depth -- cifar10_resnet32
# PYTHON (default .venv/bin/python) needs torch; NATINV_SHARED_DIR overrides ../shared.
set -euo pipefail
cd "$(dirname "$0")/.."

model=${1:-cifar10_resnet56}
shift $(($# > 0 ? 1 : 0))
python=${PYTHON:-.venv/bin/python}
shared=${NATINV_SHARED_DIR:-$(cd .. && pwd)/shared}
work=$(mktemp -d "${TMPDIR:-/tmp}/natinv-parity.XXXXXX")
trap 'rm -rf "$work"' EXIT

echo "== the recipe reproduces the shipped set (cifar10_resnet20)"
"$python" bench/torch/parity.py --model cifar10_resnet20 --inputs "$shared/parity" --out "$work/cifar10_resnet20" >/dev/null
"$python" bench/torch/parity.py --compare "$work/cifar10_resnet20" "$shared/parity" --tolerance 1e-5

echo "== the set for $model"
"$python" bench/torch/parity.py --model "$model" --inputs "$shared/parity" --out "$work/$model"

mapfile -t tests < <(grep -l "from './helpers/parity'" test/*.test.ts)
echo "== ${#tests[@]} parity test files on ${NATINV_BACKEND:-cpu} against $model"
NATINV_PARITY_DIR="$work/$model" npx jest "${tests[@]}" "$@"
