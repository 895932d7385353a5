#!/usr/bin/env bash
# kwok.sh: kwok (sigs.k8s.io/kwok) beside the real control plane of up.sh, to play nodes
# and pods that no kubelet runs (tests/k8s-scale.sh: a thousand pods on a 2-CPU machine).
#
#   kwok.sh build            # once: go install sigs.k8s.io/kwok/cmd/kwok@$CND_KWOK_VERSION
#                            # into $BIN_DIR (cached like the cluster's other binaries)
#   kwok.sh start CONFIG...  # start kwok with these config files (its Stages), managing
#                            # only the nodes labelled $KWOK_NODE_LABEL; waits until it serves
#   kwok.sh stop             # stop it (down.sh does too)
#
# kwok talks to the apiserver with the admin kubeconfig (user agent kwok/...), binds its
# own server to 127.0.0.1 only, and gives the simulated pods IPs from 10.88.200.0/21 (never
# routed: no process runs in those pods). Its HOME is its own dir, so that no
# ~/.kwok/kwok.yaml of the machine adds stages.
source "$(dirname "${BASH_SOURCE[0]}")/common.sh"
need_root

KWOK_VERSION=${CND_KWOK_VERSION:-v0.8.0}
# The label of the nodes kwok manages (and of nothing else).
KWOK_NODE_LABEL=${CND_KWOK_NODE_LABEL:-cnd.dev/kwok=true}
KWOK_PORT=${CND_KWOK_PORT:-10247}
KWOK_HOME=$CND_K8S_STATE/kwok

build() {
	local stamp=$CND_K8S_CACHE/kwok.version
	if [[ -x $BIN_DIR/kwok && $(cat "$stamp" 2>/dev/null) == "$KWOK_VERSION" ]]; then
		log "kwok $KWOK_VERSION already built ($BIN_DIR/kwok)"
		return 0
	fi
	command -v go >/dev/null || die "no go command: run build.sh first"
	mkdir -p "$BIN_DIR"
	log "building kwok $KWOK_VERSION from the Go module proxy (log: $CND_K8S_CACHE/kwok-build.log)"
	local tmp
	tmp=$(mktemp -d "$CND_K8S_CACHE/kwok-bin.XXXXXX")
	if ! (
		export GOPATH=$CND_K8S_CACHE/gopath GOMODCACHE=$CND_K8S_CACHE/gopath/pkg/mod
		export GOCACHE=$CND_K8S_CACHE/gocache GOTELEMETRY=off CGO_ENABLED=0 GOFLAGS=-mod=mod GOBIN=$tmp
		[[ $GO_TOOLCHAIN == local ]] || export GOTOOLCHAIN=$GO_TOOLCHAIN
		cd "$tmp" && go install "sigs.k8s.io/kwok/cmd/kwok@$KWOK_VERSION"
	) >"$CND_K8S_CACHE/kwok-build.log" 2>&1; then
		tail -20 "$CND_K8S_CACHE/kwok-build.log" >&2
		rm -rf "$tmp"
		die "could not build kwok $KWOK_VERSION"
	fi
	mv "$tmp/kwok" "$BIN_DIR/kwok"
	rm -rf "$tmp"
	echo "$KWOK_VERSION" >"$stamp"
	log "built $("$BIN_DIR/kwok" --version 2>/dev/null | head -1)"
}

start() {
	(($# > 0)) || die "usage: kwok.sh start CONFIG..."
	[[ -x $BIN_DIR/kwok ]] || die "$BIN_DIR/kwok missing: run kwok.sh build first"
	[[ -f $KUBECONFIG_PATH && -d $PID_DIR ]] || die "no cluster is up (run up.sh first)"
	pid_alive kwok && die "kwok is already running (pid $(cat "$PID_DIR/kwok.pid")): kwok.sh stop first"
	local configs=() c
	for c in "$@"; do
		[[ -f $c ]] || die "no such kwok config: $c"
		configs+=(--config "$(readlink -f "$c")")
	done
	mkdir -p "$KWOK_HOME" "$LOG_DIR"
	local exe
	exe=$(readlink -f "$BIN_DIR/kwok")
	HOME=$KWOK_HOME setsid "$exe" \
		--kubeconfig="$KUBECONFIG_PATH" \
		--manage-all-nodes=false \
		--manage-nodes-with-label-selector="$KWOK_NODE_LABEL" \
		--server-address="127.0.0.1:$KWOK_PORT" \
		--node-ip=10.88.200.1 --cidr=10.88.200.0/21 \
		"${configs[@]}" \
		>>"$LOG_DIR/kwok.log" 2>&1 </dev/null &
	echo $! >"$PID_DIR/kwok.pid"
	echo "$exe" >"$PID_DIR/kwok.exe"
	local i
	for ((i = 0; i < 100; i++)); do
		pid_alive kwok || {
			tail -20 "$LOG_DIR/kwok.log" >&2
			die "kwok exited at once (log: $LOG_DIR/kwok.log)"
		}
		curl -sf "http://127.0.0.1:$KWOK_PORT/healthz" >/dev/null 2>&1 && {
			log "kwok running (pid $(cat "$PID_DIR/kwok.pid")), managing nodes labelled $KWOK_NODE_LABEL"
			return 0
		}
		sleep 0.2
	done
	stop
	die "kwok did not serve /healthz within 20 s (log: $LOG_DIR/kwok.log)"
}

stop() {
	pid_alive kwok || {
		rm -f "$PID_DIR/kwok.pid" "$PID_DIR/kwok.exe"
		return 0
	}
	local pid i
	pid=$(cat "$PID_DIR/kwok.pid")
	kill -TERM "$pid" 2>/dev/null
	for ((i = 0; i < 50; i++)); do
		pid_alive kwok || break
		sleep 0.2
	done
	pid_alive kwok && kill -KILL "$pid" 2>/dev/null
	sleep 0.2
	pid_alive kwok && die "kwok (pid $pid) still running"
	rm -f "$PID_DIR/kwok.pid" "$PID_DIR/kwok.exe"
	log "stopped kwok (pid $pid)"
}

case ${1:-} in
build) build ;;
start) shift && start "$@" ;;
stop) stop ;;
*) die "usage: kwok.sh build | start CONFIG... | stop" ;;
esac
