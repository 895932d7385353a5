#!/usr/bin/env bash
# Every kernel's rates as ratios to the single-stream SHA-256 bound, measured twice in one go:
# ROUNDS (default 2) interleaved rounds of `cnd bench --kernel K --json`, one per kernel this
# CPU runs (portable, avx2, sha-ni, avx512, hybrid), text and Bitcoin, 1 and N threads.
#
#   benches/compare.sh                 # build cnd (release) if needed, then measure
#   CND=path/to/cnd benches/compare.sh # use that binary
#   SECONDS_PER=2 REPEATS=3 ROUNDS=2 benches/compare.sh
#
# The bound is `openssl speed -evp sha256 -bytes 16384`: one long message, one SHA-NI stream
# on CPUs that have it, i.e. the rate of one latency-bound dependency chain of `sha256rnds2`.
# A nonce costs two compressions (default text block with 10-digit nonces; a Bitcoin header
# after its constant first 64 bytes), so bound (nonces/s) = bytes/s / 64 / 2. openssl runs
# before and after `cnd bench`; the mean of the two is used, and both are printed so a change
# of load during the run shows. Needs jq.
#
# openssl speed divides by the CPU time it got (not wall time, unless given -elapsed), so the
# ratio that compares like with like is cnd's rate per CPU-second ("x bound"); the wall-clock
# ratio is printed too. On an idle machine the two agree; on a busy one the wall figures drop.
set -euo pipefail
cd "$(dirname "$0")/.."

SECONDS_PER=${SECONDS_PER:-2}
REPEATS=${REPEATS:-3}
ROUNDS=${ROUNDS:-2}
CND=${CND:-${CARGO_TARGET_DIR:-target}/release/cnd}

command -v jq >/dev/null || { echo "compare.sh needs jq" >&2; exit 2; }
command -v openssl >/dev/null || { echo "compare.sh needs openssl" >&2; exit 2; }
if [[ ! -x $CND ]]; then
    cargo build --release -p cnd-cli --no-default-features >&2
fi

# Bytes per second of `openssl speed -evp sha256 -bytes 16384`.
openssl_bytes_per_s() {
    openssl speed -evp sha256 -bytes 16384 -seconds "$SECONDS_PER" 2>/dev/null |
        awk '/^sha256/ { v = $NF; m = 1; if (v ~ /k$/) { m = 1000; sub(/k$/, "", v) } print v * m }'
}

# The kernels this CPU runs, as `cnd bench` names them (the choice's record lists them).
kernels=()
for k in portable avx2 sha-ni avx512 hybrid; do
    "$CND" -d 0 --end 1 -q --kernel "$k" >/dev/null 2>&1 && kernels+=("$k")
done

before=$(openssl_bytes_per_s)
runs=()   # one `cnd bench --json` per round and kernel, tagged with its round
for ((round = 1; round <= ROUNDS; round++)); do
    for k in "${kernels[@]}"; do
        runs+=("$("$CND" bench --kernel "$k" --seconds "$SECONDS_PER" --repeats "$REPEATS" --json |
            jq -c --argjson round "$round" '. + {round: $round}')")
    done
done
after=$(openssl_bytes_per_s)
bound=$(awk -v a="$before" -v b="$after" 'BEGIN { printf "%.0f", (a + b) / 2 / 64 / 2 }')
json=$(printf '%s\n' "${runs[@]}" | jq -s '.')

echo "$(date -u +%FT%TZ)  $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ //')  ($(nproc) CPUs, load average $(cut -d' ' -f1-3 /proc/loadavg))"
awk -v a="$before" -v b="$after" -v n="$bound" 'BEGIN {
    printf "single-stream bound: openssl speed -evp sha256 -bytes 16384: %.2f GB/s before, %.2f GB/s after\n", a / 1e9, b / 1e9
    printf "                     = %.2f M compressions/s = %.2f M nonces/s (2 compressions per nonce)\n", (a + b) / 2 / 64 / 1e6, n / 1e6
}'
echo "$ROUNDS interleaved rounds of cnd bench --kernel K --seconds $SECONDS_PER --repeats $REPEATS (per CPU-s = M nonces"
echo "  per CPU-second of the hashing threads, one figure per round; x bound = per CPU-s / bound;"
echo "  MH/s = wall clock, mean of the rounds)"
echo "$json" | jq -r --argjson bound "$bound" '
    def f2: . * 100 | round / 100;
    [.[] | .round as $r | .results[] | . + {round: $r}] | group_by([.format, .threads, .kernel])
    | sort_by(.[0].format != "text", .[0].threads, -(map(.per_cpu_second) | add)) as $rows
    | (["kernel", "format", "threads", "per CPU-s (rounds)", "x bound (rounds)", "MH/s"] | @tsv),
      ($rows[] | [.[0].kernel, .[0].format, .[0].threads,
        (map(.per_cpu_second / 1e6 | f2 | tostring) | join(" / ")),
        (map(.per_cpu_second / $bound | f2 | tostring) | join(" / ")),
        (map(.mean) | add / length / 1e6 | f2)] | @tsv)' |
    column -t -s $'\t'

# The measured best, and which kernel cnd chooses here and why.
best=$(echo "$json" | jq -r --argjson bound "$bound" '
    [.[] | .results[] | select(.threads == 1)] | group_by(.format)[]
    | (group_by(.kernel) | map({kernel: .[0].kernel, rate: (map(.per_cpu_second) | add / length)}) | sort_by(-.rate)) as $k
    | "best here (\(.[0].format), one thread, mean of the rounds): \($k[0].kernel), \($k[0].rate / $k[1].rate * 100 | round / 100)x \($k[1].kernel)"')
echo "$best"
# (every run above forced its kernel: one short unforced bench says what cnd chooses)
"$CND" bench --seconds 0.01 --repeats 1 --json |
    jq -r '.choice | "chosen: \(.kernel) (\(.source)\(if .measured_by then ", measured by " + .measured_by else "" end))"'

# The goals of issue 9 and issue 16 (one thread, the better round).
echo "$json" | jq -r --argjson bound "$bound" '
    def r(k; f): [.[] | .results[] | select(.threads == 1 and .format == f and (k == "*" or .kernel == k)) | .per_cpu_second / $bound] | max // null;
    def line(name; v; goal): "\(name): \(if v == null then "n/a (kernel not available here)" else "\(v * 100 | round / 100)x (goal \(goal)x) \(if v >= goal then "met" else "MISSED" end)" end)";
    "goals of issue 9 (1 thread):",
    "  " + line("best kernel, bitcoin"; r("*"; "bitcoin"); 1.95),
    "  " + line("best kernel, text   "; r("*"; "text"); 1.85),
    "  " + line("sha-ni, bitcoin     "; r("sha-ni"; "bitcoin"); 1.65),
    "  " + line("sha-ni, text        "; r("sha-ni"; "text"); 1.65),
    "  " + line("avx2, bitcoin       "; r("avx2"; "bitcoin"); 1.1),
    "  " + line("avx2, text          "; r("avx2"; "text"); 1.1),
    "goals of issue 16 (1 thread):",
    "  " + line("best kernel, bitcoin"; r("*"; "bitcoin"); 2.8),
    "  " + line("best kernel, text   "; r("*"; "text"); 2.65)'
