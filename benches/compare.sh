#!/usr/bin/env bash
# Peers side by side (issue 5, item 3; not part of CI): one generated nginx log, timed through
# credwatch, CrowdSec (replay mode, offline, its own local API only), fail2ban-regex, and grep /
# awk / wc for scale, in one run. Prints a Markdown table (tool, version, input lines, wall
# seconds, lines/s, time per line relative to credwatch = credwatch's lines/s over the tool's,
# what it flagged) on stdout; raw outputs stay in target/compare/. fail2ban's bans are computed
# from fail2ban-regex's matches with a jail's defaults (maxretry 5, findtime 10m, bantime 10m).
#
#   benches/compare.sh                         (defaults below)
#   LINES=1000000 FLOOD=20000 CS_LINES=50000 benches/compare.sh
#
# LINES     lines of ordinary shop traffic from the generator's bench mode; one address
#           (167.99.23.145) fills half the lines between 40 % and 45 % with failed logins.
# FLOOD     lines of a residential-proxy list attack merged in by time 10 s before that burst:
#           every line a failed POST /login from a different address (--flood mode).
# CS_LINES  CrowdSec reads only this many lines (it is slow), twice: the window of the same file
#           that starts with the flood and runs into the burst (so it sees both attacks), and the
#           file's first lines (ordinary traffic). Its lines/s comes from those slices and the
#           full-file time is extrapolated; the output says so.
# ASN_DB    ASN database for credwatch (default: the shared test data next to the crate).
# CS_PORT   port of CrowdSec's local API on 127.0.0.1 during the replay (default 18089).
#
# Needs: Debian/Ubuntu (apt-get; installs crowdsec and fail2ban when missing, with sudo unless
# root), cargo, python3 (a fail2ban dependency). No network beyond the Debian mirror: CrowdSec
# gets a private config under target/compare/crowdsec/ built from the offline hub the package
# ships, and never talks to its central API.
set -euo pipefail
cd "$(dirname "$0")/.."
export LC_ALL=C

LINES=${LINES:-1000000}
FLOOD=${FLOOD:-20000}
CS_LINES=${CS_LINES:-50000}
ASN_DB=${ASN_DB:-../shared/testdata/asn/asn-ipv4.csv.gz}
CS_PORT=${CS_PORT:-18089}
OUT=target/compare
mkdir -p "$OUT"
OUT_ABS=$(cd "$OUT" && pwd)

say() { echo "compare.sh: $*" >&2; }
AWK_COMMAS='function commas(n,  s, r) { s = sprintf("%d", n); r = ""; while (length(s) > 3) { r = "," substr(s, length(s) - 2) r; s = substr(s, 1, length(s) - 3) } return s r }'
commas() { awk "$AWK_COMMAS"' BEGIN { print commas(ARGV[1]) }' "$1"; }
die() { say "$*"; exit 1; }

# --- packages ------------------------------------------------------------------------------------
SUDO=""
if [ "$(id -u)" -ne 0 ]; then
  command -v sudo >/dev/null || die "not root and no sudo: install crowdsec and fail2ban first"
  SUDO="sudo"
fi

# CrowdSec's postinst registers with the central API (api.crowdsec.net) and fails offline. Its
# README.Debian documents the opt-out: an online_api_credentials.yaml holding a comment before
# the package is configured. Written only where no such file exists yet.
crowdsec_offline_optout() {
  local f=/etc/crowdsec/online_api_credentials.yaml
  if ! $SUDO test -s "$f"; then
    $SUDO mkdir -p /etc/crowdsec
    echo "# no central API: set up offline by credwatch benches/compare.sh (see README.Debian)" |
      $SUDO tee "$f" >/dev/null
  fi
}

need_install=0
command -v crowdsec >/dev/null && command -v cscli >/dev/null || need_install=1
command -v fail2ban-regex >/dev/null || need_install=1
if [ "$need_install" = 1 ]; then
  command -v crowdsec >/dev/null || crowdsec_offline_optout
  say "installing crowdsec and fail2ban with apt-get"
  if ! $SUDO env DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends \
      crowdsec fail2ban >&2; then
    $SUDO apt-get update >&2 || true
    $SUDO env DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends \
      crowdsec fail2ban >&2 || say "apt-get reported an error; checking the binaries anyway"
  fi
