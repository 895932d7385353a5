#!/usr/bin/env bash
# k8s-scale.sh: the coordinator measured with a thousand pods (or more) on simulated nodes.
#
#   tests/k8s-scale.sh [--pods N] [--chunks K] [--node-cpus C] [--win-after S] [--cnd PATH] [--keep-up]
#
#   --pods N       pods of the run (default 1000): parallelism = N, 1 CPU each
#   --chunks K     chunks of the run (cnd --chunks K: completions = K; default N): the Job
#                  runs them N at a time, the winner is chunk 0.7 K
#   --node-cpus C  CPUs of each simulated node (default 32): ceil(N / C) nodes
#   --win-after S  seconds from a pod's start to the winning pod's report (default
#                  max(30, N / 50)): after every pod was created and bound
#   --cnd PATH     the coordinator to measure [default: cargo build --release -p cnd-cli,
#                  $CARGO_TARGET_DIR/release/cnd]
#   --keep-up      leave the cluster (and kwok, and the nodes) up at the end
#
# On the real control plane of tests/k8s/cluster (apiserver, controller-manager with the Job
# controller, scheduler), kwok (tests/k8s/cluster/kwok.sh) plays ceil(N / C) nodes labelled
# and tainted cnd.dev/kwok=true:NoSchedule, and the pods of cnd's Job on them, as
# tests/k8s-scale/stages.yaml says: every index exhausts its range (exit 3, a worker's
# report) but one, which reports a golden nonce precomputed here with `cnd worker` over that
# index's range, and 5 indexes whose first pod is SIGKILLed (exit 137) and retried. cnd runs
# on the host (`cnd --backend k8s --node-selector cnd.dev/kwok=true --toleration
# cnd.dev/kwok=true:NoSchedule`), under /usr/bin/time -v.
#
# Prints: the answer and exit code (must be the precomputed nonce, exit 0), the coordinator's
# peak RSS and CPU time, its API requests by verb (the apiserver's audit log, user agent
# cnd/...), the time from the Job's creation to every pod bound, from the winning pod's
# report reaching the apiserver to the printed answer, and from the Job's deletion to cnd's
# deletions of the pods that may still run and of the rest (deletecollection), and to the
# last pod gone; and that nothing is left (Jobs, pods, nodes). Exit 0 if the answer is right
# and nothing is left, 1 otherwise.
#
# Takes the test cluster's lock (/var/tmp/cnd-e2e.lock, as tests/k8s-e2e.sh does), brings the
# cluster up with the audit log and controller QPS 200 (CND_K8S_AUDIT=1,
# CND_K8S_CONTROLLER_QPS) unless one is up already, and brings down what it started on every
# exit path (kwok, the nodes, the cluster), each step bounded in time. Root only.
# Work dir: $CND_SCALE_WORK (default /var/tmp/cnd-scale).
set -euo pipefail
REPO=$(cd "$(dirname "$0")/.." && pwd)
CLUSTER=$REPO/tests/k8s/cluster
SCALE=$REPO/tests/k8s-scale
WORK=${CND_SCALE_WORK:-/var/tmp/cnd-scale}
export CARGO_TARGET_DIR=${CARGO_TARGET_DIR:-/var/tmp/cnd-target}
# the cluster's build cache and state, where tests/k8s/cluster/common.sh puts them
K8S_CACHE=${CND_K8S_CACHE:-/var/tmp/cnd-k8s}
K8S_STATE=${CND_K8S_STATE:-$K8S_CACHE/run}
export KUBECONFIG=${CND_K8S_KUBECONFIG:-$K8S_CACHE/kubeconfig}
export PATH=$K8S_CACHE/bin:$PATH
NODE_LABEL=cnd.dev/kwok
CHUNK=1048576 # nonces per index: at -d 16, ~16 golden nonces expected in each
DIFFICULTY=16

say() { printf '[%s] %s\n' "$(date +%H:%M:%S)" "$*" >&2; }
die() {
	say "ERROR: $*"
	exit 1
}
usage() {
	echo "$1 (usage: tests/k8s-scale.sh [--pods N] [--node-cpus C] [--win-after S] [--cnd PATH] [--keep-up])" >&2
	exit 2
}
whole() { [[ $2 =~ ^[0-9]+$ ]] && (($2 >= $3 && $2 <= $4)) || usage "$1: '$2' is not allowed (allowed: a whole number $3..$4)"; }

