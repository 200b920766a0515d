#!/usr/bin/env bash
# scripts/ensure-go.sh: print the path of a Go toolchain new enough to build the Pulumi engine (.ci/toolchain.sh).
# Uses $GO, `go` on PATH or /usr/local/go when one is >= GO_MIN; else installs Go GO_VERSION from the Go module
# proxy (the golang.org/toolchain module, as `go` itself fetches toolchains), checked against the hash pinned
# here, into ${SWARM_CEPH_CACHE:-$HOME/.cache/swarm-ceph}/go-dist/. Idempotent: a second run only checks.
set -euo pipefail

GO_MIN=1.25.11 # pkg/v3 v3.259.0's go.mod
GO_VERSION=1.26.8
declare -A GO_H1=( # golang.org/toolchain v0.0.1-go$GO_VERSION.linux-ARCH, as in the Go checksum database
  [amd64]="h1:ZOmGe1OnfREDMIdb1Qi4G9JSuDPBLGExZMQ4nis1RXM="
)

log() { printf 'ensure-go: %s\n' "$*" >&2; }
die() {
  log "error: $*"
  exit 1
}

cache=${SWARM_CEPH_CACHE:-$HOME/.cache/swarm-ceph}
dist="$cache/go-dist/go$GO_VERSION"

new_enough() {
  local v
  v=$("$1" env GOVERSION 2>/dev/null) || return 1
  v=${v#go}
  [[ $(printf '%s\n%s\n' "$GO_MIN" "$v" | sort -V | head -n 1) == "$GO_MIN" ]]
}

for candidate in "${GO:-}" "$(command -v go || true)" /usr/local/go/bin/go "$dist/bin/go"; do
  if [[ -n $candidate && -x $candidate ]] && new_enough "$candidate"; then
    printf '%s\n' "$candidate"
    exit 0
  fi
done

case $(uname -m) in
  x86_64) arch=amd64 ;;
  *) die "no Go >= $GO_MIN found, and no pinned hash for $(uname -m). Fix: install Go >= $GO_MIN, or set GO=/path/to/go" ;;
esac
version="v0.0.1-go$GO_VERSION.linux-$arch"
proxy=${GOPROXY:-https://proxy.golang.org}
proxy=${proxy%%[,|]*}
[[ $proxy == http* ]] || proxy=https://proxy.golang.org
url="$proxy/golang.org/toolchain/@v/$version.zip"

mkdir -p "$cache/go-dist"
tmp=$(mktemp -d "$cache/go-dist/.tmp.XXXXXX")
trap 'rm -rf -- "$tmp"' EXIT
log "no Go >= $GO_MIN here: fetching $url"
curl -fsSL --retry 3 -o "$tmp/go.zip" "$url" || die "download failed: $url"
# Check the module hash (go's dirhash "h1") against the pin, then unpack keeping file modes.
python3 - "$tmp/go.zip" "${GO_H1[$arch]}" "golang.org/toolchain@$version/" "$tmp/go" <<'PY' || die "the Go toolchain zip does not match the pinned hash"
import base64, hashlib, os, sys, zipfile

path, pinned, prefix, dest = sys.argv[1:]
with zipfile.ZipFile(path) as z:
    names = sorted(n for n in z.namelist() if not n.endswith("/"))
    summary = "".join(f"{hashlib.sha256(z.read(n)).hexdigest()}  {n}\n" for n in names)
    h1 = "h1:" + base64.b64encode(hashlib.sha256(summary.encode()).digest()).decode()
    if h1 != pinned:
        sys.exit(f"hash {h1}, pinned {pinned}")
    for info in z.infolist():
        if not info.filename.startswith(prefix) or info.filename.endswith("/"):
            continue
        target = os.path.join(dest, info.filename[len(prefix):])
        os.makedirs(os.path.dirname(target), exist_ok=True)
        with z.open(info) as src, open(target, "wb") as out:
            out.write(src.read())
        os.chmod(target, (info.external_attr >> 16) & 0o777 or 0o644)
PY
rm -rf -- "$dist"
mv -- "$tmp/go" "$dist"
new_enough "$dist/bin/go" || die "$dist/bin/go does not run or is older than $GO_MIN"
log "installed $("$dist/bin/go" version) in $dist"
printf '%s\n' "$dist/bin/go"
