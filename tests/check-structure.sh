#!/usr/bin/env bash
# tests/check-structure.sh: two structural rules of the workspace (issue 14), checked from the
# source text alone (no build):
#
#  (a) size: no *.rs file has more than 500 lines before its first line `#[cfg(test)]` (the
#      whole file if it has none). Exempt: integration tests (`*/tests/*.rs`), files that are
#      themselves a test module (declared `#[cfg(test)] mod x;` by their parent), and
#      target/, tests/k8s/cluster/.
#  (b) no import cycle among the modules of cnd-cli/src: the modules form a tree under main.rs.
#      Each `crate::a::b`, `super::x` and `self::x` path (use trees and paths in code alike;
#      comments and strings are skipped) is resolved to the file module it names. A reference
#      between two files is an edge between the children of their deepest common module
#      (`crate::config` from `flags/problem.rs` is an edge flags -> config at the top level;
#      `super::values` from `flags/search.rs` is search -> values under flags); a reference to
#      an ancestor or a descendant is the tree itself, not an edge. Every strongly connected
#      set of two or more siblings is reported with the references that close it.
#
# Prints what it checked; exits 1 on a violation.
# Usage: bash tests/check-structure.sh [ROOT]   (default: the repository this script is in)
#        MAX_LINES=N and CLI_SRC=path (relative to ROOT) override the limit and the crate.
set -euo pipefail
ROOT=${1:-$(cd "$(dirname "$0")/.." && pwd)}
exec python3 - "$ROOT" "${MAX_LINES:-500}" "${CLI_SRC:-cnd-cli/src}" <<'PY'
import os, re, sys
from collections import defaultdict

root, max_lines, cli_src = sys.argv[1], int(sys.argv[2]), sys.argv[3]
failed = False

def rel(p):
    return os.path.relpath(p, root)

def strip_code(text):
    """Blank out comments, string and char literals, keeping newlines (so line numbers hold)."""
    out, i, n = [], 0, len(text)
    def blank(s):
        return re.sub(r"[^\n]", " ", s)
    while i < n:
        c = text[i]
        if text.startswith("//", i):
            j = text.find("\n", i)
            j = n if j < 0 else j
            out.append(blank(text[i:j])); i = j
        elif text.startswith("/*", i):
            depth, j = 1, i + 2
            while j < n and depth:
                if text.startswith("/*", j): depth += 1; j += 2
                elif text.startswith("*/", j): depth -= 1; j += 2
                else: j += 1
            out.append(blank(text[i:j])); i = j
        elif re.match(r'(?:b|c)?r#*"', text[i:i + 260]) and (i == 0 or not (text[i - 1].isalnum() or text[i - 1] == "_")):
            m = re.match(r'(?:b|c)?r(#*)"', text[i:])
            end = text.find('"' + m.group(1), i + m.end())
            j = n if end < 0 else end + 1 + len(m.group(1))
            out.append(blank(text[i:j])); i = j
        elif c == '"' or (c in "bc" and text.startswith('"', i + 1) and (i == 0 or not (text[i - 1].isalnum() or text[i - 1] == "_"))):
            j = i + (1 if c == '"' else 2)
            while j < n and text[j] != '"':
                j += 2 if text[j] == "\\" else 1
            j += 1
            out.append(blank(text[i:j])); i = j
        elif c == "'":
            # a char literal ('x', '\n', '\u{1F600}') or a lifetime ('a): blank only literals
            m = re.match(r"'(?:\\(?:u\{[0-9a-fA-F]+\}|x[0-9a-fA-F]{2}|.)|[^\\'\n])'", text[i:i + 16])
            if m:
                out.append(blank(m.group(0))); i += m.end()
            else:
                out.append(c); i += 1
        else:
            out.append(c); i += 1
    return "".join(out)

def rs_files(top):
    for d, dirs, files in os.walk(top):
        r = rel(d)
        dirs[:] = sorted(x for x in dirs if not x.startswith(".") and
                         os.path.join(r, x).replace("./", "", 1) not in ("target", "tests/k8s/cluster"))
        for f in sorted(files):
            if f.endswith(".rs"):
                yield os.path.join(d, f)

