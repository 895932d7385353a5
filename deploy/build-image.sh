#!/usr/bin/env bash
# build-image.sh: build the CND worker image (deploy/Dockerfile: the static
# `cnd` binary and a CA bundle in a scratch image, user 65532, entrypoint
# `/cnd worker`) and
# save it as an OCI archive that `kind load image-archive`, `ctr images
# import`, `podman load` or tests/k8s/cluster/load-image.sh can load. No
# registry and no daemon: podman or buildah with vfs storage in a private
# directory.
#
#   deploy/build-image.sh [options] [OUT.tar]
#
#   OUT.tar            where to write the OCI archive
#                      (default: target/image/cnd-image.tar in the repository)
#   --tag REF          image reference (default localhost/cnd:dev)
#   --binary PATH      use this static binary instead of building one
#   --tool podman|buildah
#                      which builder to use (default: podman if installed,
#                      else buildah)
#   --run-check        also run `cnd worker --help` from the built image
#                      (podman run --runtime runc --network none)
#   -h, --help         this text
#
# Environment:
#   CARGO_TARGET_DIR   cargo's target dir for the static build
#                      (default /var/tmp/cnd-target-static, so that the static
#                      build never waits on, nor invalidates, a normal build)
#   CND_IMAGE_STORE    containers storage for the builder
#                      (default /var/tmp/cnd-image-store; vfs driver)
#   CND_CA_BUNDLE      the CA bundle (PEM) the image carries at
#                      /etc/ssl/certs/ca-certificates.crt, for HTTPS to SQS
#                      (default: this host's, from Debian's ca-certificates:
#                      /etc/ssl/certs/ca-certificates.crt)
#   CARGO_BUILD_JOBS   as usual
#
# The binary: RUSTFLAGS='-C target-feature=+crt-static' cargo build --release
# --target x86_64-unknown-linux-gnu -p cnd-cli, checked static with `file`
# and `ldd` (a scratch image has no libc). Prints the archive path and the
# image reference on its last line: "OUT.tar REF".
#
# Install the builder on Debian/Ubuntu: apt-get install -y podman (or buildah).
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
repo=$(cd "$here/.." && pwd)
target=x86_64-unknown-linux-gnu

tag=localhost/cnd:dev
out=""
binary=""
tool=""
run_check=0
while (($#)); do
	case $1 in
	--tag) tag=${2:?--tag needs a value}; shift 2 ;;
	--binary) binary=${2:?--binary needs a value}; shift 2 ;;
	--tool) tool=${2:?--tool needs a value}; shift 2 ;;
	--run-check) run_check=1; shift ;;
	-h | --help) sed -n '2,40p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
	-*) echo "build-image.sh: unknown option $1 (see --help)" >&2; exit 2 ;;
	*) [[ -z $out ]] || { echo "build-image.sh: one output path only" >&2; exit 2; }; out=$1; shift ;;
	esac
done
out=${out:-$repo/target/image/cnd-image.tar}
[[ $tag == *:* ]] || { echo "build-image.sh: --tag needs name:tag (got $tag)" >&2; exit 2; }

log() { printf '[build-image %s] %s\n' "$(date +%H:%M:%S)" "$*" >&2; }
die() { printf '[build-image %s] ERROR: %s\n' "$(date +%H:%M:%S)" "$*" >&2; exit 1; }
t0=$SECONDS

# --- 1. the static binary -----------------------------------------------------
if [[ -z $binary ]]; then
	export CARGO_TARGET_DIR=${CARGO_TARGET_DIR:-/var/tmp/cnd-target-static}
	log "cargo build --release --target $target -p cnd-cli (crt-static; CARGO_TARGET_DIR=$CARGO_TARGET_DIR)"
	tb=$SECONDS
	(cd "$repo" && RUSTFLAGS="${RUSTFLAGS:+$RUSTFLAGS }-C target-feature=+crt-static" \
		cargo build --release --locked --target "$target" -p cnd-cli) ||
		die "cargo build of the static cnd failed"
	binary=$CARGO_TARGET_DIR/$target/release/cnd
	log "static cnd built in $((SECONDS - tb))s"
fi
[[ -f $binary ]] || die "no such binary: $binary"

# --- 2. check that it is static -------------------------------------------------
desc=$(file -bL "$binary")
case $desc in
*ELF*x86-64*) ;;
*) die "$binary is not an x86-64 ELF executable: $desc" ;;
esac
case $desc in
*"statically linked"* | *"static-pie linked"*) ;;
*) die "$binary is not statically linked (file: $desc); build with RUSTFLAGS='-C target-feature=+crt-static' --target $target" ;;
esac
lddout=$(ldd "$binary" 2>&1 || true)
case $lddout in
*"not a dynamic executable"* | *"statically linked"*) ;;
*) die "$binary needs shared libraries (ldd: $lddout)" ;;
esac
log "static: $(sed 's/, BuildID[^,]*//' <<<"$desc" | cut -c1-100); ldd: $(head -1 <<<"$lddout" | sed 's/^[[:space:]]*//')"

