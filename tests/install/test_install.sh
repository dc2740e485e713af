#!/bin/bash
# `cmake --install` gives a usable library: headers, a relocatable
# provtrace.pc, the shared library and the CLI; a program builds with
# pkg-config alone and runs.
set -euo pipefail
BUILD=$1
T=$(mktemp -d)
trap 'rm -rf "$T"' EXIT
cmake --install "$BUILD" --prefix "$T/prefix" >/dev/null
export PKG_CONFIG_PATH=$(dirname "$(find "$T/prefix" -name provtrace.pc)")
cat >"$T/use.c" <<'C'
#include <provtrace.h>
#include <stdio.h>
int main(int argc, char **argv)
{
	pt_store *st;
	pt_recorder *rec;
	if (pt_store_init(&st, argv[1]) || pt_recorder_open(&rec, st, "r", NULL, NULL) ||
	    pt_recorder_metric(rec, "loss", 0.5, 1) || pt_recorder_close(rec)) {
		fprintf(stderr, "%s\n", pt_error_last());
		return 1;
	}
	pt_store_free(st);
	printf("ok %s\n", pt_version());
	return 0;
}
C
# shellcheck disable=SC2046
cc "$T/use.c" -o "$T/use" $(pkg-config --cflags --libs provtrace) -Wl,-rpath,"$(pkg-config --variable=libdir provtrace)"
"$T/use" "$T/store" | grep -q '^ok '
"$T/prefix/bin/provtrace" --store "$T/store" verify | grep -q OK
echo "install ok"