# ---- (a) size -------------------------------------------------------------------------------
TEST_MOD = re.compile(r"^\s*#\[cfg\(test\)\]\s*(?:pub(?:\([^)]*\))?\s+)?mod\s+(\w+)\s*;", re.M)
TEST_MOD_2 = re.compile(r"^\s*#\[cfg\(test\)\]\s*\n(?:\s*#\[[^\n]*\]\s*\n)*\s*(?:pub(?:\([^)]*\))?\s+)?mod\s+(\w+)\s*;", re.M)

files = list(rs_files(root))
test_only = set()
for p in files:
    text = open(p, encoding="utf-8", errors="replace").read()
    d = os.path.dirname(p)
    base = os.path.basename(p)
    own = d if base in ("mod.rs", "lib.rs", "main.rs") else os.path.join(d, base[:-3])
    for rx in (TEST_MOD, TEST_MOD_2):
        for m in rx.finditer(text):
            name = m.group(1)
            for cand in (os.path.join(own, name + ".rs"), os.path.join(own, name, "mod.rs")):
                test_only.add(os.path.normpath(cand))

print(f"== (a) lines before the first #[cfg(test)] line, at most {max_lines} per file")
checked, exempt, sizes = 0, [], []
for p in files:
    r = rel(p)
    parts = r.split(os.sep)
    dirs_ = parts[:-1]
    if "tests" in dirs_ and "src" not in dirs_[:dirs_.index("tests")]:
        exempt.append((r, "integration test")); continue
    if os.path.normpath(p) in test_only:
        exempt.append((r, "test module")); continue
    lines = open(p, encoding="utf-8", errors="replace").read().split("\n")
    if lines and lines[-1] == "":
        lines.pop()
    before = next((i for i, l in enumerate(lines) if l.strip() == "#[cfg(test)]"), len(lines))
    checked += 1
    sizes.append((before, r))
    if before > max_lines:
        failed = True
        print(f"FAIL {r}: {before} lines before #[cfg(test)] (limit {max_lines})")
sizes.sort(reverse=True)
print(f"checked {checked} files; the largest: " + ", ".join(f"{r} {n}" for n, r in sizes[:5]))
print(f"exempt {len(exempt)}: " + ", ".join(f"{r} ({why})" for r, why in exempt if why == "test module")
      + (", " if any(w == "test module" for _, w in exempt) else "")
      + f"{sum(1 for _, w in exempt if w == 'integration test')} integration test files")

# ---- (b) import cycles in cnd-cli/src ------------------------------------------------------
src = os.path.join(root, cli_src)
print(f"\n== (b) import cycles among the modules of {cli_src}")
modfile = {}  # module path (tuple) -> file
for p in rs_files(src):
    r = os.path.relpath(p, src).split(os.sep)
    if r == ["main.rs"] or r == ["lib.rs"]:
        mp = ()
    elif r[-1] == "mod.rs":
        mp = tuple(r[:-1])
    else:
        mp = tuple(r[:-1]) + (r[-1][:-3],)
    modfile[mp] = p
if () not in modfile:
    print(f"FAIL no main.rs or lib.rs in {cli_src}")
    sys.exit(1)
# declared modules only: a file that no parent declares is not part of the crate
declared = {()}
changed = True
while changed:
    changed = False
    for mp, p in modfile.items():
        if mp in declared or mp[:-1] not in declared:
            continue
        parent = strip_code(open(modfile[mp[:-1]], encoding="utf-8").read())
        if re.search(r"\bmod\s+" + re.escape(mp[-1]) + r"\s*;", parent):
            declared.add(mp); changed = True
modules = sorted(declared)

def resolve(base, segs):
    """The deepest file module reached from module `base` by the path segments `segs`."""
    cur = base
    for s in segs:
        if s == "super":
            cur = cur[:-1]
        elif s == "self":
            continue
        elif cur + (s,) in declared:
            cur = cur + (s,)
        else:
            break
    return cur

PATH_START = re.compile(r"\b(crate|super|self)\s*::")
IDENT = re.compile(r"\s*(\w+)\s*")

def use_paths(code, pos):
    """Every path of the use tree (or plain path) that starts at `pos` (just after `X::`)."""
    out = []
    def walk(i, prefix):
        m = re.compile(r"\s*").match(code, i); i = m.end()
        if i < len(code) and code[i] == "{":
            i += 1
            while True:
                m = re.compile(r"[\s,]*").match(code, i); i = m.end()
                if i >= len(code) or code[i] == "}":
                    return i + 1
                i = walk(i, prefix)
        m = IDENT.match(code, i)
        if not m:
            out.append(prefix); return i
        prefix = prefix + [m.group(1)]; i = m.end()
        if code.startswith("::", i):
            return walk(i + 2, prefix)
        out.append(prefix)
        return i
    walk(pos, [])
    return out

