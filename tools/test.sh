#!/usr/bin/env bash
# tools/test.sh - install what is missing, build, and run every test.
#
# Runs the whole suite three times: in the normal build (build/,
# RelWithDebInfo), in a Release build (build-release/, what packagers build;
# unless PT_SKIP_RELEASE=1) and in an AddressSanitizer +
# UndefinedBehaviorSanitizer build (build-asan/, unless PT_SKIP_ASAN=1).
# Every build treats warnings as errors (PT_WERROR=ON).  Exits non-zero if
# any test fails.
set -euo pipefail
cd "$(dirname "$0")/.."
jobs=$(nproc)

tools/setup.sh build -DPT_WERROR=ON
(cd build && ctest --output-on-failure -j"$jobs" --timeout 600)

if [[ "${PT_SKIP_RELEASE:-0}" != 1 ]]; then
  tools/setup.sh build-release -DCMAKE_BUILD_TYPE=Release -DPT_WERROR=ON
  (cd build-release && ctest --output-on-failure -j"$jobs" --timeout 600)
fi

if [[ "${PT_SKIP_ASAN:-0}" != 1 ]]; then
  tools/setup.sh build-asan -DPT_SANITIZE=ON -DCMAKE_BUILD_TYPE=Debug -DPT_WERROR=ON
  # detect_leaks: every allocation the library makes must be freed.
  export ASAN_OPTIONS=detect_leaks=1:abort_on_error=1:halt_on_error=1
  export UBSAN_OPTIONS=halt_on_error=1:print_stacktrace=1
  (cd build-asan && ctest --output-on-failure -j"$jobs" --timeout 900 -LE no-asan)
fi
echo "tools/test.sh: all tests passed"
