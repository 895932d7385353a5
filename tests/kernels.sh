#!/usr/bin/env bash
# tests/kernels.sh CND [CPUINFO]: the kernels this CPU runs, one per line, decided from the
# CPU's flags (CPUINFO, default /proc/cpuinfo) with the runtime checks of cnd-core/src/kernel:
#
#   avx512    avx512f + avx512vl          (avx512.rs)
#   hybrid    sha_ni + sse4_1 + ssse3 + avx512f + avx512vl   (hybrid.rs)
#   sha-ni    sha_ni + sse4_1 + ssse3     (sha_ni.rs)
#   avx2      avx2                        (avx2.rs)
#   portable  any CPU                     (portable.rs)
#
# and checked against cnd itself (`cnd -d 0 --end 1 --kernel K`): a kernel the flags allow
# must run; one they do not must be refused with exit 2 and "this CPU cannot run". Anything
# else (a build error, a panic, a kernel cnd runs on a CPU without its flags) is a failure:
# exit 1, saying why. .ci/run runs the test suites once per kernel printed.
set -euo pipefail

cnd=${1:?usage: tests/kernels.sh CND [CPUINFO]}
cpuinfo=${2:-/proc/cpuinfo}
[[ -x $cnd ]] || { echo "kernels.sh: no cnd binary at $cnd" >&2; exit 1; }

# The first "flags" line (x86); other architectures have none: only portable.
flags=" $(sed -n 's/^flags[[:space:]]*:\(.*\)$/\1/p' "$cpuinfo" | head -1) "
needs() { # KERNEL: the CPU flags it needs
	case $1 in
	avx512) echo avx512f avx512vl ;;
	hybrid) echo sha_ni sse4_1 ssse3 avx512f avx512vl ;;
	sha-ni) echo sha_ni sse4_1 ssse3 ;;
	avx2) echo avx2 ;;
	portable) echo ;;
	esac
}

status=0
for kernel in avx512 hybrid sha-ni avx2 portable; do
	missing=()
	for f in $(needs "$kernel"); do
		[[ $flags == *" $f "* ]] || missing+=("$f")
	done
	code=0
	err=$("$cnd" -d 0 --end 1 -q --kernel "$kernel" 2>&1 >/dev/null) || code=$?
	if ((${#missing[@]} == 0)); then
		if ((code == 0)); then
			echo "$kernel"
		else
			echo "kernels.sh: this CPU has the flags of $kernel, but cnd --kernel $kernel failed (exit $code): $err" >&2
			status=1
		fi
	elif ((code == 2)) && [[ $err == *"this CPU cannot run the $kernel kernel"* ]]; then
		echo "kernels.sh: $kernel: this CPU lacks ${missing[*]}; not tested here" >&2
	elif ((code == 0)); then
		echo "kernels.sh: cnd runs $kernel, but this CPU lacks ${missing[*]}: the runtime check and this script disagree" >&2
		status=1
	else
		echo "kernels.sh: this CPU lacks ${missing[*]}, and cnd --kernel $kernel failed (exit $code) without saying so: $err" >&2
		status=1
	fi
done
exit "$status"