edges = defaultdict(list)  # (source file module, target file module) -> [where]
for mp in modules:
    p = modfile[mp]
    code = strip_code(open(p, encoding="utf-8").read())
    # inline modules (`mod tests { ... }`): the module a `super::` is relative to
    spans = []  # (start, end, name)
    for m in re.finditer(r"\bmod\s+(\w+)\s*\{", code):
        depth, j = 1, m.end()
        while j < len(code) and depth:
            depth += {"{": 1, "}": -1}.get(code[j], 0); j += 1
        spans.append((m.end(), j, m.group(1)))
    for m in PATH_START.finditer(code):
        head = m.group(1)
        inline = tuple(name for s, e, name in sorted(spans) if s <= m.start() < e)
        here = mp + inline
        base = () if head == "crate" else (here[:-1] if head == "super" else here)
        for segs in use_paths(code, m.end()):
            target = resolve(base, segs)
            # a path into an inline module of the target file is that file
            while target not in declared:
                target = target[:-1]
            if target != mp:
                line = code.count("\n", 0, m.start()) + 1
                edges[(mp, target)].append(f"{os.path.relpath(p, root)}:{line} {head}::{'::'.join(segs)}")

def name(mp):
    return "crate" if not mp else "crate::" + "::".join(mp)

levels = defaultdict(lambda: defaultdict(set))  # parent -> child -> children it depends on
witness = {}
for (s, t), where in edges.items():
    k = 0
    while k < min(len(s), len(t)) and s[k] == t[k]:
        k += 1
    if k == len(s) or k == len(t):
        continue  # ancestor or descendant: the tree itself
    parent, a, b = s[:k], s[k], t[k]
    levels[parent][a].add(b)
    witness.setdefault((parent, a, b), where[0])

def sccs(nodes, adj):
    index, low, stack, on, out, counter = {}, {}, [], set(), [], [0]
    def strong(v):
        index[v] = low[v] = counter[0]; counter[0] += 1
        stack.append(v); on.add(v)
        for w in sorted(adj.get(v, ())):
            if w not in index:
                strong(w); low[v] = min(low[v], low[w])
            elif w in on:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            comp = []
            while True:
                w = stack.pop(); on.discard(w); comp.append(w)
                if w == v: break
            out.append(sorted(comp))
    for v in sorted(nodes):
        if v not in index:
            strong(v)
    return out

def shortest_cycle(start, comp, adj):
    """The shortest path start -> ... -> start inside one strongly connected set."""
    prev, frontier = {start: None}, [start]
    while frontier:
        nxt = []
        for v in frontier:
            for w in sorted(adj.get(v, ())):
                if w == start:
                    path = [v]
                    while prev[path[-1]] is not None:
                        path.append(prev[path[-1]])
                    return path[::-1] + [start]
                if w in comp and w not in prev:
                    prev[w] = v; nxt.append(w)
        frontier = nxt
    return [start]

n_edges = 0
for parent in sorted({m[:-1] for m in modules if m}):
    children = sorted(m[-1] for m in modules if m and m[:-1] == parent)
    adj = levels.get(parent, {})
    n_edges += sum(len(v) for v in adj.values())
    deps = "; ".join(f"{c} -> {', '.join(sorted(adj[c]))}" for c in children if adj.get(c))
    print(f"{name(parent)}: {len(children)} modules ({', '.join(children)})" + (f"; {deps}" if deps else "; no sibling imports"))
    for comp in sccs(children, adj):
        if len(comp) < 2:
            continue
        failed = True
        print(f"FAIL cycle in {name(parent)} among {len(comp)} modules: {', '.join(comp)}")
        print(f"     e.g. {' -> '.join(shortest_cycle(comp[0], comp, adj))}")
        for a in comp:
            for b in sorted(adj.get(a, ())):
                if b in comp:
                    print(f"     {a} -> {b}: {witness[(parent, a, b)]}")
print(f"checked {len(modules)} modules, {sum(len(w) for w in edges.values())} crate/super/self references, "
      f"{n_edges} sibling dependencies")

print("\nstructure: " + ("FAILED" if failed else "ok"))
sys.exit(1 if failed else 0)
PY
