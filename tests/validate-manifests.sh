#!/usr/bin/env bash
# tests/validate-manifests.sh: every Job (and RBAC object) cnd renders validates against
# the Kubernetes OpenAPI schemas, strictly (unknown fields are errors):
#
#   - `cnd k8s manifest` with and without --rbac, 1 and 16 workers, text and Bitcoin
#     problems, with and without SQS, first and lowest mode, fractional CPUs, a node pool
#     (--node-selector, --toleration): against
#     Kubernetes 1.31 and the newest schema kubernetes-validate ships;
#   - the same rendered for --kube-version 1.29 (no successPolicy) against 1.29;
#   - deploy/rbac.yaml and deploy/job-example.yaml as committed, and a check that they are
#     what the code renders today.
#
#   tests/validate-manifests.sh [PATH-TO-cnd]
#
# Needs: pip install kubernetes-validate (CI installs it). Without PATH-TO-cnd the debug
# binary is built with cargo (CARGO_TARGET_DIR is honoured). Prints "N passed, N failed".
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
repo=$(cd "$here/.." && pwd)
cd "$repo"

if (($#)); then
	cnd=$1
else
	cargo build -q -p cnd-cli
	cnd=${CARGO_TARGET_DIR:-$repo/target}/debug/cnd
fi
[[ -x $cnd ]] || { echo "validate-manifests.sh: no cnd binary at $cnd" >&2; exit 2; }
command -v kubernetes-validate >/dev/null || {
	echo "validate-manifests.sh: kubernetes-validate not found (pip install kubernetes-validate)" >&2
	exit 2
}

# The newest schema this kubernetes-validate ships (its default version).
newest=$(kubernetes-validate --help | sed -n 's/.*Defaults to \([0-9][0-9.]*\).*/\1/p' | head -1)
newest=${newest:-1.37.0}

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

passed=0
failed=0
check() { # NAME VERSION FILE
	local name=$1 version=$2 file=$3
	if out=$(kubernetes-validate --strict --quiet -k "$version" "$file" 2>&1); then
		passed=$((passed + 1))
		echo "ok   $name (Kubernetes $version)"
	else
		failed=$((failed + 1))
		echo "FAIL $name (Kubernetes $version)"
		printf '%s\n' "$out" | sed 's/^/     /'
	fi
}
# contains / lacks NAME NEEDLE COMMAND...: the command must succeed (a cnd that fails never
# passes a check) and its standard output must contain / must not contain NEEDLE.
contains() { output_check yes "$@"; }
lacks() { output_check no "$@"; }
output_check() {
	local want=$1 name=$2 needle=$3
	shift 3
	local out status=0 found=no
	out=$("$@" 2>"$work/stderr") || status=$?
	grep -qF -- "$needle" <<<"$out" && found=yes
	if ((status != 0)); then
		failed=$((failed + 1))
		echo "FAIL $name: '$*' exited $status:"
		sed 's/^/     /' "$work/stderr"
	elif [[ $found != "$want" ]]; then
		failed=$((failed + 1))
		if [[ $want == yes ]]; then echo "FAIL $name: no '$needle' in:"; else echo "FAIL $name: '$needle' in:"; fi
		printf '%s\n' "$out" | sed 's/^/     /'
	else
		passed=$((passed + 1))
		echo "ok   $name"
	fi
}

# An 80-byte header: 72 zero bytes, nBits 0x1d00ffff (little-endian), nonce 0.
header=$(printf '%0144d' 0)ffff001d00000000
sqs=(--results sqs --sqs-queue-url http://10.88.77.1:5000/000000000000/cnd-q --sqs-endpoint-url http://10.88.77.1:5000 --aws-secret cnd-aws)
declare -A cases=(
	[text-1-worker]="--workers 1 -d 24"
	[text-16-workers]="--workers 16 -d 28 --timeout 10m --cpu 2 --memory 64Mi"
	[text-16-workers-rbac]="--workers 16 -d 28 --rbac --namespace cnd"
	[text-lowest-fractional-cpu]="--workers 4 -d 20 --mode lowest --cpu 500m --block hello --end 100000000"
	[bitcoin-nbits-target]="--workers 16 --bitcoin-header $header --image-pull-policy Never"
	[bitcoin-d-rbac]="--workers 1 --bitcoin-header $header -d 30 --rbac"
	[text-sqs]="--workers 4 -d 24 ${sqs[*]}"
	[text-sqs-16-rbac]="--workers 16 -d 24 --rbac --kernel portable ${sqs[*]}"
	[text-node-pool]="--workers 8 -d 24 --node-selector cloud.google.com/gke-spot=true --node-selector pool=cnd --toleration cloud.google.com/gke-spot=true:NoSchedule --toleration dedicated:NoExecute"
)

for name in $(printf '%s\n' "${!cases[@]}" | sort); do
	# shellcheck disable=SC2086 # the case's flags are words
	"$cnd" k8s manifest ${cases[$name]} >"$work/$name.yaml"
	# shellcheck disable=SC2086
	"$cnd" k8s manifest ${cases[$name]} --kube-version 1.29 >"$work/$name-1.29.yaml"
	check "$name" 1.31.0 "$work/$name.yaml"
	check "$name" "$newest" "$work/$name.yaml"
	check "$name, rendered for 1.29" 1.29.0 "$work/$name-1.29.yaml"
done

# successPolicy: in the default (newest) rendering of a first-mode search, never for 1.29
# nor in lowest mode; the 1.29 schema itself rejects it (strict), which the checks above
# would have caught.
contains "successPolicy in the newest rendering" "successPolicy:" "$cnd" k8s manifest -d 24
lacks "no successPolicy for 1.29" successPolicy "$cnd" k8s manifest -d 24 --kube-version 1.29
lacks "no successPolicy in lowest mode" successPolicy "$cnd" k8s manifest -d 24 --mode lowest
"$cnd" k8s manifest -d 24 >"$work/with-sp.yaml"
# Rejected for successPolicy itself, not for any other reason (a validator that cannot run).
out=$(kubernetes-validate --strict --quiet -k 1.29.0 "$work/with-sp.yaml" 2>&1) || true
if [[ $out != *"'successPolicy' was unexpected"* ]]; then
	failed=$((failed + 1)); echo "FAIL the 1.29 schema should reject successPolicy (is the check strict?):"
	printf '%s\n' "$out" | sed 's/^/     /'
else
	passed=$((passed + 1)); echo "ok   the 1.29 schema rejects successPolicy (the strict check bites)"
fi

# --node-selector and --toleration land in the pod spec.
contains "--node-selector in the pod's nodeSelector" 'cloud.google.com/gke-spot: "true"' "$cnd" k8s manifest -d 24 --node-selector cloud.google.com/gke-spot=true
contains "--toleration KEY:EFFECT is an Exists toleration" "operator: Exists" "$cnd" k8s manifest -d 24 --toleration dedicated:NoExecute

# The committed examples validate, and are what the code renders today.
for f in deploy/rbac.yaml deploy/job-example.yaml; do
	check "$f" 1.31.0 "$f"
	check "$f" "$newest" "$f"
done
strip() { grep -v '^#' "$1"; }
"$cnd" k8s manifest --workers 4 -d 24 --timeout 10m --run-id example >"$work/job-example.yaml"
if diff -u <(strip deploy/job-example.yaml) "$work/job-example.yaml" >"$work/diff" 2>&1; then
	passed=$((passed + 1)); echo "ok   deploy/job-example.yaml is what cnd renders"
else
	failed=$((failed + 1)); echo "FAIL deploy/job-example.yaml differs from cnd's rendering:"; sed 's/^/     /' "$work/diff"
fi
"$cnd" k8s manifest --rbac --namespace default -d 1 --run-id rbac | awk '/^apiVersion: batch\/v1$/{exit} {print}' | sed '$d' >"$work/rbac.yaml"
if diff -u <(strip deploy/rbac.yaml) "$work/rbac.yaml" >"$work/diff" 2>&1; then
	passed=$((passed + 1)); echo "ok   deploy/rbac.yaml is what cnd renders"
else
	failed=$((failed + 1)); echo "FAIL deploy/rbac.yaml differs from cnd's rendering:"; sed 's/^/     /' "$work/diff"
fi

echo "manifests: $passed passed, $failed failed"
((failed == 0))
