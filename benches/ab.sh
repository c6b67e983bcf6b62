#!/usr/bin/env bash
# Alternating whole runs of two or more credwatch builds on one input, for before/after figures
# on a noisy machine: each round runs every build once, so a slow spell hits all of them alike.
#
#   benches/ab.sh ROUNDS INPUT BIN [BIN ...] [-- SCAN_ARGS ...]
#   benches/ab.sh 4 target/bench-data/json-2000000.log /tmp/credwatch-before target/release/credwatch
#
# Prints, per build, the wall seconds and the CPU seconds (user + system) of every round.
set -euo pipefail
[ $# -ge 3 ] || { sed -n '2,8p' "$0" >&2; exit 2; }
rounds=$1 input=$2
shift 2
bins=()
while [ $# -gt 0 ] && [ "$1" != -- ]; do bins+=("$1"); shift; done
[ "${1:-}" = -- ] && shift
declare -A wall cpu
t=$(mktemp)
for _ in $(seq "$rounds"); do
  for b in "${bins[@]}"; do
    /usr/bin/time -f "%e %U %S" -o "$t" "$b" scan -q "$@" "$input" > /dev/null 2>&1
    read -r w u s < "$t"
    wall[$b]="${wall[$b]:-} $w"
    cpu[$b]="${cpu[$b]:-} $(awk -v u="$u" -v s="$s" 'BEGIN{printf "%.2f", u + s}')"
  done
done
rm -f "$t"
for b in "${bins[@]}"; do echo "$b  wall:${wall[$b]}  cpu:${cpu[$b]}"; done