PODS=1000 CHUNKS="" NODE_CPUS=32 WIN_AFTER="" CND="" keep_up=0
while (($#)); do
	case $1 in
	--pods) whole --pods "${2:-}" 1 100000 && PODS=$2 && shift 2 ;;
	--chunks) whole --chunks "${2:-}" 1 100000 && CHUNKS=$2 && shift 2 ;;
	--node-cpus) whole --node-cpus "${2:-}" 1 1000 && NODE_CPUS=$2 && shift 2 ;;
	--win-after) whole --win-after "${2:-}" 1 3600 && WIN_AFTER=$2 && shift 2 ;;
	--cnd) [[ -x ${2:-} ]] || usage "--cnd: '${2:-}' is not an executable file (allowed: a path to cnd)"
		CND=$(readlink -f "$2") && shift 2 ;;
	--keep-up) keep_up=1 && shift ;;
	*) usage "unknown argument '$1'" ;;
	esac
done
[[ $(id -u) == 0 ]] || die "run as root (the test cluster does)"
if [[ ! -x /usr/bin/time ]]; then
	say "installing GNU time (apt-get)"
	{ apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq time; } >/dev/null 2>&1 ||
		die "no /usr/bin/time, and apt-get install time failed"
fi
# the Job's indexes: one per chunk
INDEXES=${CHUNKS:-$PODS}
WIN_AFTER=${WIN_AFTER:-$((PODS / 50 > 30 ? PODS / 50 : 30))}
NODES=$(((PODS + NODE_CPUS - 1) / NODE_CPUS))
mkdir -p "$WORK"
rm -f "$WORK"/{run.json,run.err,time.txt,stages.yaml,nodes.yaml,figures.txt}

# --- cleanup on every exit path, each step bounded --------------------------------------------
cluster_started=0 kwok_started=0 nodes_made=0
cleanup() {
	local rc=$?
	trap - EXIT INT TERM
	if ((keep_up)); then
		say "--keep-up: cluster, kwok and nodes stay; stop them with $CLUSTER/down.sh"
		exit "$rc"
	fi
	if ((nodes_made)) || ((kwok_started)); then
		# pods a failed run may have left (cnd's own cleanup is the one under test)
		timeout 60 kubectl delete jobs -l app.kubernetes.io/name=cnd --cascade=background --wait=false \
			--request-timeout=30s >/dev/null 2>&1 || true
	fi
	if ((nodes_made)); then
		timeout 60 kubectl delete nodes -l "$NODE_LABEL=true" --wait=true --timeout=50s --request-timeout=30s \
			>/dev/null 2>&1 || say "could not delete every simulated node"
		local nodes_left
		nodes_left=$(timeout 30 kubectl get nodes -l "$NODE_LABEL=true" -o name --request-timeout=20s 2>/dev/null | wc -l)
		say "left: $nodes_left simulated nodes"
		((nodes_left == 0)) || rc=1
	fi
	if ((kwok_started)); then
		timeout 30 "$CLUSTER/kwok.sh" stop 2>>"$WORK/kwok.log" || say "could not stop kwok"
	fi
	if ((cluster_started)); then
		say "down.sh"
		timeout 180 "$CLUSTER/down.sh" >"$WORK/down.log" 2>&1 || {
			say "down.sh FAILED: see $WORK/down.log"
			rc=1
		}
	fi
	exit "$rc"
}
trap cleanup EXIT
trap 'say "interrupted"; exit 130' INT TERM

# --- 1. binaries: cnd (release), the cluster's, kwok ----------------------------------------
if [[ -z $CND ]]; then
	CND=$CARGO_TARGET_DIR/release/cnd
	say "cargo build --release -p cnd-cli (target $CARGO_TARGET_DIR)"
	(cd "$REPO" && cargo build --release -q -p cnd-cli) >"$WORK/build.log" 2>&1 || {
		tail -30 "$WORK/build.log" >&2
		die "cargo build failed"
	}
fi
[[ -x $CND ]] || die "$CND missing"
"$CLUSTER/build.sh" >"$WORK/cluster-build.log" 2>&1 || die "tests/k8s/cluster/build.sh failed: $WORK/cluster-build.log"
"$CLUSTER/kwok.sh" build 2>"$WORK/kwok-build.log" || die "kwok.sh build failed: $WORK/kwok-build.log"

