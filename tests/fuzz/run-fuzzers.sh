#!/bin/sh
# SPDX-License-Identifier: LGPL-2.1-or-later
# Runs every libFuzzer target of BUILDDIR for SECONDS each on a copy of its seed corpus; fails on any crash.
#
#   CC=clang meson setup build-fuzz -Dfuzzing=enabled && meson compile -C build-fuzz
#   tests/fuzz/run-fuzzers.sh build-fuzz 60
#
# A crash leaves its input in ARTIFACTS (default: BUILDDIR/fuzz-artifacts/<date-time>) and
# prints it in hex; minimise it, add it to tests/fuzz/<target>/ as crash-<what>,
# and the fuzz-replay tests keep it fixed in every build.
set -eu

if [ $# -ne 2 ]; then
	echo "usage: $0 BUILDDIR SECONDS" >&2
	exit 2
fi
builddir=$1
seconds=$2
case $seconds in
'' | *[!0-9]*)
	echo "$0: SECONDS must be a whole number, not '$seconds'" >&2
	exit 2
	;;
esac
srcdir=$(cd "$(dirname "$0")" && pwd)
artifacts=${ARTIFACTS:-$builddir/fuzz-artifacts/$(date +%Y%m%d-%H%M%S)}
# The codec's targets must be there; any other fuzz-NAME under BUILDDIR/tests
# (the plan parser's, ...) runs too, on its corpus tests/fuzz/NAME/.
codec_targets="telemetry session-event control-request control-response pen-status pen-features battery-adv"
for target in $codec_targets; do
	if [ ! -x "$builddir/tests/fuzz/fuzz-$target" ]; then
		echo "$0: $builddir/tests/fuzz/fuzz-$target not built: configure with CC=clang and -Dfuzzing=enabled" >&2
		exit 2
	fi
done
fuzzers=$(find "$builddir/tests" -type f -perm -u+x -name 'fuzz-*' ! -name 'fuzz-replay-*' ! -name 'fuzz-*-replay' |
	sort)

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT INT TERM
mkdir -p "$artifacts"
failed=""

# Runs one fuzzer on a copy of its corpus; leaves "$work/$target.failed" behind on a crash.
run_one() {
	fuzzer=$1
	target=${fuzzer##*/fuzz-}
	# A copy: libFuzzer adds what it finds to the first corpus folder.
	mkdir -p "$work/$target"
	if [ -d "$srcdir/$target" ]; then
		cp -r "$srcdir/$target/." "$work/$target/"
	else
		echo "$0: warning: no seed corpus $srcdir/$target, starting from nothing" >&2
	fi
	if ! "$fuzzer" -max_total_time="$seconds" -timeout=10 -rss_limit_mb=2048 \
		-artifact_prefix="$artifacts/$target-" -print_final_stats=1 \
		"$work/$target" >"$work/$target.log" 2>&1; then
		touch "$work/$target.failed"
	fi
}

# FUZZ_JOBS fuzzers at a time (default: one per core), each for SECONDS.
jobs=${FUZZ_JOBS:-$(nproc)}
running=0
for fuzzer in $fuzzers; do
	echo "== fuzz-${fuzzer##*/fuzz-}: $seconds s"
	run_one "$fuzzer" &
	running=$((running + 1))
	if [ "$running" -ge "$jobs" ]; then
		wait
		running=0
	fi
done
wait

for fuzzer in $fuzzers; do
	target=${fuzzer##*/fuzz-}
	if [ -f "$work/$target.failed" ]; then
		failed="$failed $target"
		echo "== fuzz-$target crashed:" >&2
		tail -n 40 "$work/$target.log" >&2
		for crash in "$artifacts/$target-"*; do
			[ -f "$crash" ] || continue
			echo "input $crash:" >&2
			od -An -tx1 -v "$crash" >&2
		done
	else
		printf '== fuzz-%s: ' "$target"
		grep -E '^stat::number_of_executed_units' "$work/$target.log" || echo
	fi
done

if [ -n "$failed" ]; then
	echo "$0: crashes in:$failed (inputs in $artifacts)" >&2
	exit 1
fi
echo "$0: no crash in $seconds s per target"
