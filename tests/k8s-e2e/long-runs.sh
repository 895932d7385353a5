# Long runs on Kubernetes (issue 17): more chunks than pods, detach and attach, a coordinator
# SIGKILLed then attached. Sourced by tests/k8s-e2e.sh, whose helpers it uses.
#
#   21 chunks         --chunks 8 --workers 2 --mode lowest: the Job has completions 8 and
#                     parallelism 2, and the answer is --backend local's
#   22 detach-attach  --detach exits 0 within seconds with {"run_id", "status":"detached"};
#                     `cnd k8s attach RUN` returns the local answer; nothing left, record included
#   23 kill-attach    the coordinator SIGKILLed once the run's record holds a chunk done, then
#                     `cnd k8s attach RUN`: the local answer; nothing left
#   24 delete-resume  the Job deleted (kubectl delete job) once a chunk is recorded: the
#                     coordinator exits 1 and keeps the record; `cnd k8s resume RUN` returns the
#                     local answer, and no chunk done before runs again (the new Job's chunk
#                     list and its pods' reports); nothing left
#
# The problem: 8 chunks of 4 M nonces over [22400000, 54400000) at D=22. Chunk 0 holds one
# golden nonce, near its end (26321194); chunk 1 holds one 29 k nonces in (26429595). Chunk
# 1's pod reports first; `lowest` must wait for chunk 0 and return its nonce.

scenario 21 chunks s21_chunks
scenario 22 detach-attach s22_detach_attach
scenario 23 kill-attach s23_kill_attach
scenario 24 delete-resume s24_delete_resume

LR_PROBLEM=(-d 22 --start 22400000 --end 54400000 --mode lowest)
LR_EXPECTED=26321194
# 23 and 24 stop the run between chunk 1's answer and chunk 0's: 8 chunks of 12 M over
# [70200000, 166200000), chunk 0's only nonce 11.9 M in (82108753), chunk 1's 1.15 M in, on
# pods of 100m CPU (about 10 s between the two answers; at 0.5 CPU the whole run ended
# before a poll of the record could stop it).
LR_LONG=(-d 22 --start 70200000 --end 166200000 --mode lowest)
LR_LONG_EXPECTED=82108753

# lr_local [long]: the local answer of the problem (the reference), or fail
lr_local() {
	local problem=("${LR_PROBLEM[@]}") expected=$LR_EXPECTED n
	[[ ${1:-} == long ]] && problem=("${LR_LONG[@]}") expected=$LR_LONG_EXPECTED
	"$CND" --backend local "${problem[@]}" --json >"$SDIR/local.out" 2>"$SDIR/local.err"
	n=$(py json "$SDIR/local.out" nonce)
	[[ $n == "$expected" ]] || fail "local answer $n, expected $expected"
	LOCAL_NONCE=$n
}

# lr_records: the run records (ConfigMaps) with the label
lr_records() { kubectl get configmaps -n "$NS" -l "$LABEL" -o name 2>/dev/null; }

# lr_no_record: fail if a record is left (and remove it, so later scenarios start clean)
lr_no_record() {
	local left
	left=$(lr_records)
	if [[ -n $left ]]; then
		fail "run record left: $(tr '\n' ' ' <<<"$left")"
		kubectl delete configmaps -n "$NS" -l "$LABEL" >/dev/null 2>&1
	else
		note "no record left"
	fi
}

# lr_same NAME: cnd's JSON in NAME.out has the local answer
lr_same() {
	check_found "$1" "$BLOCK_DEFAULT" 22 || return 0
	[[ $NONCE == "$LOCAL_NONCE" ]] || fail "$1: nonce $NONCE, the local answer is $LOCAL_NONCE"
}

