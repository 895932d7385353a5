# shellcheck shell=bash
# Plans that learn from runs (issue 17), sourced by tests/k8s-e2e.sh:
#   27 plan-history   three short real runs with a private run history (CND_HISTORY), each
#                     one line with this cluster's context (cnd), its API server, the start-up
#                     delay (Job created -> first pod running) and the rate per pod; then
#                     `cnd plan --backend k8s -d 30 --deadline 5m --confidence 0.95` (human
#                     and --json) uses the medians of those runs and says so
#   28 auto-history   `--workers auto` on --backend k8s plans from that history (one seed
#                     run), says so, and its run finds a verified nonce and adds its line
# Each asserts the exit codes, the figures against the history file (Python), and
# (run_scenario) that no Job or pod is left.

scenario 27 plan-history s27_plan_history
scenario 28 auto-history s28_auto_history

# hist_py FILE EXPR: EXPR over R (the history's records, oldest first) and median()
hist_py() {
	python3 - "$1" "$2" <<-'PYEOF'
		import json, statistics, sys
		R = []
		for line in open(sys.argv[1]):
		    try:
		        R.append(json.loads(line))
		    except ValueError:
		        pass
		r = eval(sys.argv[2], {"R": R, "median": statistics.median, "len": len, "all": all, "round": round})
		print(json.dumps(r) if isinstance(r, (dict, list)) else r)
	PYEOF
}

# history_runs N HISTORY: N short runs that each find a nonce; fails on any other exit
history_runs() {
	local n=$1 i
	for i in $(seq 1 "$n"); do
		# D=22: a search of a few tenths of a second, long enough for the CPU quota of a
		# half-CPU pod (50 ms per 100 ms period) to show in its rate; a search shorter than a
		# period runs at the full CPU's speed
		CND_HISTORY=$2 run_cnd "run$i" 90 "${K8S[@]}" --workers 2 --cpu 0.5 -d 22 --timeout 60s --json
		[[ $RC == 0 ]] || fail "run $i: exit $RC, expected 0 ($(errline "run$i"))"
		check_found "run$i" "$BLOCK_DEFAULT" 22 >/dev/null
	done
}

s27_plan_history() {
	local hist=$SDIR/history.jsonl want_s want_r
	history_runs 3 "$hist"
	[[ $(hist_py "$hist" 'len(R)') == 3 ]] || { fail "expected 3 lines in the history, saw $(hist_py "$hist" 'len(R)')"; return; }
	local ok
	ok=$(hist_py "$hist" 'all(r["backend"] == "k8s" and r["context"] == "cnd" and r["server"] == "https://127.0.0.1:6443" and r["namespace"] == "'"$NS"'" and r["outcome"] == "found" and r["workers"] == 2 and r["cpu_per_worker"] == 0.5 and r["startup_measured"] == "job-created-to-first-pod-running" and 0 < r["startup_delay_s"] < 60 and r["rate_per_worker"] > 1e4 for r in R)')
	[[ $ok == True ]] || fail "history lines not as expected: $(tr '\n' ' ' <"$hist" | cut -c1-600)"
	want_s=$(hist_py "$hist" 'median([r["startup_delay_s"] for r in R])')
	want_r=$(hist_py "$hist" 'median([r["rate_per_worker"] for r in R])')
	note "history: start-up $(hist_py "$hist" '[round(r["startup_delay_s"], 2) for r in R]') s, rate per pod $(hist_py "$hist" '[round(r["rate_per_worker"]) for r in R]') H/s"

	# The issue's command, as people run it (1-CPU pods: the half-CPU runs' rate per CPU).
	CND_HISTORY=$hist run_cnd plan 30 plan --backend k8s -d 30 --deadline 5m --confidence 0.95
	[[ $RC == 0 ]] || fail "cnd plan: exit $RC ($(errline plan))"
	grep -q "measured over 3 runs on context cnd: start-up" "$SDIR/plan.out" ||
		fail "cnd plan does not say it measured 3 runs on context cnd: $(tr '\n' ' ' <"$SDIR/plan.out")"
	note "$(grep -m1 '^plan:' "$SDIR/plan.out"); $(grep 'based on' "$SDIR/plan.out" | sed 's/^ *//; s/  */ /g')"

	CND_HISTORY=$hist run_cnd planjson 30 plan --backend k8s -d 30 --deadline 5m --confidence 0.95 --cpu 0.5 --json
	[[ $RC == 0 ]] || fail "cnd plan --json: exit $RC ($(errline planjson))"
	local j=$SDIR/planjson.out check
	check=$(python3 - "$j" "$want_s" "$want_r" <<-'PYEOF'
		import json, sys
		v = json.loads(open(sys.argv[1]).read())
		s, r = float(sys.argv[2]), float(sys.argv[3])
		bad = []
		for k, want in [("source", "history"), ("rate_source", "history"), ("startup_source", "history"),
		                ("history_runs", 3), ("context", "cnd")]:
		    if v.get(k) != want:
		        bad.append(f"{k}={v.get(k)!r}, expected {want!r}")
		if abs(v.get("startup_delay_s", -1) - s) > 1e-6 * max(1, s):
		    bad.append(f"startup_delay_s={v.get('startup_delay_s')}, the history's median {s}")
		if abs(v.get("rate_per_worker", -1) - r) > 1e-6 * r:
		    bad.append(f"rate_per_worker={v.get('rate_per_worker')}, the history's median {r}")
		print("; ".join(bad) or "ok")
	PYEOF
	)
	[[ $check == ok ]] || fail "cnd plan --json: $check"
	note "plan --json --cpu 0.5: $(python3 -c 'import json,sys; v=json.load(open(sys.argv[1])); print("workers %(workers)s, source %(source)s, %(history_runs)s runs, startup_delay_s %(startup_delay_s).3f, rate_per_worker %(rate_per_worker).0f" % v)' "$j")"

	# Without the history (turned off): the calibration and the default start-up, said so.
	CND_HISTORY=off run_cnd planoff 30 plan --backend k8s -d 30 --deadline 5m --confidence 0.95 --json
	[[ $(py json "$SDIR/planoff.out" source) == calibration && $(py json "$SDIR/planoff.out" history_runs) == 0 ]] ||
		fail "with CND_HISTORY=off the plan should come from the calibration: $(head -c 300 "$SDIR/planoff.out")"
}

s28_auto_history() {
	local hist=$SDIR/history.jsonl
	history_runs 1 "$hist"
	CND_HISTORY=$hist run_cnd auto 120 "${K8S[@]}" --cpu 0.5 -d 18 --workers auto --deadline 60s --max-workers 3 --timeout 90s --json
	[[ $RC == 0 ]] || fail "--workers auto: exit $RC, expected 0 ($(errline auto))"
	check_found auto "$BLOCK_DEFAULT" 18 >/dev/null
	grep -q "measured over 1 run on context cnd" "$SDIR/auto.err" ||
		fail "--workers auto did not plan from the history: $(grep -A6 '^plan:' "$SDIR/auto.err" | tr '\n' ' ')"
	[[ $(hist_py "$hist" 'len(R)') == 2 ]] || fail "the auto run did not add its line to the history"
	note "$(grep -m1 '^plan:' "$SDIR/auto.err"); $(grep 'based on' "$SDIR/auto.err" | sed 's/^ *//; s/  */ /g'); workers used $(hist_py "$hist" 'R[-1]["workers"]')"
}
