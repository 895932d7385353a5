#!/usr/bin/env bash
# tests/docs-commands.sh: every cargo command the docs show, run as written from the
# repository root, so that the docs cannot drift from the workspace.
#
# Where commands are taken from:
#   - README.md and docs/*.md: each line of a fenced code block (any language) that, after an
#     optional `$ ` prompt, starts with `cargo ` or `bash ` (or with `VAR=value ... cargo `);
#     `\` continuation lines are joined and a trailing `# comment` is dropped;
#   - examples/*.rs: the same, in the header comment (the leading `//!` lines), plus every
#     `cargo ...` in backticks there.
# The `cnd ...` commands of ```console blocks are not run here: cnd-cli/tests/docs.rs runs them
# with trycmd and compares their output (`cargo test -p cnd-cli --test docs`).
#
# Not run, each printed as SKIP with the reason: `bash .ci/run` (it is the caller), and
# commands that need a real Kubernetes cluster (`KUBECONFIG=...`; tests/k8s-e2e.sh is the
# real-cluster test).
#
# Each command is bounded by DOCS_CMD_TIMEOUT seconds (default 1800: the first one may build
# the release binary with the Kubernetes and AWS stacks from nothing). Output of each is in
# $DOCS_CMD_LOGS (default /tmp/cnd-docs-commands). Prints one line per command and
# "N passed, M failed"; exits 1 if any failed (or if no command was found).
# Usage: bash tests/docs-commands.sh [--list]   (--list: print the commands, run nothing)
set -uo pipefail
cd "$(dirname "$0")/.."
LIMIT=${DOCS_CMD_TIMEOUT:-1800}
LOGS=${DOCS_CMD_LOGS:-/tmp/cnd-docs-commands}

# extract: "FILE:LINE<TAB>COMMAND" for every command of the docs and example headers
extract() {
	python3 - README.md docs/*.md examples/*.rs <<'PY'
import re, sys

CMD = re.compile(r"^(?:[A-Z_][A-Z0-9_]*=\S*\s+)*(?:cargo|bash)\s")

def clean(cmd):
    # a trailing comment: ` # ...` outside quotes (the docs put no `#` inside arguments)
    cmd = re.sub(r"\s+#\s.*$", "", cmd)
    return " ".join(cmd.split())

def from_lines(numbered, everywhere=False):
    """numbered: [(line number, text)]; yields (line, command) of the lines in fenced blocks
    (of every line but the fences themselves if `everywhere`)."""
    fence, i = None, 0
    while i < len(numbered):
        n, line = numbered[i]
        s = line.strip()
        m = re.match(r"^(`{3,}|~{3,})", s)
        if m and (fence is None or s.startswith(fence)):
            fence = m.group(1) if fence is None else None
            i += 1
            continue
        if fence is not None or everywhere:
            text = s[2:] if s.startswith("$ ") else s
            while text.endswith("\\") and i + 1 < len(numbered):
                i += 1
                nxt = numbered[i][1].strip()
                text = text[:-1] + " " + (nxt[2:] if nxt.startswith("> ") else nxt)
            if CMD.match(text):
                yield n, clean(text)
        i += 1

for path in sys.argv[1:]:
    lines = open(path, encoding="utf-8").read().split("\n")
    if path.endswith(".md"):
        found = list(from_lines(list(enumerate(lines, 1))))
    else:
        header = []
        for n, l in enumerate(lines, 1):
            if not l.startswith("//!"):
                break
            header.append((n, l[3:].strip()))
        # a command on a line of its own (in a ```text block or not) ...
        found = list(from_lines(header, everywhere=True))
        # ... and in backticks
        for n, l in header:
            for m in re.finditer(r"`((?:[A-Z_][A-Z0-9_]*=\S*\s+)*cargo\s[^`]+)`", l):
                found.append((n, clean(m.group(1))))
    seen = set()
    for n, c in found:
        if (n, c) not in seen:
            seen.add((n, c))
            print(f"{path}:{n}\t{c}")
PY
}

mapfile -t ENTRIES < <(extract)
if [[ ${1:-} == --list ]]; then
	printf '%s\n' "${ENTRIES[@]}"
	exit 0
fi
((${#ENTRIES[@]})) || { echo "no commands found in README.md, docs/*.md, examples/*.rs"; exit 1; }

mkdir -p "$LOGS"
pass=0 fail=0 skip=0
declare -A done_cmd
for entry in "${ENTRIES[@]}"; do
	where=${entry%%$'\t'*}
	cmd=${entry#*$'\t'}
	if [[ -n ${done_cmd[$cmd]:-} ]]; then
		echo "same  $where: $cmd (as ${done_cmd[$cmd]})"
		continue
	fi
	done_cmd[$cmd]=$where
	case $cmd in
	"bash .ci/run")
		echo "SKIP  $where: $cmd (the caller: .ci/run runs this script)"
		skip=$((skip + 1)); continue ;;
	*KUBECONFIG=*)
		echo "SKIP  $where: $cmd (needs a real Kubernetes cluster and image; see tests/k8s-e2e.sh)"
		skip=$((skip + 1)); continue ;;
	esac
	# Measurements (benches, ignored timing tests) take minutes and assert nothing: CI
	# (CI=true) only builds them (--no-run), the timing tests as the test binary that
	# .ci/run built for `cargo test -p cnd-core -p cnd-local` (a release build of the
	# kernels' test binary takes many CPU-minutes), and runs everything else as written.
	if [[ -n ${CI:-} ]] && [[ $cmd == "cargo bench "* || $cmd == *" --ignored"* ]]; then
		if [[ $cmd == "cargo test "* ]]; then
			cmd=${cmd/ --release/}
			cmd=${cmd/ -p cnd-core / -p cnd-core -p cnd-local }
		fi
		cmd=${cmd/ -- / --no-run -- }
		[[ $cmd == *--no-run* ]] || cmd="$cmd --no-run"
		echo "note  $where: CI builds this measurement without running it: $cmd"
	fi
	log=$LOGS/$(( pass + fail + 1 )).log
	echo "+ $cmd" >"$log"
	t0=$SECONDS
	timeout -k 10 "$LIMIT" bash -c "$cmd" </dev/null >>"$log" 2>&1
	rc=$?
	dur=$(( SECONDS - t0 ))
	if ((rc == 0)); then
		echo "PASS  $where: $cmd (${dur}s)"
		pass=$((pass + 1))
	else
		((rc == 124 || rc == 137)) && why="killed after ${LIMIT}s" || why="exit $rc"
		echo "FAIL  $where: $cmd ($why, ${dur}s; log $log), last lines:"
		tail -n 15 "$log" | sed 's/^/      /'
		fail=$((fail + 1))
	fi
done
echo "$pass passed, $fail failed ($skip skipped)"
((fail == 0))