s21_chunks() {
	lr_local
	run_cnd cnd 120 "${K8S[@]}" "${LR_PROBLEM[@]}" --chunks 8 --workers 2 --cpu 0.5 --json -v
	[[ $RC == 0 ]] || fail "exit $RC, expected 0 ($(errline cnd))"
	lr_same cnd
	grep -q '"completions": *8' "$SDIR/jobs.json" || fail "the Job's completions are not 8"
	grep -q '"parallelism": *2' "$SDIR/jobs.json" || fail "the Job's parallelism is not 2"
	# the chunks' pods: which indexes ran, and the most running at once
	python3 - "$SDIR/pods.json" >"$SDIR/chunks.txt" <<-'PYEOF'
		import json, sys
		dec = json.JSONDecoder(); text = open(sys.argv[1]).read(); i = 0; running = {}; most = 0; idx = set()
		while i < len(text):
		    while i < len(text) and text[i].isspace(): i += 1
		    if i >= len(text): break
		    ev, i = dec.raw_decode(text, i)
		    p = ev.get("object", ev); name = p["metadata"]["name"]
		    ix = p["metadata"].get("annotations", {}).get("batch.kubernetes.io/job-completion-index")
		    if ix is not None: idx.add(int(ix))
		    if p.get("status", {}).get("phase") == "Running" and ev.get("type") != "DELETED": running[name] = 1
		    else: running.pop(name, None)
		    most = max(most, len(running))
		print(f"indexes {sorted(idx)} most-running {most}")
	PYEOF
	note "$(cat "$SDIR/chunks.txt") in ${ELAPSED}s"
	grep -q "most-running [012]$" "$SDIR/chunks.txt" || fail "more than 2 pods running at once ($(cat "$SDIR/chunks.txt"))"
	lr_no_record
}

s22_detach_attach() {
	lr_local
	run_cnd detach 30 "${K8S[@]}" "${LR_PROBLEM[@]}" --chunks 8 --workers 2 --cpu 0.5 --detach --json
	[[ $RC == 0 ]] || fail "--detach: exit $RC, expected 0 ($(errline detach))"
	python3 -c 'import sys; sys.exit(0 if float(sys.argv[1]) < 10 else 1)' "$ELAPSED" || fail "--detach took ${ELAPSED}s (limit 10s)"
	local run status
	run=$(py json "$SDIR/detach.out" run_id)
	status=$(py json "$SDIR/detach.out" status)
	[[ $status == detached && -n $run ]] || fail "--detach printed $(head -c 200 "$SDIR/detach.out")"
	[[ $(grep -c '^{' "$SDIR/detach.out") == 1 ]] || fail "--detach: not one JSON object"
	note "--detach exit 0 in ${ELAPSED}s, run $run"
	kubectl get configmap -n "$NS" "cnd-$run-record" -o name >/dev/null 2>&1 || fail "no record cnd-$run-record after --detach"
	local ttl
	ttl=$(kubectl get job -n "$NS" "cnd-$run" -o jsonpath='{.spec.ttlSecondsAfterFinished}' 2>/dev/null)
	[[ $ttl == 604800 ]] || fail "the detached Job's ttlSecondsAfterFinished is '$ttl', expected 604800"
	"$CND" k8s status "$run" --namespace "$NS" >"$SDIR/status.out" 2>"$SDIR/status.err" || fail "cnd k8s status $run failed"
	grep -q "chunks 8 (" "$SDIR/status.out" || fail "cnd k8s status shows no chunk counts: $(cat "$SDIR/status.out")"
	run_cnd attach 120 k8s attach "$run" --namespace "$NS" --json
	[[ $RC == 0 ]] || fail "attach: exit $RC, expected 0 ($(errline attach))"
	lr_same attach
	note "attach ended in ${ELAPSED}s"
	lr_no_record
}

# lr_start_and_wait NAME: cnd started in the background on the problem; returns once the
# run's record holds a chunk done (sets LR_PID, LR_RUN, LR_DONE), or fails
lr_start_and_wait() {
	local name=$1 t
	echo "+ cnd ${K8S[*]} ${LR_LONG[*]} --chunks 8 --workers 2 --cpu 100m --json" >"$SDIR/$name.cmd"
	"$CND" "${K8S[@]}" "${LR_LONG[@]}" --chunks 8 --workers 2 --cpu 100m --json >"$SDIR/$name.out" 2>"$SDIR/$name.err" &
	LR_PID=$! LR_RUN="" LR_DONE=""
	BG_PIDS+=("$LR_PID")
	t=$(now)
	while [[ -z $LR_DONE ]]; do
		[[ -z $LR_RUN ]] && LR_RUN=$(kubectl get jobs -n "$NS" -l "$LABEL" -o jsonpath='{.items[0].metadata.labels.cnd\.dev/run-id}' 2>/dev/null)
		[[ -n $LR_RUN ]] && LR_DONE=$(kubectl get configmap -n "$NS" "cnd-$LR_RUN-record" -o jsonpath='{.data.done}' 2>/dev/null)
		if ! kill -0 "$LR_PID" 2>/dev/null; then
			fail "the coordinator ended before a chunk was recorded ($(errline "$name"))"
			return 1
		fi
		if python3 -c 'import sys; sys.exit(0 if float(sys.argv[1]) > 60 else 1)' "$(since "$t")"; then
			fail "no chunk recorded as done within 60s"
			kill -KILL "$LR_PID"
			return 1
		fi
		sleep 0.1
	done
	LR_WAITED=$(since "$t")
}