fi
# A crowdsec left half-configured by an earlier online-registration failure: finish it offline.
if dpkg-query -W -f='${Status}' crowdsec 2>/dev/null | grep -q half-configured; then
  crowdsec_offline_optout
  $SUDO dpkg --configure crowdsec >&2 || say "dpkg --configure crowdsec failed; the replay does not need it"
fi
for b in crowdsec cscli fail2ban-regex python3 cargo; do
  command -v "$b" >/dev/null || die "$b not found"
done

# --- credwatch and the input ---------------------------------------------------------------------
cargo build --release --quiet --bin credwatch --example gen-sample-logs
GEN=target/release/examples/gen-sample-logs
BIN=target/release/credwatch

LOG="$OUT/shop-$LINES+flood-$FLOOD.log"
FLOOD_LOG="$OUT/flood-$LINES+$FLOOD.log" # the flood, moved in time, before the merge
FLOOD_ONLY="$OUT/flood-only-addresses-$LINES+$FLOOD.txt" # flood addresses absent from the shop traffic
ATTACKER=167.99.23.145 # the generator's burst address
if [ ! -s "$LOG" ] || [ ! -s "$FLOOD_ONLY" ] || [ ! -s "$FLOOD_LOG" ]; then
  say "generating $LOG"
  "$GEN" bench --format nginx --lines "$LINES" --out "$OUT/base.log" 2>/dev/null
  "$GEN" bench --format nginx --lines "$FLOOD" --flood --out "$OUT/flood-t0.log" 2>/dev/null
  # The flood starts at the generator's t0 (00:00:00 local); move it to 10 s before the burst
  # so that both attacks lie in CrowdSec's window. Same day, so HH:MM:SS arithmetic suffices.
  burst_line=$((LINES * 40 / 100 + 1))
  burst_hms=$(sed -n "${burst_line}p" "$OUT/base.log" | sed -E 's/^[^[]*\[[^:]*:([0-9:]{8}).*/\1/')
  awk -v start="$burst_hms" '
    function secs(s,  p) { split(s, p, ":"); return p[1] * 3600 + p[2] * 60 + p[3] }
    BEGIN { shift = secs(start) - 10 }
    {
      i = index($0, "["); hms = substr($0, i + 13, 8); t = secs(hms) + shift
      if (t < 0 || t >= 86400) { print "flood shift leaves the day" > "/dev/stderr"; exit 1 }
      printf "%s%02d:%02d:%02d%s\n", substr($0, 1, i + 12), int(t / 3600), int(t % 3600 / 60), t % 60, substr($0, i + 21)
    }' "$OUT/flood-t0.log" > "$FLOOD_LOG"
  # Both inputs are in time order; merge on the "dd/Mon/yyyy:HH:MM:SS" after the '['.
  sort -m -s -t '[' -k2.1,2.20 "$OUT/base.log" "$FLOOD_LOG" > "$LOG.tmp"
  mv "$LOG.tmp" "$LOG"
  # A few flood addresses also occur in the ordinary traffic (1.0.0.0 does); they count as ordinary.
  awk 'NR == FNR { seen[$1] = 1; next } !($1 in seen) { print $1 }' "$OUT/base.log" "$FLOOD_LOG" > "$FLOOD_ONLY"
  rm -f "$OUT/base.log" "$OUT/flood-t0.log"
fi
TOTAL=$(wc -l < "$LOG")
flood_first=$(sed -n 1p "$FLOOD_LOG" | sed -E 's/^[^[]*(\[[^ ]*) .*/\1/')
CS_START=$(grep -n -m1 -F "$flood_first " "$LOG" | cut -d: -f1)
[ -n "$CS_START" ] || die "flood not found in $LOG"
CS_END=$((CS_START + CS_LINES - 1))
[ "$CS_END" -le "$TOTAL" ] || CS_END=$TOTAL
CS_LOG="$OUT/crowdsec-window.log"
sed -n "${CS_START},${CS_END}p" "$LOG" > "$CS_LOG"
CS_N=$(wc -l < "$CS_LOG")
hms() { sed -E 's/^[^[]*\[[^:]*:([0-9:]{8}).*/\1/' | awk -F: '{print $1 * 3600 + $2 * 60 + $3}'; }
first_burst=$(grep -m1 -F "$ATTACKER " "$CS_LOG" || true)
BURST_S=-1 # seconds of the burst inside CrowdSec's window; -1: the window does not reach it
[ -z "$first_burst" ] || BURST_S=$(($(tail -n1 "$CS_LOG" | hms) - $(echo "$first_burst" | hms)))

