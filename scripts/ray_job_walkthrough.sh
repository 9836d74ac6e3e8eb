#!/usr/bin/env bash
# The README's cluster walk-through, for real: a loopback Ray head, a submitted job, the Parquet
# output read back, then the head stopped. Usage: bash scripts/ray_job_walkthrough.sh [CONFIG]
set -euo pipefail
cd "$(dirname "$0")/.."
config=${1:-configs/demo_bitstrings.yaml}
out=$(mktemp -d)/run
# Token auth is on by default in Ray 2.60: head and client must agree on the mode.
export RAY_AUTH_MODE=token
trap 'ray stop --force >/dev/null 2>&1 || true' EXIT
ray start --head --node-ip-address=127.0.0.1 --port=6399 --num-cpus=2 \
  --dashboard-host=127.0.0.1 --dashboard-port=8299 --dashboard-agent-listen-port=52399 \
  --include-dashboard=true --disable-usage-stats >/dev/null
# The job agent comes up a little after the head; until it does, submissions are refused
# ("No available agent") without creating a job, so only that refusal is retried.
for attempt in $(seq 30); do
  if log=$(ray job submit --address http://127.0.0.1:8299 --working-dir . -- \
      python jobs/run_svdd.py --config "$config" --out "$out" 2>&1); then
    echo "$log"
    break
  fi
  echo "$log" | tail -n 3
  if ! grep -q "No available agent" <<<"$log" || [ "$attempt" -eq 30 ]; then
    exit 1
  fi
  sleep 3
done
python - "$out" <<'PY'
import sys, pandas as pd
frame = pd.read_parquet(sys.argv[1])
print(f"read {len(frame)} rows from {sys.argv[1]}; median reward {frame.reward.median():.3f}")
assert len(frame) > 0 and not frame.invalid.all()
PY