# --- 2. the winning index and its real golden nonce (cnd worker over that index's range) -------
END=$((INDEXES * CHUNK))
BLOCK_HEX=$(printf 'COMSM0010cloud' | od -An -tx1 | tr -d ' \n')
WIN=$((INDEXES * 7 / 10))
for ((try = 0; try < 20; try++)); do
	set +e
	report=$(CND_RUN_ID=precompute CND_FORMAT=text CND_BLOCK_HEX=$BLOCK_HEX CND_DIFFICULTY=$DIFFICULTY \
		CND_BIT_ORDER=msb CND_START=0 CND_END=$END CND_WORKER_INDEX=$WIN CND_WORKER_COUNT=$INDEXES \
		CND_THREADS=1 CND_RESULTS=stdout "$CND" worker 2>/dev/null)
	wrc=$?
	set -e
	((wrc == 0)) && break
	((wrc == 3)) || die "cnd worker (index $WIN) exited $wrc: $report"
	WIN=$(((WIN + 1) % INDEXES))
done
((wrc == 0)) || die "no golden nonce in 20 indexes' ranges"
read -r NONCE DIGEST WIN_HASHES WIN_START WIN_END < <(python3 -c '
import json, sys
r = json.loads(sys.argv[1])
print(r["nonce"], r["digest"], r["hashes"], r["range"]["start"], r["range"]["end"])' "$report")
((WIN_START == WIN * CHUNK && WIN_END == (WIN + 1) * CHUNK)) ||
	die "index $WIN's range is [$WIN_START, $WIN_END), not [$((WIN * CHUNK)), $(((WIN + 1) * CHUNK)))"
# 5 indexes that crash once, spread over the run, never the winner
CRASH=()
for c in 1 $((INDEXES / 4)) $((INDEXES / 2)) $((INDEXES * 3 / 4)) $((INDEXES - 2)); do
	((c >= 0 && c < INDEXES && c != WIN)) || continue
	[[ " ${CRASH[*]} " == *" $c "* ]] || CRASH+=("$c")
done
yaml_list() { local IFS=,; local q=("${@/#/\"}"); q=("${q[@]/%/\"}"); echo "[${q[*]}]"; }
say "$PODS pods ($INDEXES chunks) on $NODES simulated nodes of $NODE_CPUS CPUs; index $WIN finds nonce $NONCE after ${WIN_AFTER}s; indexes ${CRASH[*]} crash once"

WIN_MS=$((WIN_AFTER * 1000))
sed -e "s/@WIN@/$WIN/g" -e "s/@NONCE@/$NONCE/g" -e "s/@DIGEST@/$DIGEST/g" -e "s/@WIN_HASHES@/$WIN_HASHES/g" \
	-e "s/@CHUNK@/$CHUNK/g" -e "s/@CRASH@/$(yaml_list "${CRASH[@]}")/g" \
	-e "s/@NOT_EXHAUSTED@/$(yaml_list "$WIN" "${CRASH[@]}")/g" \
	-e "s/@START_MS@/1000/g" -e "s/@START_JITTER_MS@/3000/g" \
	-e "s/@RUN_MS@/$((WIN_MS / 3))/g" -e "s/@RUN_JITTER_MS@/$((WIN_MS * 9 / 10))/g" \
	-e "s/@RUN_S@/$((WIN_AFTER / 2))/g" -e "s/@WIN_S@/$WIN_AFTER/g" -e "s/@CRASH_MS@/5000/g" -e "s/@WIN_MS@/$WIN_MS/g" \
	"$SCALE/stages.yaml" >"$WORK/stages.yaml"
! grep -n '@[A-Z_]*@' "$WORK/stages.yaml" || die "unfilled values in $WORK/stages.yaml"
for ((i = 0; i < NODES; i++)); do
	sed -e "s/@NAME@/kwok-scale-$i/g" -e "s/@CPUS@/$NODE_CPUS/g" -e "s/@PODS@/110/g" "$SCALE/node.yaml"
	echo "---"
done >"$WORK/nodes.yaml"

# --- 3. the cluster (under its lock), kwok, the nodes ------------------------------------------
exec 8>"${CND_E2E_LOCK:-/var/tmp/cnd-e2e.lock}"
if ! flock -n 8; then
	say "waiting for the test cluster (another run holds the lock; at most 1 h)"
	flock -w 3600 8 || die "the test cluster's lock was not free within 1 h"
fi
AUDIT=$K8S_STATE/logs/audit.log
if kubectl get --raw /readyz --request-timeout=5s >/dev/null 2>&1; then
	say "using the cluster that is up"
	[[ -f $AUDIT ]] || say "no audit log: the cluster was not started with CND_K8S_AUDIT=1, requests are not counted"
else
	say "up.sh (audit log on, controller-manager and scheduler at 200 QPS)"
	cluster_started=1
	CND_K8S_AUDIT=1 CND_K8S_CONTROLLER_QPS=200 timeout 300 "$CLUSTER/up.sh" >"$WORK/up.log" 2>&1 ||
		die "up.sh failed: $WORK/up.log"
fi
kwok_started=1
"$CLUSTER/kwok.sh" start "$SCALE/kwok.yaml" "$WORK/stages.yaml" 2>"$WORK/kwok.log" || die "kwok.sh start failed: $WORK/kwok.log"
nodes_made=1
tn=$SECONDS
kubectl apply -f "$WORK/nodes.yaml" --request-timeout=60s >/dev/null
kubectl wait --for=condition=Ready node -l "$NODE_LABEL=true" --timeout=120s >/dev/null ||
	die "the simulated nodes did not get Ready"
say "$NODES simulated nodes Ready in $((SECONDS - tn))s"

# --- 4. the run -------------------------------------------------------------------------------
audit_from=$(wc -l <"$AUDIT" 2>/dev/null || echo 0)
say "cnd --backend k8s --workers $PODS --chunks $INDEXES -d $DIFFICULTY --end $END --node-selector $NODE_LABEL=true --toleration $NODE_LABEL=true:NoSchedule"
set +e
timeout -s INT -k 60 1200 /usr/bin/time -v -o "$WORK/time.txt" "$CND" --backend k8s --workers "$PODS" --chunks "$INDEXES" \
	-d "$DIFFICULTY" --start 0 --end "$END" --mode first --timeout 15m \
	--image localhost/cnd:scale --image-pull-policy Never --cpu 1 --memory 64Mi \
	--node-selector "$NODE_LABEL=true" --toleration "$NODE_LABEL=true:NoSchedule" \
	--json -v 2>"$WORK/run.err" | while IFS= read -r line; do printf '%s %s\n' "$(date +%s.%N)" "$line"; done >"$WORK/run.json"
rc=${PIPESTATUS[0]}
set -e
ended=$(date +%s.%N)
say "cnd exited $rc"

# --- 5. what is left, then the figures ----------------------------------------------------------
left_jobs=$(kubectl get jobs -l app.kubernetes.io/name=cnd -o name --request-timeout=30s | wc -l)
# the run's record (a ConfigMap labelled like the run) goes with it
left_records=$(kubectl get configmaps -l app.kubernetes.io/name=cnd -o name --request-timeout=30s | wc -l)
left_pods=-1 gone_at=0
for ((i = 0; i < 240; i++)); do # at most 2 min more
	left_pods=$(kubectl get pods -l app.kubernetes.io/name=cnd -o name --request-timeout=30s | wc -l)
	((left_pods == 0)) && gone_at=$(date +%s.%N) && break
	sleep 0.5
done
sleep 2 # the audit log is written in batches of at most 1 s
set +e
python3 - "$WORK" "$AUDIT" "$audit_from" "$rc" "$ended" "$NONCE" "$PODS" "$left_jobs" "$left_pods" "$gone_at" "$left_records" <<'PYEOF' | tee "$WORK/figures.txt"
import collections, datetime, json, re, sys
work, audit, skip, rc, ended, nonce, pods, left_jobs, left_pods, gone_at, left_records = sys.argv[1:]
gone_at = float(gone_at)
apiserver_log = audit.rsplit("/", 1)[0] + "/kube-apiserver.log"
rc, ended, pods = int(rc), float(ended), int(pods)

def ts(s):
    return datetime.datetime.fromisoformat(s.replace("Z", "+00:00")).timestamp()

out = {}
lines = open(f"{work}/run.json").read().splitlines()
answer = None
for l in lines:
    t, _, js = l.partition(" ")
    try:
        answer, printed = json.loads(js), float(t)
    except ValueError:
        pass
ok = answer is not None and answer.get("nonce") == int(nonce) and rc == 0
print(f"answer: nonce {answer.get('nonce') if answer else None} (expected {nonce}), exit code {rc}: {'RIGHT' if ok else 'WRONG'}")
tv = open(f"{work}/time.txt").read()
rss = int(re.search(r"Maximum resident set size \(kbytes\): (\d+)", tv).group(1))
user = float(re.search(r"User time \(seconds\): ([\d.]+)", tv).group(1))
sys_ = float(re.search(r"System time \(seconds\): ([\d.]+)", tv).group(1))
wall = re.search(r"Elapsed \(wall clock\) time.*: (.+)", tv).group(1)
print(f"coordinator: peak RSS {rss / 1024:.1f} MiB, CPU {user + sys_:.2f} s ({user:.2f} user + {sys_:.2f} system), wall {wall}")
events = []
try:
    with open(audit) as f:
        for i, l in enumerate(f):
            if i >= int(skip):
                events.append(json.loads(l))
except FileNotFoundError:
    print("requests: no audit log")
ours = [e for e in events if e.get("userAgent", "").startswith("cnd/")]
if events:
    by = collections.Counter()
    for e in ours:
        o = e.get("objectRef", {})
        res = o.get("resource", e["requestURI"].split("?")[0]) + ("/" + o["subresource"] if o.get("subresource") else "")
        by[(e["verb"], res)] += 1
    first = min((ts(e["requestReceivedTimestamp"]) for e in ours), default=0)
    span = max(ended - first, 1e-9)
    print(f"requests by cnd: {len(ours)} in {span:.1f} s = {len(ours) / span:.2f}/s, "
          f"{len(ours) / span / pods:.5f} per pod per second")
    for (verb, res), n in sorted(by.items(), key=lambda x: (-x[1], x[0])):
        print(f"  {verb:7} {res:20} {n}")
    def when(pred, pick=min):
        xs = [ts(e["stageTimestamp"]) for e in events if pred(e)]
        return pick(xs) if xs else None
    created = when(lambda e: e.get("userAgent", "").startswith("cnd/") and e["verb"] == "create"
                   and e["objectRef"].get("resource") == "jobs")
    bound = [ts(e["stageTimestamp"]) for e in events if e["verb"] == "create"
             and e["objectRef"].get("subresource") == "binding"]
    deleted = when(lambda e: e.get("userAgent", "").startswith("cnd/") and e["verb"] == "delete"
                   and e["objectRef"].get("resource") == "jobs")
    winner = (answer or {}).get("worker") or ""
    # when kwok's status patch with the winner's report reached the apiserver: its last status
    # patch received before the answer was printed (kwok patches the pod again later)
    reported = max((t for e in events if e["verb"] == "patch" and e["objectRef"].get("name") == winner
                    and e["objectRef"].get("subresource") == "status"
                    for t in [ts(e["requestReceivedTimestamp"])] if answer and t <= printed), default=None)
    bound.sort()
    if created and len(bound) >= pods:
        print(f"Job created → {pods} pods bound: {bound[pods - 1] - created:.1f} s (first after "
              f"{bound[0] - created:.1f} s; with the retried pods, {len(bound)} bindings in {bound[-1] - created:.1f} s)")
    elif created:
        print(f"Job created → only {len(bound)} of {pods} pods were bound")
    if reported and answer:
        print(f"winning pod's report ({winner}) reaches the apiserver → answer printed: {printed - reported:.2f} s")
    if deleted:
        # cnd's deletecollection of the pods that may still run, then of every pod of the run
        for e in ours:
            if e["verb"] == "deletecollection" and e["objectRef"].get("resource") == "pods":
                which = "the pods that may still run" if "fieldSelector" in e["requestURI"] else "every pod of the run"
                print(f"Job deleted → {which} deleted (deletecollection, HTTP {e.get('responseStatus', {}).get('code')}): "
                      f"{ts(e['stageTimestamp']) - deleted:.1f} s")
        gone = f"{gone_at - deleted:.1f} s" if gone_at else "not within 2 min of the coordinator's exit"
        print(f"Job deleted → coordinator exited (every pod stopped): {ended - deleted:.1f} s; "
              f"→ no pod object left (kubectl, every 0.5 s): {gone}")
err = open(f"{work}/run.err").read()
print(f"crashed pods the Job retried (exit 137): {err.count('exited 137')}")
try:
    run_id = (answer or {}).get("run_id", "?")
    closed = sum(1 for l in open(f"{apiserver_log}") if "Forcing pods watcher close" in l and f"run-id={run_id}" in l)
    print(f"cnd's pod watches the apiserver closed for being slow to read: {closed}")
except FileNotFoundError:
    pass
print(f"left: {left_jobs} Jobs, {left_pods} pods, {left_records} run records of cnd")
sys.exit(0 if ok and left_jobs == "0" and left_pods == "0" and left_records == "0" else 1)
PYEOF
result=${PIPESTATUS[0]}
say "run log: $WORK/run.err; figures: $WORK/figures.txt"
exit "$result"