# --- 3. the image ----------------------------------------------------------------
if [[ -z $tool ]]; then
	if command -v podman >/dev/null 2>&1; then tool=podman
	elif command -v buildah >/dev/null 2>&1; then tool=buildah
	else die "neither podman nor buildah is installed (Debian/Ubuntu: apt-get install -y podman)"
	fi
fi
command -v "$tool" >/dev/null 2>&1 || die "$tool is not installed"
store=${CND_IMAGE_STORE:-/var/tmp/cnd-image-store}
mkdir -p "$store/root" "$store/run" "$store/tmp"
# private storage, vfs (no overlay mounts, works without privileges), no
# registries consulted (FROM scratch)
sopts=(--root "$store/root" --runroot "$store/run" --storage-driver vfs)
export TMPDIR=$store/tmp

ctx=$(mktemp -d "$store/tmp/ctx.XXXXXX")
trap 'rm -rf "$ctx"' EXIT
# the image gets a copy without debug info (the release profile keeps line
# tables: ~100 MB -> ~25 MB); the host binary keeps them
if command -v objcopy >/dev/null 2>&1; then
	objcopy --strip-debug "$binary" "$ctx/cnd" || die "objcopy --strip-debug $binary failed"
	chmod 0555 "$ctx/cnd"
else
	install -m 0555 "$binary" "$ctx/cnd"
fi
# the CA bundle: a scratch image has none, and the TLS client reads only the
# system's roots (or SSL_CERT_FILE); without it HTTPS to SQS fails in a pod
ca=${CND_CA_BUNDLE:-/etc/ssl/certs/ca-certificates.crt}
[[ -r $ca ]] || die "no CA bundle at $ca (Debian/Ubuntu: apt-get install -y ca-certificates; or set CND_CA_BUNDLE)"
ncerts=$(grep -c -- '-----BEGIN CERTIFICATE-----' "$ca" || true)
((ncerts > 0)) || die "$ca holds no PEM certificate"
install -m 0444 "$ca" "$ctx/ca-certificates.crt"
log "CA bundle: $ca ($ncerts certificates) -> /etc/ssl/certs/ca-certificates.crt"
version=$(sed -n 's/^version = "\(.*\)"/\1/p' "$repo/Cargo.toml" | head -1)
rev=$(git -C "$repo" rev-parse --short HEAD 2>/dev/null || echo unknown)
log "$tool build -t $tag (storage: $store, vfs)"
case $tool in
podman)
	podman "${sopts[@]}" build --quiet --pull=never --network none --build-arg "CND_VERSION=${version:-dev}+$rev" \
		-f "$here/Dockerfile" -t "$tag" "$ctx" >"$ctx/build.log" 2>&1 || { cat "$ctx/build.log" >&2; die "podman build failed"; }
	;;
buildah)
	buildah "${sopts[@]}" bud --quiet --pull-never --build-arg "CND_VERSION=${version:-dev}+$rev" \
		-f "$here/Dockerfile" -t "$tag" "$ctx" >"$ctx/build.log" 2>&1 || { cat "$ctx/build.log" >&2; die "buildah bud failed"; }
	;;
*) die "--tool must be podman or buildah (got $tool)" ;;
esac

# --- 4. the OCI archive ----------------------------------------------------------
mkdir -p "$(dirname "$out")"
rm -f "$out.tmp"
case $tool in
podman) podman "${sopts[@]}" save --quiet --format oci-archive -o "$out.tmp" "$tag" >"$ctx/save.log" 2>&1 || { cat "$ctx/save.log" >&2; die "podman save failed"; } ;;
buildah) buildah "${sopts[@]}" push --quiet "$tag" "oci-archive:$out.tmp:$tag" >"$ctx/save.log" 2>&1 || { cat "$ctx/save.log" >&2; die "buildah push to an oci-archive failed"; } ;;
esac
mv "$out.tmp" "$out"
members=$(tar -tf "$out") || die "$out is not a tar archive"
grep -qx 'index.json' <<<"$members" || die "$out has no index.json: not an OCI archive"
refname=$(tar -xOf "$out" index.json | grep -o '"org.opencontainers.image.ref.name":"[^"]*"' || true)
log "wrote $out ($(du -h "$out" | cut -f1), $tag; index: ${refname:-no ref.name})"

# --- 5. optionally run it ----------------------------------------------------------
if ((run_check)); then
	log "podman run --rm --runtime runc --network none $tag --help"
	# --ulimit: podman asks runc to raise RLIMIT_NOFILE/NPROC to its defaults,
	# which fails ("error setting rlimit type 7: operation not permitted")
	# where root lacks CAP_SYS_RESOURCE (sandboxes, some CI runners); lower
	# limits can always be set.
	podman "${sopts[@]}" --runtime runc --cgroup-manager cgroupfs run --rm --network none \
		--ulimit nofile=1024:1024 --ulimit nproc=1024:1024 \
		--security-opt label=disable "$tag" --help >"$store/tmp/run-check.out" 2>&1 || {
		cat "$store/tmp/run-check.out" >&2
		die "running the image failed"
	}
	head -3 "$store/tmp/run-check.out" | sed 's/^/  | /' >&2
	log "the image runs (entrypoint /cnd worker --help)"
fi
log "done in $((SECONDS - t0))s"
echo "$out $tag"
