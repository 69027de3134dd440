#!/usr/bin/env bash
# The main job: set up the machine (idempotent), then run the agent with `cua run`.
#
#   bash scripts/run.sh ["INSTRUCTION" APP]              the bundled policy (shipped in cua/policies/weights,
#                                                        trained only on tasks the agent synthesized itself)
#                                                        on a real instruction; default: press 7 in galculator
#   CUA_MODEL=DIR bash scripts/run.sh "INSTRUCTION" APP  your local checkpoint (CUA_FORMAT, default ui-tars-1.5)
#   CUA_ENDPOINT=URL CUA_MODEL_NAME=NAME bash scripts/run.sh "INSTRUCTION" APP
#                                                        an OpenAI-compatible server (CUA_API_KEY_ENV=VAR)
# Runs are recorded under out/runs; the bundled run also writes out/run.log and out/run.html.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup_system.sh
bash scripts/setup_python.sh
CUA=.venv/bin/cua
FORMAT="${CUA_FORMAT:-ui-tars-1.5}"
DATA=out/runs

if [ -n "${CUA_MODEL:-}" ] || [ -n "${CUA_ENDPOINT:-}" ]; then
  if [ $# -lt 2 ]; then
    echo "usage: CUA_MODEL=DIR bash scripts/run.sh \"INSTRUCTION\" APP  (apps: $CUA sandbox profiles)" >&2
    exit 2
  fi
  if [ -n "${CUA_MODEL:-}" ]; then
    exec "$CUA" run "$1" --app "$2" --model "$CUA_MODEL" --format "$FORMAT" --data-dir "$DATA"
  fi
  extra=()
  if [ -n "${CUA_API_KEY_ENV:-}" ]; then extra=(--api-key-env "$CUA_API_KEY_ENV"); fi
  exec "$CUA" run "$1" --app "$2" --endpoint "$CUA_ENDPOINT" --model-name "${CUA_MODEL_NAME:?set CUA_MODEL_NAME}" \
    --format "$FORMAT" --data-dir "$DATA" "${extra[@]}"
fi

DEFAULT_INSTRUCTION="Press the button 7 on the calculator."
DEFAULT_APP=galculator
# The run's output goes to our stdout as it happens and to a log we read the run id from. Never
# `tee /dev/stderr` (or /dev/fd/N): that reopens the file behind the descriptor, and when the
# caller redirected to a file (`bash scripts/run.sh > setup.log 2>&1`) tee truncates it.
mkdir -p out
"$CUA" run "${1:-$DEFAULT_INSTRUCTION}" --app "${2:-$DEFAULT_APP}" --batch --data-dir "$DATA" | tee out/run.log
run_id=$(sed -n 's/^run id: \([^ ]*\).*/\1/p' out/run.log)
"$CUA" runs export "$run_id" --html out/run.html --data-dir "$DATA"
echo "report: $(pwd)/out/run.html   all runs: $CUA runs list --data-dir $DATA"
