#!/usr/bin/env bash
# Times whole `credwatch scan` runs on generated inputs, the numbers BENCHMARKS.md quotes.
#
#   benches/scan.sh [LINES]        (default 2,000,000 lines per format)
#   ASN_DB=none benches/scan.sh    (without an ASN database)
#
# Every rule is enabled and, as issue #5 sets its targets, an ASN database is loaded: by default
# the whole-internet IPv4 range table of the shared test data (412,000 ranges), ASN_DB=FILE for
# another, ASN_DB=none for none.
#
# Inputs are generated into target/bench-data/ by the sample-log generator's bench mode (never
# committed). Each run is timed three times; the best wall time and the peak RSS are reported,
# next to `grep -c` and `wc -l` on the same file for scale.
set -euo pipefail
cd "$(dirname "$0")/.."
LINES=${1:-2000000}
ASN_DB=${ASN_DB:-../shared/testdata/asn/asn-ipv4.csv.gz}
ASN_ARGS=()
if [ "$ASN_DB" != none ]; then
  [ -f "$ASN_DB" ] || { echo "scan.sh: no ASN database at $ASN_DB (ASN_DB=none to run without)" >&2; exit 2; }
  ASN_ARGS=(--asn-db "$ASN_DB")
fi
DATA=target/bench-data
mkdir -p "$DATA"

cargo build --release --quiet --bin credwatch --example gen-sample-logs
GEN=target/release/examples/gen-sample-logs
BIN=target/release/credwatch

echo "machine: $(nproc) cores, $(lscpu | sed -n 's/^Model name: *//p' | head -1), $(free -g | awk '/Mem:/{print $2}') GiB; $(rustc --version)"
echo "date:    $(date -u +%Y-%m-%d); ASN database: $ASN_DB"
printf '%-6s %10s %8s %8s %12s %9s %9s %10s %10s\n' format lines MB seconds lines/s MB/s RSS_MB grep_c_s wc_l_s

# Output goes to a file, not /dev/null: GNU grep stops at the first match when it sees /dev/null.
best_time() { # prints "seconds max_rss_kb" of the fastest of three runs of "$@"
  local best="" rss=""
  for _ in 1 2 3; do
    /usr/bin/time -f "%e %M" -o "$DATA/.time" "$@" >"$DATA/.out" 2>/dev/null || true
    read -r t m < "$DATA/.time"
    if [ -z "$best" ] || awk "BEGIN{exit !($t < $best)}"; then best=$t; rss=$m; fi
  done
  echo "$best $rss"
}

for fmt in nginx json sshd; do
  f="$DATA/$fmt-$LINES.log"
  [ -s "$f" ] || "$GEN" bench --format "$fmt" --lines "$LINES" --out "$f"
  bytes=$(stat -c %s "$f")
  read -r secs rss < <(best_time "$BIN" scan -q "${ASN_ARGS[@]}" "$f")
  read -r gsecs _ < <(best_time grep -c ' ' "$f")
  read -r wsecs _ < <(best_time wc -l "$f")
  awk -v f="$fmt" -v n="$LINES" -v b="$bytes" -v s="$secs" -v r="$rss" -v g="$gsecs" -v w="$wsecs" 'BEGIN{
    s = (s > 0 ? s : 0.001);
    printf "%-6s %10d %8.1f %8.2f %12.0f %9.1f %9.1f %10.2f %10.2f\n", f, n, b/1e6, s, n/s, b/1e6/s, r/1024, g, w }'
done
