# shellcheck shell=bash
# Real faults during a k8s run (issue 15), sourced by tests/k8s-e2e.sh:
#   14 apiserver-restart  kube-apiserver SIGKILLed mid-run and started again with the same
#                         command line (tests/k8s/cluster/restart.sh): the right lowest nonce
#   15 eviction           a pod evicted through the Eviction API mid-run: the Job ignores the
#                         disruption (podFailurePolicy DisruptionTarget → Ignore) and recreates
#                         the index, which then finds the answer
#   16 double-ctrl-c      a second Ctrl-C while the cleanup waits for pods whose workers are
#                         frozen (SIGSTOP): exit 4 at once, the cleanup command printed, and
#                         that command then removes everything
# Each asserts the exit code, a time bound, the answer or message, and (run_scenario) that no
# Job or pod is left.

scenario 14 apiserver-restart s14_apiserver_restart
scenario 15 eviction s15_eviction
scenario 16 double-ctrl-c s16_double_ctrl_c

# over SECONDS LIMIT: true if SECONDS > LIMIT (decimals)
over() { python3 -c "import sys; sys.exit(0 if float(sys.argv[1]) > float(sys.argv[2]) else 1)" "$1" "$2"; }

# wait_bounded PID SECONDS: waits for cnd (SIGKILLed after SECONDS, a failure); sets RC
wait_bounded() {
	local pid=$1 limit=$2 t
	t=$(now)
	while kill -0 "$pid" 2>/dev/null; do
		if over "$(since "$t")" "$limit"; then
			fail "cnd still running ${limit}s later (killed)"
			kill -KILL "$pid" 2>/dev/null
			break
		fi
		sleep 0.1
	done
	wait "$pid"
	RC=$?
}

# pod_of_index I: the name of a live pod of completion index I
pod_of_index() {
	kubectl get pods -n "$NS" -l "$LABEL" --field-selector=status.phase=Running \
		-o jsonpath="{range .items[?(@.metadata.annotations.batch\.kubernetes\.io/job-completion-index==\"$1\")]}{.metadata.name}{\"\n\"}{end}" | head -1
}

