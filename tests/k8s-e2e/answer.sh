# Answers sooner (issue 16): the verified answer is printed before the cleanup, and the
# coordinator exits soon after it with nothing left. Sourced by tests/k8s-e2e.sh, whose
# helpers it uses; `answer_run` and `answer_breakdown` also serve `--measure`.

scenario 20 answer-first s20_answer_first

# answer_run NAME TIMEOUT ARGS...: cnd with its stdout lines stamped on arrival (the
# coordinator's answer) and its exit stamped; writes $SDIR/NAME.{out,err,stamps.json} and
# sets RC. Stamps: answer_at (first stdout line), exit_at, seconds from the launch.
answer_run() {
	local name=$1 limit=$2
	shift 2
	echo "+ cnd $*" >"$SDIR/$name.cmd"
	python3 - "$SDIR/$name" "$limit" "$CND" "$@" <<-'PYEOF'
		import json, subprocess, sys, time
		base, limit, cmd = sys.argv[1], float(sys.argv[2]), sys.argv[3:]
		t0 = time.monotonic()
		with open(base + ".out", "w") as out, open(base + ".err", "w") as err:
		    p = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=err, text=True)
		    answer_at = None
		    for line in p.stdout:
		        if answer_at is None:
		            answer_at = time.monotonic() - t0
		        out.write(line)
		        out.flush()
		    try:
		        rc = p.wait(timeout=max(1.0, limit - (time.monotonic() - t0)))
		    except subprocess.TimeoutExpired:
		        p.kill()
		        rc = 124
		    exit_at = time.monotonic() - t0
		json.dump({"rc": rc, "answer_at": answer_at, "exit_at": exit_at}, open(base + ".stamps.json", "w"))
		sys.exit(rc)
	PYEOF
	RC=$?
	return 0
}

# stamp NAME KEY: a value of answer_run's stamps
stamp() { python3 -c 'import json,sys; v = json.load(open(sys.argv[1])).get(sys.argv[2]); print("" if v is None else f"{v:.2f}")' "$SDIR/$1.stamps.json" "$2"; }

s20_answer_first() {
	answer_run cnd 120 "${K8S[@]}" --workers 2 --cpu 0.5 -d 22 --timeout 100s --json -v
	[[ $RC == 0 ]] || fail "exit $RC, expected 0 ($(errline cnd))"
	check_found cnd "$BLOCK_DEFAULT" 22
	# the moment cnd has exited: no Job, and every pod left is being deleted with no container
	# running (the kubelet removes the objects; run_scenario then waits until none is left)
	local left running
	left=$(kubectl get jobs -n "$NS" -l "$LABEL" -o name 2>/dev/null)
	[[ -z $left ]] || fail "a Job left at cnd's exit: $left"
	running=$(kubectl get pods -n "$NS" -l "$LABEL" -o jsonpath='{range .items[*]}{.metadata.name} deleting={.metadata.deletionTimestamp} running={.status.containerStatuses[*].state.running.startedAt}{"\n"}{end}' 2>/dev/null |
		grep -E 'deleting= |running=[0-9]')
	[[ -z $running ]] || fail "pods not stopped at cnd's exit: $(tr '\n' ' ' <<<"$running")"
	note "at exit: $(kubectl get pods -n "$NS" -l "$LABEL" --no-headers 2>/dev/null | wc -l) pod objects left, none running"
	local answer_at exit_at after
	answer_at=$(stamp cnd answer_at)
	exit_at=$(stamp cnd exit_at)
	if [[ -z $answer_at ]]; then
		fail "no answer on stdout"
	else
		after=$(python3 -c 'import sys; print(f"{float(sys.argv[2]) - float(sys.argv[1]):.2f}")' "$answer_at" "$exit_at")
		python3 -c 'import sys; sys.exit(0 if float(sys.argv[1]) <= 2.0 else 1)' "$after" ||
			fail "cnd exited ${after}s after printing the answer (limit 2s)"
		note "answer on stdout at ${answer_at}s, exit ${after}s later"
	fi
	# one JSON object, with the answer's time
	local objects ans el
	objects=$(grep -c '^{' "$SDIR/cnd.out")
	[[ $objects == 1 ]] || fail "$objects JSON objects on stdout, expected 1"
	ans=$(py json "$SDIR/cnd.out" answer_elapsed_s)
	el=$(py json "$SDIR/cnd.out" elapsed_s)
	[[ -n $ans ]] || fail "no answer_elapsed_s in the JSON"
	[[ -n $ans && -n $el ]] && { python3 -c 'import sys; sys.exit(0 if float(sys.argv[1]) <= float(sys.argv[2]) else 1)' "$ans" "$el" || fail "answer_elapsed_s $ans > elapsed_s $el"; }
	# the order in cnd's own log: the answer reported, then the cleanup done
	local reported cleaned
	reported=$(grep -n -m1 'reported; cleaning up' "$SDIR/cnd.err" | cut -d: -f1)
	cleaned=$(grep -n -m1 'cleanup done' "$SDIR/cnd.err" | cut -d: -f1)
	if [[ -z $reported || -z $cleaned ]]; then
		fail "cnd -v did not log both 'reported; cleaning up' and 'cleanup done'"
	elif ((reported > cleaned)); then
		fail "the cleanup ended before the answer was reported"
	fi
	grep -q 'timeline' "$SDIR/cnd.err" || fail "cnd -v logged no timeline of the winning pod"
	note "answer_elapsed_s $ans, worker_elapsed_s $(py json "$SDIR/cnd.out" worker_elapsed_s), $(sed 's/\x1b\[[0-9;]*m//g' "$SDIR/cnd.err" | grep -o 'cleanup_s=[0-9.]*' | head -1)"
}

