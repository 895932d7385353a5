#!/usr/bin/env bash
# restart.sh: kill one component of the running cluster and start it again with
# the same command line, the way up.sh started it (fault injection for tests).
#
#   restart.sh [--signal KILL|TERM|...] [--down SECONDS] [--timeout SECONDS] NAME
#
#   NAME       kube-apiserver, kube-controller-manager, kube-scheduler, kubelet,
#              etcd or containerd (the names of up.sh's pid files)
#   --signal   how to stop it (default KILL: a crash, no graceful shutdown)
#   --down     how long it stays down before it is started again (default 0)
#   --timeout  how long to wait for it to be ready again (default 120)
#
# The command line comes from $PID_DIR/NAME.cmdline, which up.sh writes (or, for
# a cluster started before up.sh wrote it, from /proc/PID/cmdline of the running
# process). The new process runs detached like up.sh's, logs to the same
# $LOG_DIR/NAME.log, and its pid replaces the old one for down.sh. Ready means:
# kube-apiserver /readyz says ok (with the admin token, as up.sh checks it);
# etcd /health; any other component still alive 2 s after its start.
# Prints one line on stdout: `NAME restarted: down D s, ready R s after the start`.
source "$(dirname "${BASH_SOURCE[0]}")/common.sh"
need_root

sig=KILL down=0 timeout=120 name=""
while (($#)); do
	case $1 in
	--signal) sig=${2:?}; shift 2 ;;
	--down) down=${2:?}; shift 2 ;;
	--timeout) timeout=${2:?}; shift 2 ;;
	-h | --help) awk 'NR > 1 && /^#/ { sub(/^# ?/, ""); print; next } NR > 1 { exit }' "$0"; exit 0 ;;
	-*) die "unknown option $1 (see --help)" ;;
	*) name=$1; shift ;;
	esac
done
[[ -n $name ]] || die "name a component (see --help)"
pid_alive "$name" || die "$name is not running (no live pid in $PID_DIR/$name.pid): is the cluster up?"
pid=$(cat "$PID_DIR/$name.pid")

# the command line, NUL-separated, argv[0] = the binary
cmdfile=$PID_DIR/$name.cmdline
if [[ ! -s $cmdfile ]]; then
	cp "/proc/$pid/cmdline" "$cmdfile" || die "cannot read the command line of $name (pid $pid)"
fi
mapfile -d '' -t argv <"$cmdfile"
((${#argv[@]} >= 1)) || die "$cmdfile is empty"
[[ ${argv[0]} == "$(cat "$PID_DIR/$name.exe")" ]] ||
	die "$cmdfile starts with ${argv[0]}, not the recorded binary $(cat "$PID_DIR/$name.exe")"

now() { date +%s.%N; }
secs() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.1f", b - a }'; }

t_kill=$(now)
kill "-$sig" "$pid" || die "kill -$sig $pid ($name) failed"
for _ in $(seq 1 200); do
	[[ -d /proc/$pid ]] || break
	# a zombie (not yet reaped by PID 1) is gone for our purposes
	[[ $(awk '{print $3}' "/proc/$pid/stat" 2>/dev/null) == Z ]] && break
	sleep 0.05
done
[[ -d /proc/$pid && $(awk '{print $3}' "/proc/$pid/stat" 2>/dev/null) != Z ]] &&
	die "$name (pid $pid) still runs 10 s after SIGTERM/$sig"
log "$name (pid $pid) stopped by SIG$sig"
sleep "$down"

echo "--- $(date -Is) restart.sh: started again after SIG$sig" >>"$LOG_DIR/$name.log"
t_start=$(now)
setsid "${argv[@]}" >>"$LOG_DIR/$name.log" 2>&1 </dev/null &
echo $! >"$PID_DIR/$name.pid"

ready() {
	case $name in
	kube-apiserver)
		[[ $(curl -sf --cacert "$PKI_DIR/ca.crt" -H "Authorization: Bearer $ADMIN_TOKEN" \
			"https://127.0.0.1:$APISERVER_PORT/readyz" 2>/dev/null) == ok ]] ;;
	etcd) curl -sf "http://127.0.0.1:$ETCD_CLIENT_PORT/health" 2>/dev/null | grep -q '"health":"true"' ;;
	*) (($(date +%s) - ${t_start%.*} >= 2)) ;;
	esac
}
deadline=$((SECONDS + timeout))
until ready; do
	pid_alive "$name" || {
		tail -20 "$LOG_DIR/$name.log" >&2
		die "$name exited after its restart (log: $LOG_DIR/$name.log)"
	}
	((SECONDS < deadline)) || die "$name not ready ${timeout}s after its restart (log: $LOG_DIR/$name.log)"
	sleep 0.2
done
echo "$name restarted: down $(secs "$t_kill" "$t_start") s, ready $(secs "$t_start" "$(now)") s after the start"
