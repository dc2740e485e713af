#!/usr/bin/env bash
# tools/demo.sh - the main job: install what is missing, build, record a
# training run, then show and replay it.
#
# The store is created in ./demo-store (override with PT_DEMO_STORE).
set -euo pipefail
cd "$(dirname "$0")/.."
tools/setup.sh build
PT=build/provtrace
STORE=${PT_DEMO_STORE:-$PWD/demo-store}
export PROVTRACE_STORE=$STORE
RUN=demo-$(date -u +%Y%m%d-%H%M%S)

$PT init "$STORE" || true
echo "== recording run $RUN through 'provtrace emit'"
{
  echo '{"kind":"run_start","script":"demo","seed":42}'
  echo '{"kind":"param","name":"lr","value":0.01}'
  echo '{"kind":"param","name":"batch_size","value":64}'
  for s in $(seq 0 99); do
    echo "{\"kind\":\"metric\",\"name\":\"loss\",\"step\":$s,\"value\":$(awk "BEGIN{print 2.0/($s+1)}")}"
    if [[ $s == 60 ]]; then
      echo '{"kind":"decision","name":"lr","step":60,"set":{"lr":0.001},"reason":"plateau: loss flat for 10 steps","actor":"ReduceLROnPlateau"}'
    fi
  done
  echo '{"kind":"run_end","status":"ok"}'
} | $PT emit --run "$RUN"
echo "== provtrace runs"
$PT runs
echo "== provtrace log --kind decision"
$PT log --run "$RUN" --kind decision
echo "== provtrace log --from step=95"
$PT log --run "$RUN" --from step=95
echo "== provtrace verify"
$PT verify