# answer_breakdown RUN...: the median of each phase over the runs ($SDIR/RUN.{out,err,stamps.json})
answer_breakdown() {
	python3 - "$SDIR" "$@" <<-'PYEOF'
		import json, re, statistics, sys
		sdir, runs = sys.argv[1], sys.argv[2:]
		rows = []
		for r in runs:
		    try:
		        res = json.loads(open(f"{sdir}/{r}.out").read().strip().splitlines()[-1])
		        stamps = json.load(open(f"{sdir}/{r}.stamps.json"))
		    except Exception:
		        continue
		    # cnd's log, without the colours tracing writes
		    err = re.sub(r"\x1b\[[0-9;]*m", "", open(f"{sdir}/{r}.err").read())
		    tl = None
		    for line in err.splitlines():
		        if "timeline" in line and re.search(rf'pod="?{re.escape(str(res.get("worker")))}"?( |$)', line):
		            tl = {k: float(v) for k, v in re.findall(r"(\w+)=(-?[0-9.]+)", line)}
		    m = re.search(r"cleanup_s=([0-9.]+)", err)
		    if tl is None or res.get("answer_elapsed_s") is None:
		        continue
		    a, w = res["answer_elapsed_s"], res["worker_elapsed_s"]
		    g = lambda k: tl.get(k)
		    d = lambda x, y: None if x is None or y is None else x - y
		    rows.append({
		        "start -> Job created (API)": g("job_created"),
		        "Job created -> pod created (Job controller)": d(g("pod_created"), g("job_created")),
		        "pod created -> scheduled (scheduler)": d(g("scheduled"), g("pod_created")),
		        "scheduled -> worker process started (kubelet, containerd)": d(g("worker_started"), g("scheduled")),
		        "worker started -> search started (worker start-up)": d(g("search_started"), g("worker_started")),
		        "search (worker_elapsed_s)": w,
		        "report written -> seen by the watch (kubelet, API)": d(g("report_seen"), g("report_written")),
		        "seen -> verified": d(a, g("report_seen")),
		        "cleanup (cleanup_s)": float(m.group(1)) if m else None,
		        "answer printed -> exit": d(stamps.get("exit_at"), stamps.get("answer_at")),
		        "OVERHEAD answer_elapsed_s - worker_elapsed_s": a - w,
		        "old overhead (answer + cleanup - worker)": (a + float(m.group(1)) - w) if m else None,
		    })
		if not rows:
		    print("no run with a timeline")
		    sys.exit(0)
		print(f"phase medians over {len(rows)} runs (s):")
		for k in rows[0]:
		    vals = [r[k] for r in rows if r[k] is not None]
		    if vals:
		        print(f"  {k:58s} {statistics.median(vals):7.3f}   ({' '.join(f'{v:.2f}' for v in vals)})")
	PYEOF
}
