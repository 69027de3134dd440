#!/usr/bin/env bash
# The main job: set up the machine (idempotent), then run the agent with `cua run`.
#
#   bash scripts/run.sh                                  demo: a tiny model, taught here in seconds
#                                                        to solve a built-in task, runs it end to end
#   CUA_MODEL=DIR bash scripts/run.sh "INSTRUCTION" APP  your local checkpoint (CUA_FORMAT, default ui-tars-1.5)
#   CUA_ENDPOINT=URL CUA_MODEL_NAME=NAME bash scripts/run.sh "INSTRUCTION" APP
#                                                        an OpenAI-compatible server (CUA_API_KEY_ENV=VAR)
# Runs are recorded under out/runs; the demo also writes out/demo-run.log and out/demo-run.html.
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

TASK="${CUA_DEMO_TASK:-galculator.press-digit/0}"
MODEL=".cache/demo-model/$(echo "$TASK" | tr '/.' '__')"
if [ ! -f "$MODEL/imitation.json" ]; then
  echo "building the demo model for $TASK (a tiny Qwen2.5-VL taught by imitating the task's oracle) ..."
  rm -rf "$MODEL"
  .venv/bin/python scripts/build_demo_model.py "$MODEL" --task "$TASK"
fi
read -r MIN MAX < <(.venv/bin/python -c "import json,sys; d=json.load(open(sys.argv[1])); print(d['min_pixels'], d['max_pixels'])" "$MODEL/imitation.json")
# The run's output goes to our stdout as it happens and to a log we read the run id from. Never
# `tee /dev/stderr` (or /dev/fd/N): that reopens the file behind the descriptor, and when the
# caller redirected to a file (`bash scripts/run.sh > setup.log 2>&1`) tee truncates it.
mkdir -p out
"$CUA" run --task "$TASK" --model "$MODEL" --min-pixels "$MIN" --max-pixels "$MAX" --batch --data-dir "$DATA" \
  | tee out/demo-run.log
run_id=$(sed -n 's/^run id: \([^ ]*\).*/\1/p' out/demo-run.log)
"$CUA" runs export "$run_id" --html out/demo-run.html --data-dir "$DATA"
echo "report: $(pwd)/out/demo-run.html   all runs: $CUA runs list --data-dir $DATA"