# --- timing --------------------------------------------------------------------------------------
# best REPS FN: runs FN REPS times, prints the fastest wall time in seconds ($EPOCHREALTIME).
best() {
  local reps=$1 b="" t0 t1 d
  shift
  for ((i = 0; i < reps; i++)); do
    t0=$EPOCHREALTIME
    "$@"
    t1=$EPOCHREALTIME
    d=$(awk -v a="$t0" -v b="$t1" 'BEGIN{printf "%.3f", b - a}')
    if [ -z "$b" ] || awk -v d="$d" -v b="$b" 'BEGIN{exit !(d < b)}'; then b=$d; fi
  done
  echo "$b"
}

ROWS="$OUT/rows.tsv"
: > "$ROWS"
row() { printf '%s\t%s\t%s\t%s\t%s\n' "$@" >> "$ROWS"; } # tool version lines secs flagged

cat "$LOG" > /dev/null # page cache
LOAD_START=$(cut -d' ' -f1-3 /proc/loadavg)

# credwatch
ASN_ARGS=()
if [ -f "$ASN_DB" ]; then ASN_ARGS=(--asn-db "$ASN_DB"); else say "no ASN database at $ASN_DB: stuffing.asn cannot fire"; fi
run_credwatch() { "$BIN" scan -q "${ASN_ARGS[@]}" -o "$OUT/credwatch.alerts.jsonl" "$LOG"; }
say "credwatch"
cw_s=$(best 3 run_credwatch)
cw_flag=$(python3 - "$OUT/credwatch.alerts.jsonl" <<'PY'
import json, sys, collections
by_rule = collections.OrderedDict()
for line in open(sys.argv[1]):
    a = json.loads(line)
    by_rule.setdefault(a["rule"], []).append(a["entity"]["value"])
parts = []
for rule, ents in by_rule.items():
    distinct = sorted(set(ents))
    what = ", ".join(distinct[:2]) + (f" +{len(distinct) - 2} more" if len(distinct) > 2 else "")
    kind = "ASNs" if rule.endswith(".asn") else "entities"
    parts.append(f"{rule} ×{len(ents)} ({len(distinct)} {kind}: {what})" if len(distinct) > 1
                 else f"{rule} ×{len(ents)} ({what})")
print("; ".join(parts) or "nothing")
PY
)
row "credwatch (all rules, ASN db)" "$("$BIN" --version | awk '{print $2}')" "$TOTAL" "$cw_s" "$cw_flag"

