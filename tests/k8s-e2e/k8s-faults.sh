# shellcheck shell=bash
# Pods that can never start, or never be scheduled, on the real cluster (issue 15): each run
# has no --timeout (the default), so only cnd's own fault handling can end it. Each scenario
# asserts the exit code, the time bound, the one error line (what it names), and, through
# run_scenario, that no Job or pod is left.

# the one "error: ..." line of cnd's stderr (fails if there is not exactly one)
one_error_line() {
	local f=$SDIR/$1.err n
	n=$(grep -c '^error: ' "$f" 2>/dev/null)
	[[ $n == 1 ]] || fail "$n 'error:' lines on stderr, expected 1"
	grep -m1 '^error: ' "$f" 2>/dev/null
}

# within NAME SECONDS: cnd's run took at most SECONDS
within() {
	python3 -c "import sys; sys.exit(0 if float(sys.argv[1]) <= float(sys.argv[2]) else 1)" "$ELAPSED" "$2" ||
		fail "$1 took ${ELAPSED}s (limit $2s)"
}

s11_unpullable() {
	# an image no registry serves (localhost:443 refuses), pulled because it is not on the
	# node: the kubelet's pulls fail, cnd ends the run after the pull grace (30 s)
	local img=localhost/cnd-missing:1 msg
	run_cnd cnd 90 --backend k8s --namespace "$NS" --image "$img" --image-pull-policy IfNotPresent \
		--memory 64Mi --workers 2 --cpu 0.5 -d 30
	[[ $RC == 1 ]] || fail "exit $RC, expected 1 ($(errline cnd))"
	within "the unpullable run" 60
	msg=$(one_error_line cnd)
	grep -qF "$img" <<<"$msg" || fail "the error does not name the image $img: $msg"
	grep -qE 'ErrImagePull|ImagePullBackOff' <<<"$msg" || fail "the error does not name the pull failure: $msg"
	stop_watch
	[[ $(S 'len(S["jobs"])') == 1 ]] || fail "expected the one Job of the run, saw $(S 'len(S["jobs"])')"
	note "exit $RC after ${ELAPSED}s: $msg"
	WATCH_PIDS=()
}

s12_missing_secret() {
	# --aws-secret names a Secret that does not exist: checked before the queue or the Job is
	# made (moto need not run: nothing reaches it)
	local secret=cnd-e2e-missing msg
	kubectl delete secret "$secret" -n "$NS" --ignore-not-found >/dev/null 2>&1
	AWS_ACCESS_KEY_ID=testing AWS_SECRET_ACCESS_KEY=testing AWS_REGION=us-east-1 \
		run_cnd cnd 60 "${K8S[@]}" --workers 2 --cpu 0.5 -d 30 --results sqs \
		--sqs-endpoint-url http://10.88.77.1:5000 --aws-secret "$secret"
	[[ $RC == 1 ]] || fail "exit $RC, expected 1 ($(errline cnd))"
	within "the missing-Secret run" 30
	msg=$(one_error_line cnd)
	grep -qF "Secret $secret" <<<"$msg" || fail "the error does not name the Secret $secret: $msg"
	grep -qF -- "--aws-secret" <<<"$msg" || fail "the error does not name the flag --aws-secret: $msg"
	stop_watch
	[[ $(S 'len(S["jobs"])') == 0 ]] || fail "a Job was created: $(S 'sorted(S["jobs"])')"
	note "exit $RC after ${ELAPSED}s, no Job created: $msg"
	WATCH_PIDS=()
}

s13_unschedulable() {
	# 64 CPUs per pod: no node of this cluster has them and no autoscaler adds one
	local limit=20 msg t
	echo "+ cnd ${K8S[*]} --workers 2 --cpu 64 -d 30 --pending-timeout ${limit}s (no --timeout; under a pty)" >"$SDIR/cnd.cmd"
	t=$(now)
	COLUMNS=250 timeout -k 10 120 script -qefc "$(printf '%q ' "$CND" "${K8S[@]}" --workers 2 --cpu 64 -d 30 --pending-timeout "${limit}s")" /dev/null >"$SDIR/cnd.tty" 2>&1 </dev/null
	RC=$?
	ELAPSED=$(since "$t")
	sed 's/\x1b\[[0-9;?]*[A-Za-z]//g; s/\r/\n/g' "$SDIR/cnd.tty" >"$SDIR/cnd.err"
	[[ $RC == 4 ]] || fail "exit $RC, expected 4 ($(errline cnd))"
	python3 -c "import sys; sys.exit(0 if $limit <= float(sys.argv[1]) <= $limit + 25 else 1)" "$ELAPSED" ||
		fail "took ${ELAPSED}s for --pending-timeout ${limit}s (allowed: ${limit}s to $((limit + 25))s)"
	msg=$(one_error_line cnd)
	grep -qE "[12] of 2 pods unschedulable for ${limit}s: " <<<"$msg" || fail "the error does not say how many pods for how long: $msg"
	grep -qi 'insufficient cpu' <<<"$msg" || fail "the error does not give the scheduler's reason: $msg"
	if grep -q "of --pending-timeout ${limit}s" "$SDIR/cnd.err"; then
		note "progress showed: $(grep -m1 -o "[0-9]* Unschedulable[^)]*" "$SDIR/cnd.err")"
	else
		fail "the progress line never showed the pending clock"
	fi
	note "exit $RC after ${ELAPSED}s: $msg"
}

scenario 11 unpullable s11_unpullable
scenario 12 missing-secret s12_missing_secret
scenario 13 unschedulable s13_unschedulable
