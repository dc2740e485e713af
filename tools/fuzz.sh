#!/usr/bin/env bash
# tools/fuzz.sh [SECONDS] [TARGET...] - build the libFuzzer targets (clang,
# ASan+UBSan, build-fuzz/) and run each for SECONDS (default 600), one at a
# time.  The working corpus of each target starts from tests/fuzz/corpus/<t>/
# and grows in build-fuzz/fuzz-corpus/<t>/; crashes land in
# build-fuzz/fuzz-artifacts/<t>/.  A Markdown summary (executions, coverage,
# findings per target) is printed and kept in build-fuzz/fuzz-summary.md for
# docs/RELIABILITY.md.  Every crash must be copied into tests/fuzz/corpus/<t>/
# (ctest then replays it forever) and fixed.
#
#   tools/fuzz.sh --seeds   regenerate tests/fuzz/corpus/*/seed-* (after a format change)
#   PT_FUZZ_JOBS=N          run N targets at once (default 1: the machine is shared)
set -euo pipefail
cd "$(dirname "$0")/.."
root=$PWD

if [[ "${1:-}" == "--seeds" ]]; then
  cmake -S . -B build >/dev/null && make -C build fuzz_gen_seeds >/dev/null
  build/tests/fuzz_gen_seeds tests/fuzz/corpus
  echo "seeds written to tests/fuzz/corpus/*/seed-*"
  exit 0
fi

secs=${1:-600}
shift || true
CC=clang cmake -S . -B build-fuzz -DPT_FUZZ=ON -DCMAKE_BUILD_TYPE=RelWithDebInfo >/dev/null
targets=("$@")
if [[ ${#targets[@]} -eq 0 ]]; then
  for f in tests/fuzz/fuzz_*.c; do t=${f##*/fuzz_}; targets+=("${t%.c}"); done
fi
make -C build-fuzz -j2 "${targets[@]/#/fuzz-}" >/dev/null

# Targets that write files work in TMPDIR: a RAM disk makes each execution cheap.
if [[ -d /dev/shm && -w /dev/shm ]]; then export TMPDIR=/dev/shm; fi
export ASAN_OPTIONS=detect_leaks=1:abort_on_error=1
export UBSAN_OPTIONS=halt_on_error=1:print_stacktrace=1

summary=build-fuzz/fuzz-summary.md
{
  echo "| target | seconds | executions | exec/s | coverage (edges) | corpus | findings |"
  echo "|---|---:|---:|---:|---:|---:|---|"
} > "$summary"

run_one() {
  local t=$1 corpus=build-fuzz/fuzz-corpus/$1 art=build-fuzz/fuzz-artifacts/$1 log=build-fuzz/fuzz-$1.log
  mkdir -p "$corpus" "$art"
  # -max_len: segments need room for several batches; the rest are small.
  local maxlen=8192
  [[ $t == segment || $t == object ]] && maxlen=65536
  local before; before=$(ls "$art" | wc -l)
  set +e
  build-fuzz/tests/fuzz-"$t" -max_total_time="$secs" -max_len=$maxlen -timeout=20 -rss_limit_mb=2048 \
    -print_final_stats=1 -artifact_prefix="$art/" "$corpus" "tests/fuzz/corpus/$t" > "$log" 2>&1
  local rc=$?
  set -e
  local execs rate cov units found
  execs=$(grep -Eo 'stat::number_of_executed_units: *[0-9]+' "$log" | grep -Eo '[0-9]+$' || echo "?")
  rate=$(grep -Eo 'stat::average_exec_per_sec: *[0-9]+' "$log" | grep -Eo '[0-9]+$' || echo "?")
  cov=$(grep -Eo 'cov: [0-9]+' "$log" | tail -1 | grep -Eo '[0-9]+' || echo "?")
  units=$(ls "$corpus" | wc -l)
  found=$(( $(ls "$art" | wc -l) - before ))
  local what="none"
  if [[ $rc -ne 0 || $found -gt 0 ]]; then
    what="**$found new artifact(s), exit $rc** — see $log"
  fi
  echo "| $t | $secs | $execs | $rate | $cov | $units | $what |" >> "$summary"
  echo "fuzz $t: $execs executions, cov $cov, findings: $what" >&2
}

for t in "${targets[@]}"; do
  run_one "$t"
done
cat "$summary"