# fail2ban: fail2ban-regex with a shop's filter for failed form logins, then the bans a jail with
# fail2ban's defaults (maxretry 5, findtime 10m, bantime 10m) would have issued.
F2B_FILTER="$OUT_ABS/fail2ban-shop-login.conf"
cat > "$F2B_FILTER" <<'EOF'
# Failed form logins on a shop (written by benches/compare.sh): POST /login answered 401 or 403.
[Definition]
failregex = ^<HOST> \S+ \S+ \[[^\]]*\] "POST /login(?:\?[^" ]*)? HTTP/[0-9.]+" (?:401|403) 
ignoreregex =
datepattern = ^[^\[]*\[({DATE})
EOF
run_f2b() { fail2ban-regex -o row "$LOG" "$F2B_FILTER" > "$OUT/fail2ban.rows"; }
say "fail2ban-regex (one run)"
f2b_s=$(best 1 run_f2b)
f2b_flag=$(awk -v q="'" -v attacker="$ATTACKER" -v maxretry=5 -v findtime=600 -v bantime=600 "$AWK_COMMAS"'
  FNR == NR { flood[$1] = 1; nflood++; next } # the flood-only addresses
  { split($0, f, "\t"); ip = f[1]; sub(/^\[/, "", ip); gsub(q, "", ip); sub(/,$/, "", ip)
    t = f[2]; gsub(/[ ,]/, "", t); t += 0; matched++
    if (t < until[ip]) next                       # banned: a jail would not see these
    n = cnt[ip]; hist[ip, n % maxretry] = t; cnt[ip] = n + 1
    if (n + 1 >= maxretry && t - hist[ip, (n + 1) % maxretry] <= findtime) {
      bans++; banned[ip]++; until[ip] = t + bantime; cnt[ip] = 0
    } }
  END { for (ip in banned) { d++; if (ip == attacker) a++; else if (ip in flood) fl++; else o++ }
        printf "%s failed-login lines matched; would ban %s address%s (%s ban%s) at maxretry 5 / findtime 10m: %s, %s of the %s flood-only addresses, %s other address%s",
          commas(matched), commas(d), (d == 1 ? "" : "es"), commas(bans), (bans == 1 ? "" : "s"), (a ? "the burst'"'"'s " attacker : "not the burst'"'"'s address"),
          commas(fl), commas(nflood), commas(o), (o == 1 ? "" : "es") " of the ordinary traffic (5 failures in 10 min)" }' \
  "$FLOOD_ONLY" "$OUT/fail2ban.rows")
row "fail2ban-regex (shop login filter)" "$(fail2ban-regex -V)" "$TOTAL" "$f2b_s" "$f2b_flag"

# CrowdSec: a private config dir, the nginx collection (with base-http-scenarios and http-cve)
# plus the parsers Debian's default linux collection brings for non-syslog files (syslog-logs
# holds the non-syslog stage, dateparse-enrich takes time from the log, whitelists), enabled as
# cscli would: symlinks into a copy of the package's offline hub. Rebuilt on every run so the
# local API's database starts empty.
CS="$OUT_ABS/crowdsec"
rm -rf "$CS"
mkdir -p "$CS/data"
cp -r /usr/share/crowdsec/hub "$CS/hub"
cp /usr/share/crowdsec/data/* "$CS/data/"
cp -r /etc/crowdsec/patterns "$CS/patterns"
cp /etc/crowdsec/profiles.yaml "$CS/profiles.yaml"
echo "simulation: off" > "$CS/simulation.yaml"
: > "$CS/acquis.yaml"
cat > "$CS/config.yaml" <<EOF
common:
  daemonize: false
  log_media: stdout
  log_level: info
  working_dir: .
config_paths:
  config_dir: $CS/
  data_dir: $CS/data/
  simulation_path: $CS/simulation.yaml
  hub_dir: $CS/hub/
  index_path: $CS/hub/.index.json
  notification_dir: $CS/notifications/
  plugin_dir: /usr/lib/crowdsec/plugins/
crowdsec_service:
  acquisition_path: $CS/acquis.yaml
  parser_routines: 1
cscli:
  output: human
  color: never
db_config:
  log_level: info
  type: sqlite
  db_path: $CS/data/crowdsec.db
  use_wal: false
api:
  client:
    insecure_skip_verify: false
    credentials_path: $CS/local_api_credentials.yaml
  server:
    log_level: info
    listen_uri: 127.0.0.1:$CS_PORT
    profiles_path: $CS/profiles.yaml
prometheus:
  enabled: false
EOF
python3 - "$CS" <<'PY'
import json, os, shutil, sys
cs = sys.argv[1]
idx = json.load(open(os.path.join(cs, "hub", ".index.json")))
todo = [("collections", "crowdsecurity/nginx"), ("parsers", "crowdsecurity/syslog-logs"),
        ("parsers", "crowdsecurity/dateparse-enrich"), ("parsers", "crowdsecurity/whitelists")]
seen = set()
while todo:
    kind, name = todo.pop()
    if (kind, name) in seen:
        continue
    seen.add((kind, name))
    item = idx[kind][name]
    for sub in ("parsers", "scenarios", "postoverflows", "collections"):
        todo.extend((sub, n) for n in item.get(sub) or [])
    path = item["path"]  # e.g. parsers/s01-parse/crowdsecurity/nginx-logs.yaml
    parts = path.split("/")
    link = os.path.join(cs, *parts[:-2], parts[-1])  # <type>[/<stage>]/<name>.yaml, no author
    os.makedirs(os.path.dirname(link), exist_ok=True)
    if os.path.lexists(link):
        os.remove(link)
    os.symlink(os.path.join(cs, "hub", path), link)
    # Debian ships the data files under their upstream names; a scenario may expect another
    # dest_file (http_path_traversal.txt is path_traversal.txt): copy, never download.
    if kind == "scenarios":
        text = open(os.path.join(cs, "hub", path)).read()
        src = None
        for line in text.splitlines():
            line = line.strip()
            if line.startswith("- source_url:") or line.startswith("source_url:"):
                src = os.path.basename(line.split(":", 1)[1].strip())
            elif line.startswith("dest_file:") and src:
                dest = os.path.join(cs, "data", line.split(":", 1)[1].strip())
                if not os.path.exists(dest) and os.path.exists(os.path.join(cs, "data", src)):
                    shutil.copy(os.path.join(cs, "data", src), dest)
print(f"crowdsec: {len(seen)} hub items enabled", file=sys.stderr)
PY
cscli -c "$CS/config.yaml" machines add credwatch-compare --auto --force \
  -f "$CS/local_api_credentials.yaml" -u "http://127.0.0.1:$CS_PORT/" 2>"$OUT/cscli.log" ||
  { cat "$OUT/cscli.log" >&2; die "cscli machines add failed"; }
# cs_replay TAG FILE: one replay of FILE; its log is crowdsec-TAG.log.
cs_replay() {
  crowdsec -c "$CS/config.yaml" -dsn "file://$OUT_ABS/$2" -type nginx -no-capi \
    >"$OUT/crowdsec-$1.log" 2>&1 || { tail -5 "$OUT/crowdsec-$1.log" >&2; die "crowdsec failed"; }
}
# What a replay flagged: its overflows ("Ip X performed 'scenario' (N events over D) at T").
cs_flagged() {
  python3 - "$1" <<'PY'
import re, sys, collections
pat = re.compile(r"Ip (\S+) performed '([^']+)' \((\d+) events")
by = collections.OrderedDict()
for line in open(sys.argv[1], errors="replace"):
    m = pat.search(line)
    if m:
        by.setdefault(m.group(2), []).append(m.group(1))
parts = []
for sc, ips in by.items():
    d = sorted(set(ips))
    parts.append(f"{sc} ×{len(ips)} ({', '.join(d[:2])}{f' +{len(d) - 2} more' if len(d) > 2 else ''})")
print("; ".join(parts) or "nothing")
PY
}
cs_ver=$(crowdsec -version 2>&1 | sed -n 's/.*version: v\{0,1\}//p' | head -1)
say "crowdsec replay of lines $CS_START-$CS_END (one run)"
cs_s=$(best 1 cs_replay attacks "${CS_LOG#"$OUT"/}")
row "CrowdSec replay (nginx collection), attack window" "$cs_ver" "$CS_N" "$cs_s" "$(cs_flagged "$OUT/crowdsec-attacks.log")"
# The same number of lines from the file's head (ordinary traffic only): CrowdSec's rate depends
# on the traffic (every new address opens buckets), so both rates are shown.
CS_HEAD_LOG="$OUT/crowdsec-head-input.log"
head -n "$CS_N" "$LOG" > "$CS_HEAD_LOG"
say "crowdsec replay of lines 1-$CS_N (one run)"
csh_s=$(best 1 cs_replay head "${CS_HEAD_LOG#"$OUT"/}")
row "CrowdSec replay (nginx collection), head" "$cs_ver" "$CS_N" "$csh_s" "$(cs_flagged "$OUT/crowdsec-head.log")"

# For scale.
run_grep() { grep -c -F '"POST /login HTTP/1.1" 401 ' "$LOG" > "$OUT/grep.count" || true; }
g_s=$(best 3 run_grep)
row "grep -c (failed-login lines)" "$(grep --version | head -1 | awk '{print $NF}')" "$TOTAL" "$g_s" \
  "$(commas "$(cat "$OUT/grep.count")") lines of POST /login 401 (a count, no attribution)"
AWK_VER=$(awk -W version 2>/dev/null | head -1 | awk '{print $1, $2}' || true)
run_awk() { awk '{print $1}' "$LOG" > "$OUT/awk.field1"; }
a_s=$(best 3 run_awk)
row "awk '{print \$1}' (field split)" "$AWK_VER" "$TOTAL" "$a_s" "nothing (the address column)"
run_uniq() { awk '{print $1}' "$LOG" | sort | uniq -c | sort -rn > "$OUT/uniq.txt"; }
u_s=$(best 3 run_uniq)
row "awk | sort | uniq -c | sort -rn" "coreutils $(sort --version | head -1 | awk '{print $NF}')" "$TOTAL" "$u_s" \
  "top address $(awk 'NR==1{print $2}' "$OUT/uniq.txt") ($(commas "$(awk 'NR==1{print $1}' "$OUT/uniq.txt")") lines); the $(commas "$(wc -l < "$FLOOD_ONLY")") flood-only addresses have 1 line each"
run_wc() { wc -l "$LOG" > "$OUT/wc.txt"; }
w_s=$(best 3 run_wc)
row "wc -l" "coreutils $(wc --version | head -1 | awk '{print $NF}')" "$TOTAL" "$w_s" "-"

# --- report --------------------------------------------------------------------------------------
echo "machine: $(nproc) cores, $(lscpu | sed -n 's/^Model name: *//p' | head -1), $(free -g | awk '/Mem:/{print $2}') GiB; load average $LOAD_START at the start, $(cut -d' ' -f1-3 /proc/loadavg) at the end"
echo "date:    $(date -u '+%Y-%m-%d %H:%M UTC'); credwatch $(git rev-parse --short HEAD 2>/dev/null || echo '?')"
echo "input:   $LOG: $TOTAL lines ($(awk -v b="$(stat -c %s "$LOG")" 'BEGIN{printf "%.1f", b/1e6}') MB): $LINES lines of shop traffic with a one-address burst (167.99.23.145, 40-45 %) + $FLOOD-line residential-proxy flood (one failed login per address), merged by time"
echo "command: LINES=$LINES FLOOD=$FLOOD CS_LINES=$CS_LINES benches/compare.sh"
echo
awk -F'\t' -v cw="$cw_s" -v total="$TOTAL" -v cs_start="$CS_START" -v cs_end="$CS_END" -v cs_n="$CS_N" -v burst_s="$BURST_S" '
  '"$AWK_COMMAS"'
  BEGIN {
    cw_rate = total / (cw > 0 ? cw : 0.001)
    print "| tool | version | input lines | wall s | lines/s | time per line vs credwatch | what it flagged |"
    print "|---|---|---:|---:|---:|---:|---|"
  }
  {
    gsub(/\|/, "\\|", $1); gsub(/\|/, "\\|", $5)
    secs = ($4 > 0 ? $4 : 0.001); rate = $3 / secs; ratio = cw_rate / rate
    lines = commas($3)
    if ($1 ~ /attack window$/) {
      lines = lines " (lines " commas(cs_start) "–" commas(cs_end) ")"
      note_a = sprintf("lines %s–%s (the window that starts with the flood and %s) at %s lines/s", commas(cs_start), commas(cs_end), (burst_s >= 0 ? "runs " burst_s " s into the burst" : "does not reach the burst"), commas(rate))
      min_a = total / rate / 60
    } else if ($1 ~ /head$/) {
      lines = lines " (lines 1–" commas($3) ")"
      note_h = sprintf("lines 1–%s (ordinary traffic) at %s lines/s", commas($3), commas(rate))
      min_h = total / rate / 60
    }
    printf "| %s | %s | %s | %.2f | %s | %s | %s |\n", $1, $2, lines, $4, commas(rate), (ratio >= 10 ? commas(ratio) "×" : sprintf("%.2f×", ratio)), $5
  }
  END {
    print ""
    lo = sprintf("%.0f", (min_h < min_a ? min_h : min_a)); hi = sprintf("%.0f", (min_h < min_a ? min_a : min_h))
    printf "CrowdSec read only %s-line slices of the same file, one run each: %s; and %s. Its startup and shutdown are included. At those rates the whole %s-line file would take about %s minutes (extrapolated, not run).\n", commas(cs_n), note_a, note_h, commas(total), (lo == hi ? lo : lo " to " hi)
  }' "$ROWS"
echo
echo "Best of 3 runs for credwatch, grep, awk and wc; one run for fail2ban-regex and CrowdSec. Other work on the machine makes the timings noisy (see load average)."
echo "Raw outputs: $OUT/ (credwatch.alerts.jsonl, fail2ban.rows, crowdsec-attacks.log, crowdsec-head.log, uniq.txt)."