# worker_pids: the cnd processes in the pods of the label (cgroupfs: "pod<uid>" in the path)
worker_pids() {
	local uids u c p
	uids=$(kubectl get pods -n "$NS" -l "$LABEL" -o jsonpath='{range .items[*]}{.metadata.uid}{"\n"}{end}')
	for u in $uids; do
		for c in /proc/[0-9]*/cgroup; do
			grep -q "pod${u}" "$c" 2>/dev/null || continue
			p=${c#/proc/}
			p=${p%/cgroup}
			[[ $(readlink "/proc/$p/exe" 2>/dev/null) == */cnd ]] && echo "$p"
		done
	done
}

# start_cnd ARGS...: cnd in the background (SIGINT not ignored), output in $SDIR/cnd.*; sets PID
start_cnd() {
	echo "+ cnd $*" >"$SDIR/cnd.cmd"
	env --default-signal=INT "$CND" "$@" >"$SDIR/cnd.out" 2>"$SDIR/cnd.err" &
	PID=$!
	BG_PIDS+=("$PID")
}

s14_apiserver_restart() {
	# [0, 164217506) at D=26 on 2 workers: index 0 = [0, 82108753) holds no golden nonce and
	# must be searched to its end (lowest mode); index 1 starts with 82108753, the range's
	# lowest. The answer needs index 0's report, which comes after the apiserver's restart.
	local blk=$BLOCK_DEFAULT d=26 start=0 end=164217506 want t_kill t_back t_end
	run_cnd local 120 --backend local --block $blk -d $d --start $start --end $end --mode lowest --json
	want=$(py json "$SDIR/local.out" nonce)
	[[ $RC == 0 && -n $want ]] || { fail "the reference run (--backend local) failed: exit $RC ($(errline local))"; return; }
	local t0
	t0=$(now)
	start_cnd "${K8S[@]}" --workers 2 --cpu 0.25 --block $blk -d $d --start $start --end $end --mode lowest --timeout 300s --json
	wait_pods_running 1 60 "$PID" || fail "no pod ran ($(errline cnd))"
	sleep 2
	if ! kill -0 "$PID" 2>/dev/null; then
		fail "cnd ended before the apiserver was killed: not mid-run"
	fi
	t_kill=$(since "$t0")
	if "$CLUSTER/restart.sh" --signal KILL --down 5 kube-apiserver >"$SDIR/restart.out" 2>"$SDIR/restart.err"; then
		note "$(cat "$SDIR/restart.out") (killed ${t_kill}s into the run)"
	else
		fail "restart.sh kube-apiserver failed: $(tail -1 "$SDIR/restart.err")"
	fi
	t_back=$(since "$t0")
	# kubectl's watches end with the apiserver: start them again for the rest of the run
	kubectl get pods -n "$NS" -l "$LABEL" -w --output-watch-events -o json >>"$SDIR/pods.json" 2>>"$SDIR/pods.err" &
	WATCH_PIDS+=($!)
	BG_PIDS+=($!)
	wait_bounded "$PID" 240
	t_end=$(since "$t0")
	[[ $RC == 0 ]] || fail "exit $RC, expected 0 ($(errline cnd))"
	check_found cnd $blk $d
	[[ ${NONCE:-} == "$want" ]] || fail "k8s lowest ${NONCE:-none}, --backend local lowest $want"
	over "$t_end" "$t_back" || fail "cnd ended ${t_end}s in, before the apiserver was back (${t_back}s): the restart was not mid-run"
	over 240 "$t_end" || fail "took ${t_end}s (limit 240s)"
	note "lowest $want = --backend local's; apiserver killed at ${t_kill}s, ready at ${t_back}s, cnd ended at ${t_end}s"
	grep -q 'retrying' "$SDIR/cnd.err" && note "cnd said: $(grep -m1 'retrying' "$SDIR/cnd.err" | cut -c1-120)"
	NONCE=""
}

s15_eviction() {
	# scenario 6's problem: index 0 = [57108753, 97108753) holds the golden nonce 82108753
	# (25M nonces in, ~15 s at --cpu 0.1), index 1 = [97108753, 137108753) holds none. Index
	# 0's pod is evicted mid-search: only its replacement can find the answer.
	local blk=$BLOCK_DEFAULT d=26 start=57108753 end=137108753 want pod t0 t_end
	run_cnd local 120 --backend local --block $blk -d $d --start $start --end $end --mode lowest --json
	want=$(py json "$SDIR/local.out" nonce)
	[[ $RC == 0 && $want == 82108753 ]] || { fail "the reference run (--backend local) says ${want:-none} (exit $RC), expected 82108753"; return; }
	t0=$(now)
	start_cnd "${K8S[@]}" --workers 2 --cpu 0.1 --block $blk -d $d --start $start --end $end --mode lowest --timeout 300s --json
	wait_pods_running 2 60 "$PID" || fail "pods never ran ($(errline cnd))"
	sleep 2
	pod=$(pod_of_index 0)
	if [[ -z $pod ]]; then
		fail "no running pod of index 0 to evict"
	else
		# policy/v1 Eviction, POSTed to the pod's eviction subresource (what `kubectl drain` does)
		printf '{"apiVersion":"policy/v1","kind":"Eviction","metadata":{"name":"%s","namespace":"%s"}}\n' "$pod" "$NS" >"$SDIR/eviction.json"
		if kubectl create --raw "/api/v1/namespaces/$NS/pods/$pod/eviction" -f "$SDIR/eviction.json" >"$SDIR/evict.out" 2>&1; then
			note "evicted $pod (index 0) $(since "$t0")s into the run"
		else
			fail "the Eviction API refused: $(tail -1 "$SDIR/evict.out")"
		fi
	fi
	wait_bounded "$PID" 240
	t_end=$(since "$t0")
	[[ $RC == 0 ]] || fail "exit $RC, expected 0 ($(errline cnd))"
	check_found cnd $blk $d
	[[ ${NONCE:-} == "$want" ]] || fail "nonce ${NONCE:-none}, expected $want (found only by index 0)"
	over 240 "$t_end" || fail "took ${t_end}s (limit 240s)"
	stop_watch
	local hist
	hist=$(S 'sorted((p["index"], "->".join(p["phases"]), p.get("exit_code"), [c[0] for c in p["conditions"] if c[0] == "DisruptionTarget"]) for p in S["pods"].values())')
	[[ $(S 'sorted(p["index"] for p in S["pods"].values() if p["index"] == 0)') == "[0, 0]" ]] ||
		fail "index 0 should have 2 pods (evicted + recreated), history: $hist"
	[[ $(S "any(p['index'] == 0 and ['DisruptionTarget', 'EvictionByEvictionAPI'] in p['conditions'] for p in S['pods'].values())") == True ]] ||
		fail "no index-0 pod had the condition DisruptionTarget/EvictionByEvictionAPI: $hist"
	# status.failed counts index 1's exit 3 (FailIndex, when it ends before the run does),
	# never the evicted pod (Ignore)
	local failed exhausted
	failed=$(S 'max([j["max_failed"] for j in S["jobs"].values()] or [0])')
	exhausted=$(S 'sum(1 for p in S["pods"].values() if p.get("exit_code") == 3)')
	[[ $failed == "$exhausted" ]] ||
		fail "the Job counted $failed failed pods, $exhausted of them exhausted (exit 3): the disruption was not ignored"
	note "pods (index, phases, exit, conditions): $hist; Job status.failed $failed = exit-3 pods; ${t_end}s"
	NONCE=""
	WATCH_PIDS=()
}

s16_double_ctrl_c() {
	# The cleanup after Ctrl-C waits for the pods to be gone. Workers frozen by SIGSTOP (a hung
	# process) do not act on the kubelet's SIGTERM, so their pods take the whole grace period
	# (the Job's terminationGracePeriodSeconds): a slow cleanup. A second Ctrl-C ends cnd at
	# once and prints the command that finishes the cleanup.
	local t_int t_int2 exit_after cmd run victims
	start_cnd "${K8S[@]}" --workers 2 --cpu 0.5 -d 64 --timeout 300s
	wait_pods_running 2 60 "$PID" || { fail "pods never ran ($(errline cnd))"; return; }
	victims=$(worker_pids | xargs)
	if [[ -z $victims ]]; then
		fail "no worker process found in the pods' cgroups"
	else
		kill -STOP $victims && note "SIGSTOPped workers $victims"
	fi
	kill -INT "$PID"
	t_int=$(now)
	sleep 2
	if ! kill -0 "$PID" 2>/dev/null; then
		wait "$PID"
		fail "cnd ended $(since "$t_int")s after the first SIGINT (exit $?): the cleanup was not slow, the second Ctrl-C untested"
		return
	fi
	grep -q 'Ctrl-C again' "$SDIR/cnd.err" || fail "while cleaning up, cnd did not say that a second Ctrl-C quits: $(errline cnd)"
	kill -INT "$PID"
	t_int2=$(now)
	wait_bounded "$PID" 10
	exit_after=$(since "$t_int2")
	[[ $RC == 4 ]] || fail "exit $RC after the second SIGINT, expected 4 ($(errline cnd))"
	over 2 "$exit_after" || fail "exit ${exit_after}s after the second SIGINT (limit 2s)"
	cmd=$(grep -o '`cnd k8s cleanup [^`]*`' "$SDIR/cnd.err" | tr -d '`' | tail -1)
	run=$(kubectl get jobs,pods -n "$NS" -l "$LABEL" -o jsonpath='{.items[0].metadata.labels.cnd\.dev/run-id}' 2>/dev/null)
	if [[ -z $cmd ]]; then
		fail "no cleanup command printed: $(errline cnd)"
		return
	fi
	[[ -n $run && $cmd == "cnd k8s cleanup $run"* ]] || fail "the printed command '$cmd' does not name the run left (${run:-none})"
	note "exit $RC ${exit_after}s after the 2nd SIGINT ($(since "$t_int")s after the 1st); printed: $cmd; left then: $(leftovers | xargs)"
	# the printed command, as printed (the kubeconfig comes from the same environment)
	read -ra words <<<"$cmd"
	run_cnd cleanup 90 "${words[@]:1}"
	[[ $RC == 0 ]] || fail "'$cmd': exit $RC ($(errline cleanup))"
	[[ -z $(leftovers) ]] || fail "'$cmd' exited $RC but left: $(leftovers | xargs)"
	note "'$cmd' exit $RC in ${ELAPSED}s, nothing left: $(head -1 "$SDIR/cleanup.out")"
	kill -CONT $victims 2>/dev/null
}
