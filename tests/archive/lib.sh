# lib.sh - shared by the archive script tests: $1 of each test is the provtrace binary.
set -eu
P=$1
T=$(mktemp -d /tmp/pt-archive-test.XXXXXX)
trap 'rm -rf "$T"' EXIT
export PROVTRACE_STORE=$T/store
unset PROVTRACE_NOW || true
fail() { echo "FAIL: $*" >&2; exit 1; }
# emit_segment RUN DAY N: N metric events on 2026-11-DAY, one sealed segment
emit_segment() {
	local run=$1 day=$2 n=$3 k
	for k in $(seq 1 "$n"); do
		printf '{"kind":"metric","name":"loss","step":%d,"value":%d.5,"time":"2026-11-%02dT10:%02d:%02dZ"}\n' \
			"$((day * 10000 + k))" "$k" "$day" "$((k / 60 % 60))" "$((k % 60))"
	done | "$P" emit --run "$run" >/dev/null
}