s24_delete_resume() {
	lr_local long
	lr_start_and_wait first || return 0
	kubectl delete job -n "$NS" "cnd-$LR_RUN" --wait=false >"$SDIR/delete.out" 2>&1 || fail "kubectl delete job failed"
	local t rc
	t=$(now)
	wait "$LR_PID"
	rc=$?
	note "Job deleted after ${LR_WAITED}s (chunks '$LR_DONE' recorded); the coordinator exited $rc after $(since "$t")s"
	[[ $rc == 1 ]] || fail "the coordinator exited $rc after its Job was deleted, expected 1"
	grep -q "cnd k8s resume $LR_RUN" "$SDIR/first.err" || fail "the coordinator's error does not name cnd k8s resume: $(errline first)"
	local before
	before=$(kubectl get configmap -n "$NS" "cnd-$LR_RUN-record" -o jsonpath='{.data.done}' 2>/dev/null)
	[[ -n $before ]] || fail "the record is gone (or holds no chunk) after the Job's deletion"
	run_cnd resume 120 k8s resume "$LR_RUN" --namespace "$NS" --json
	[[ $RC == 0 ]] || fail "resume: exit $RC, expected 0 ($(errline resume))"
	lr_same resume
	# the resumed Job's chunks and its pods' reports: none of the chunks done before
	python3 - "$SDIR/jobs.json" "$SDIR/pods.json" "$before" >"$SDIR/resumed.txt" <<-'PYEOF'
		import json, sys
		def events(path):
		    dec = json.JSONDecoder(); text = open(path).read(); i = 0
		    while i < len(text):
		        while i < len(text) and text[i].isspace(): i += 1
		        if i >= len(text): break
		        ev, i = dec.raw_decode(text, i); yield ev.get("object", ev)
		def expand(s):
		    out = set()
		    for part in filter(None, s.split(",")):
		        a, _, b = part.partition("-"); out.update(range(int(a), int(b or a) + 1))
		    return out
		before = expand(sys.argv[3]); uid = None; listed = set()
		for j in events(sys.argv[1]):
		    ann = j["metadata"].get("annotations", {})
		    if "cnd.dev/resumed-chunks" in ann:
		        uid = j["metadata"]["uid"]; listed = expand(ann["cnd.dev/resumed-chunks"])
		ran = set()
		for p in events(sys.argv[2]):
		    owners = [o["uid"] for o in p["metadata"].get("ownerReferences", [])]
		    if uid not in owners: continue
		    for c in p.get("status", {}).get("containerStatuses", []):
		        t = (c.get("state") or {}).get("terminated")
		        if t and t.get("message"):
		            try: ran.add(json.loads(t["message"])["worker"])
		            except Exception: pass
		bad = sorted((listed | ran) & before)
		print(f"done-before {sorted(before)} resumed-chunks {sorted(listed)} reports-of {sorted(ran)} rerun {bad}")
		sys.exit(0 if uid and not bad and ran <= listed else 1)
	PYEOF
	(($? == 0)) || fail "resumed chunks: $(cat "$SDIR/resumed.txt")"
	note "$(cat "$SDIR/resumed.txt"); resume ended in ${ELAPSED}s"
	lr_no_record
}

s23_kill_attach() {
	lr_local long
	lr_start_and_wait first || return 0
	kill -KILL "$LR_PID"
	wait "$LR_PID" 2>/dev/null
	note "coordinator SIGKILLed after ${LR_WAITED}s with chunks '$LR_DONE' recorded"
	[[ -n $(kubectl get job -n "$NS" "cnd-$LR_RUN" -o name 2>/dev/null) ]] || fail "the Job is gone after the SIGKILL"
	run_cnd attach 120 k8s attach "$LR_RUN" --namespace "$NS" --json
	[[ $RC == 0 ]] || fail "attach: exit $RC, expected 0 ($(errline attach))"
	lr_same attach
	note "attach ended in ${ELAPSED}s"
	lr_no_record
}
