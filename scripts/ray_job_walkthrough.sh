#!/usr/bin/env bash
# The README's cluster walk-through, for real: a loopback Ray head, a submitted job, the Parquet
# output read back, then the head stopped. Usage: bash scripts/ray_job_walkthrough.sh [CONFIG]
#
# Only the head this script starts is stopped (never `ray stop`, which stops every Ray on the host):
# the head gets its own --temp-dir, and at exit the processes whose command line names that
# directory (GCS, raylet, dashboard, monitors) are stopped with all their descendants (agents,
# workers, the job's driver).
set -euo pipefail
cd "$(dirname "$0")/.."
config=${1:-configs/demo_bitstrings.yaml}
out=$(mktemp -d)/run
ray_tmp=$(mktemp -d /tmp/svdd-ray-head-XXXXXX) # short: Ray's socket paths live under it
# Token auth is on by default in Ray 2.60: head and client must agree on the mode.
export RAY_AUTH_MODE=token

# Stop the processes of this head only: SIGTERM, then SIGKILL what is left after 5 s.
stop_head() { python -m svdd_ray.engine.ray_processes stop "$ray_tmp" || true; }
# Its logs stay in $ray_tmp when the walk-through fails.
trap 'status=$?; stop_head; [ "$status" -ne 0 ] || rm -rf "$ray_tmp"' EXIT

# Ray turns --node-ip-address=127.0.0.1 into the host's routable IP unless it runs local-only
# (RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER=0); with a loopback node IP every server binds to 127.0.0.1.
RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER=0 ray start --head --node-ip-address=127.0.0.1 --port=6399 --num-cpus=2 \
  --temp-dir="$ray_tmp" --dashboard-host=127.0.0.1 --dashboard-port=8299 --dashboard-agent-listen-port=52399 \
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
# The head listens on loopback only.
python -m svdd_ray.engine.ray_processes check-loopback "$ray_tmp"
