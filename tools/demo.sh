#!/usr/bin/env bash
# tools/demo.sh - the main job: install what is missing, build, record a
# training run (through the CLI, then a numpy MLP through Python), then show,
# replay and verify it.
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
echo "== provtrace log --kind decision"
$PT log --run "$RUN" --kind decision
echo "== provtrace log --from step=95"
$PT log --run "$RUN" --from step=95
echo "== provtrace replay --at step=70 (the state at step 70, and why)"
$PT replay --run "$RUN" --at step=70

# The main job: a small MLP trained with numpy and recorded through the
# Python binding (params, metrics, LR decisions, async checkpoints, code
# provenance); the example replays itself and checks the restored weights.
# Debian's interpreter: numpy is installed for it (see README).
MLP=mlp-$RUN
echo "== examples/train_numpy.py (recorded as run $MLP)"
PROVTRACE_LIB=$PWD/build/lib/libprovtrace.so PYTHONPATH=$PWD/bindings/python \
  /usr/bin/python3 examples/train_numpy.py --store "$STORE" --run "$MLP"
echo "== provtrace runs"
$PT runs
echo "== provtrace replay --run $MLP --at step=100"
$PT replay --run "$MLP" --at step=100
echo "== provtrace diff --run $MLP --from step=90 --to step=100"
$PT diff --run "$MLP" --from step=90 --to step=100
echo "== provtrace verify"
$PT verify
