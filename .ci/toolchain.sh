#!/usr/bin/env bash
# Build the Pulumi engine offline from Go modules, cached outside the repo.
#
#   T=$(.ci/toolchain.sh)      # stdout: the toolchain dir, and nothing else
#   PATH=$T/bin:$PATH PULUMI_HOME=$T/home pulumi ...
#   .ci/toolchain.sh --engine-only   # the CLI and the Python language host, no provider plugins
#
# Fallbacks, each announced with a WARNING (the proxy here refuses some versions; see the README):
#   - the CLI: when the proxy does not serve the source of pkg/v3 at the SDK's version, the newest version it was
#     seen to serve, $CLI_FALLBACK (override: SWARM_CEPH_PULUMI_CLI_VERSION);
#   - the Python language host: when its own module is refused, it is built from sdk/v3 $HOST_FROM_SDK, the last
#     release of the sdk/v3 module that still carried it as a package, behind .ci/python-host-shim.sh (that host
#     takes the virtualenv only as a flag, and lists packages with pip, which uv virtualenvs lack).
#
# Versions come from the project's locked Python environment (.venv, made by `uv sync --frozen`):
#   - the pulumi CLI and the Python language host: the installed `pulumi` Python package's version,
#   - each provider plugin: the `pulumi-plugin.json` of its installed SDK package.
# The commit of each release is read from the Go module proxy (the tag's Origin.Hash), never written here.
#
# Layout: ${SWARM_CEPH_CACHE:-$HOME/.cache/swarm-ceph}/
#   go/mod, go/build                       GOMODCACHE, GOCACHE
#   build/<component>-<version>/           one small wrapper Go module per binary (bin/ inside, .ok when built)
#   toolchain/pulumi-<v>_command-<v>_proxmoxve-<v>/
#       bin/   pulumi, pulumi-language-python, pulumi-language-python-exec
#       home/  PULUMI_HOME, with the provider plugins installed into it
#       .complete   written last; a run that finds it (and the files) does no build work
#
# Environment: SWARM_CEPH_CACHE (cache root); SWARM_CEPH_PULUMI_CLI_VERSION (explicit override of the CLI and
# language host version, e.g. when the proxy lacks the SDK's version; a warning says so); GO (go binary, else
# scripts/ensure-go.sh finds or installs one).
# All progress goes to stderr; a failure exits non-zero with a message naming what failed.
set -euo pipefail

CLI_FALLBACK=3.259.0   # the newest pkg/v3 whose source this workplace's proxy served (2026-11-22)
HOST_FROM_SDK=3.79.0   # the last sdk/v3 release with python/cmd/pulumi-language-python as a package
PIP_FOR_HOST=24.3.1    # the pip the fallback host calls (`python -m pip list`)

engine_only=0
case ${1:-} in
    "") ;;
    --engine-only) engine_only=1 ;;
    *)
        printf 'usage: %s [--engine-only]\n' "$0" >&2
        exit 2
        ;;
esac

t0=$SECONDS
log() { printf 'toolchain: %s\n' "$*" >&2; }
die() {
    printf 'toolchain: ERROR: %s\n' "$*" >&2
    exit 1
}

repo=$(cd -- "$(dirname -- "${BASH_SOURCE[0]}")/.." && pwd)
cache=${SWARM_CEPH_CACHE:-$HOME/.cache/swarm-ceph}
mkdir -p "$cache" || die "cannot create the cache dir $cache"
cache=$(cd -- "$cache" && pwd)

export PULUMI_SKIP_UPDATE_CHECK=true
export PULUMI_DISABLE_AUTOMATIC_PLUGIN_ACQUISITION=true
export PULUMI_AUTOMATION_API_SKIP_VERSION_CHECK=true
export GOTOOLCHAIN=local
export GOWORK=off
export GOMODCACHE="$cache/go/mod"
export GOCACHE="$cache/go/build"
export GOFLAGS="-buildvcs=false -mod=mod"

# ---------------------------------------------------------------- versions from the locked Python env
py="$repo/.venv/bin/python"
if [[ ! -x $py ]]; then
    command -v uv >/dev/null 2>&1 || die "$repo/.venv is missing and uv is not installed (needed for 'uv sync --frozen')"
    log "no .venv: running 'uv sync --frozen' in $repo"
    (cd -- "$repo" && uv sync --frozen) >&2 || die "'uv sync --frozen' failed in $repo"
fi

versions=$("$py" - <<'PY'
import importlib.metadata, importlib.util, json, pathlib, sys

def plugin_version(package, name):
    spec = importlib.util.find_spec(package)
    if spec is None or not spec.submodule_search_locations:
        sys.exit(f"Python package {package} is not installed in the project's .venv")
    path = pathlib.Path(list(spec.submodule_search_locations)[0]) / "pulumi-plugin.json"
    meta = json.loads(path.read_text())
    if meta.get("name") != name or not meta.get("version"):
        sys.exit(f"{path}: expected plugin name {name!r} with a version, found {meta!r}")
    return meta["version"].lstrip("v")

print(importlib.metadata.version("pulumi"),
      plugin_version("pulumi_command", "command"),
      plugin_version("pulumi_proxmoxve", "proxmoxve"))
PY
) || die "could not read the Pulumi versions from $py"
read -r sdk_v command_v proxmoxve_v <<<"$versions"
pulumi_v=${SWARM_CEPH_PULUMI_CLI_VERSION:-$sdk_v}
pulumi_v=${pulumi_v#v}
if [[ $pulumi_v != "$sdk_v" ]]; then
    log "WARNING: SWARM_CEPH_PULUMI_CLI_VERSION=$pulumi_v overrides the CLI version; the pulumi Python SDK is $sdk_v"
fi
log "versions: pulumi CLI $pulumi_v (Python SDK $sdk_v), command $command_v, proxmoxve $proxmoxve_v"

# Named by what was asked for; .complete records what was built (fallbacks included) and is shown on every run.
if ((engine_only)); then
    tc="$cache/toolchain/engine-pulumi-${pulumi_v}"
else
    tc="$cache/toolchain/pulumi-${pulumi_v}_command-${command_v}_proxmoxve-${proxmoxve_v}"
fi
bin="$tc/bin"
home="$tc/home"
marker="$tc/.complete"

show_versions() {
    log "pulumi version: $(PULUMI_HOME=$home "$bin/pulumi" version)"
    log "built: $(grep -v '^WARNING' "$marker" | paste -sd ';')"
    grep '^WARNING' "$marker" | sed 's/^/toolchain: /' >&2 || true
    PULUMI_HOME=$home "$bin/pulumi" plugin ls >&2
}

toolchain_complete() {
    [[ -f $marker ]] || return 1
    local f
    for f in pulumi pulumi-language-python pulumi-language-python-exec; do
        [[ -x $bin/$f ]] || return 1
    done
    ((engine_only)) && return 0
    [[ -d $home/plugins/resource-command-v$command_v ]] || return 1
    [[ -d $home/plugins/resource-proxmoxve-v$proxmoxve_v ]] || return 1
}

# One run at a time per cache (CI and a developer's shell may share it).
mkdir -p "$cache/toolchain"
if command -v flock >/dev/null 2>&1; then
    exec 9>"$cache/toolchain/.lock"
    flock 9
fi

if toolchain_complete; then
    show_versions
    log "cached, $((SECONDS - t0)) s"
    printf '%s\n' "$tc"
    exit 0
fi

# ---------------------------------------------------------------- Go
# $GO, go on PATH or /usr/local/go if new enough; else a pinned Go from the module proxy (scripts/ensure-go.sh).
GO=$(bash "$repo/scripts/ensure-go.sh") || die "no usable Go (scripts/ensure-go.sh failed)"
log "using $("$GO" version) at $GO; GOMODCACHE=$GOMODCACHE GOCACHE=$GOCACHE"

# ---------------------------------------------------------------- resolve module versions on the Go proxy
# modjson MOD@VER: `go list -m -e -json` (the .info and .mod only), run outside any module.
scratch="$cache/build/.resolve"
mkdir -p "$scratch"
modjson() { (cd -- "$scratch" && "$GO" list -m -e -json "$1"); }

# jget FIELD <json: prints one field (Error, Time, Origin.Hash, GoMod, Dir, ...) or nothing.
jget() {
    "$py" -c '
import json, sys
value = json.load(sys.stdin)
for key in sys.argv[1].split("."):
    value = value.get(key) if isinstance(value, dict) else None
if isinstance(value, dict):  # go list -e puts errors in {"Err": "..."}
    value = value.get("Err")
print("" if value is None else " ".join(str(value).split()))' "$1"
}

# pseudo PREFIX TIME HASH: the pseudo-version of a commit in a module with no tags of its own.
pseudo() {
    "$py" -c '
import datetime, sys
t = datetime.datetime.fromisoformat(sys.argv[2].replace("Z", "+00:00")).astimezone(datetime.timezone.utc)
print(f"{sys.argv[1]}-{t:%Y%m%d%H%M%S}-{sys.argv[3][:12]}")' "$@"
}

problems=()
warnings=()
warn() {
    log "WARNING: $*"
    warnings+=("WARNING: $*")
}
# resolve_tag MOD@TAG: sets tag_time/tag_hash from the tag's Origin on the proxy; else sets resolve_error, returns 1.
resolve_tag() {
    local modver=$1 json err
    tag_time="" tag_hash="" resolve_error=""
    json=$(modjson "$modver") || true
    err=$(jget Error <<<"$json" 2>/dev/null || true)
    if [[ -z $json || -n $err ]]; then
        resolve_error="the Go module proxy does not serve $modver (${err:-no answer})"
        return 1
    fi
    tag_time=$(jget Time <<<"$json")
    tag_hash=$(jget Origin.Hash <<<"$json")
    if [[ -z $tag_time || -z $tag_hash ]]; then
        resolve_error="the proxy's answer for $modver has no commit (Origin.Hash/Time), so its commit cannot be pinned"
        return 1
    fi
}
# check_mod WHAT MOD@VER: records a problem when the proxy does not serve that exact version (.info and .mod).
check_mod() {
    local what=$1 modver=$2 json err
    json=$(modjson "$modver") || true
    err=$(jget Error <<<"$json" 2>/dev/null || true)
    if [[ -z $json || -n $err ]]; then
        problems+=("$what: the Go module proxy does not serve $modver (${err:-no answer})")
        return 1
    fi
}
# served_src MOD@VER: the proxy serves the module's source (its zip), not only its .info and .mod (it can differ).
served_src() {
    local json
    json=$(cd -- "$scratch" && "$GO" mod download -json "$1" 2>/dev/null) || true
    [[ -n $json && -z $(jget Error <<<"$json" 2>/dev/null || echo unreadable) ]]
}

pkg_mod=github.com/pulumi/pulumi/pkg/v3
sdk_mod=github.com/pulumi/pulumi/sdk/v3
lang_mod=github.com/pulumi/pulumi/sdk/python/cmd/pulumi-language-python/v3
command_mod=github.com/pulumi/pulumi-command/provider
proxmoxve_mod=github.com/muhlba91/pulumi-proxmoxve/provider

log "resolving module versions on the Go module proxy"
cli_v=$pulumi_v
if ! served_src "$pkg_mod@v$cli_v"; then
    if [[ -z ${SWARM_CEPH_PULUMI_CLI_VERSION:-} && $cli_v != "$CLI_FALLBACK" ]] && served_src "$pkg_mod@v$CLI_FALLBACK"; then
        warn "the proxy does not serve the source of $pkg_mod@v$cli_v: building the CLI v$CLI_FALLBACK, older than the Python SDK $sdk_v"
        cli_v=$CLI_FALLBACK
    else
        problems+=("pulumi CLI $cli_v: the Go module proxy does not serve the source of $pkg_mod@v$cli_v")
    fi
fi
check_mod "pulumi CLI $cli_v" "$sdk_mod@v$cli_v" || true

# The Python language host: its own module (no tags: the commit of tag pkg/vX as a v3 pseudo-version), else the
# package inside sdk/v3 $HOST_FROM_SDK.
host_mod="" host_ver="" host_pkg="" host_sdk_v=""
if resolve_tag "$pkg_mod@v$cli_v"; then
    lang_ver=$(pseudo v3.0.0 "$tag_time" "$tag_hash")
    if served_src "$lang_mod@$lang_ver"; then
        host_mod=$lang_mod host_ver=$lang_ver host_pkg=$lang_mod host_sdk_v=$cli_v
    fi
fi
if [[ -z $host_mod ]]; then
    if served_src "$sdk_mod@v$HOST_FROM_SDK"; then
        warn "the proxy refuses $lang_mod at the commit of pkg/v$cli_v: building the Python language host of sdk/v3 v$HOST_FROM_SDK (older), behind .ci/python-host-shim.sh"
        host_mod=$sdk_mod host_ver=v$HOST_FROM_SDK host_pkg=$sdk_mod/python/cmd/pulumi-language-python
        host_sdk_v=$HOST_FROM_SDK
    else
        problems+=("pulumi-language-python: neither $lang_mod (commit of pkg/v$cli_v) nor $sdk_mod@v$HOST_FROM_SDK is served")
    fi
fi

command_ver="" proxmoxve_ver=""
if ((!engine_only)); then
    if resolve_tag "github.com/pulumi/pulumi-command@v$command_v"; then
        command_ver=$(pseudo v0.0.0 "$tag_time" "$tag_hash")
        check_mod "pulumi-resource-command $command_v (commit of tag v$command_v)" "$command_mod@$command_ver" || true
    else
        problems+=("pulumi-resource-command $command_v: $resolve_error")
    fi
    if resolve_tag "github.com/muhlba91/pulumi-proxmoxve@v$proxmoxve_v+incompatible"; then
        proxmoxve_ver=$(pseudo v0.0.0 "$tag_time" "$tag_hash")
        check_mod "pulumi-resource-proxmoxve $proxmoxve_v (commit of tag v$proxmoxve_v)" "$proxmoxve_mod@$proxmoxve_ver" || true
    else
        problems+=("pulumi-resource-proxmoxve $proxmoxve_v: $resolve_error")
    fi
fi
if ((${#problems[@]})); then
    for p in "${problems[@]}"; do log "ERROR: $p"; done
    die "cannot build the toolchain: ${#problems[@]} Go module version(s) above are not served by GOPROXY=$("$GO" env GOPROXY) (a refusal such as '403 ... not available' is final; SWARM_CEPH_PULUMI_CLI_VERSION overrides the CLI version; --engine-only builds without the provider plugins)"
fi
log "pins: $pkg_mod v$cli_v; $host_pkg $host_ver${command_ver:+; $command_mod $command_ver}${proxmoxve_ver:+; $proxmoxve_mod $proxmoxve_ver}"

# ---------------------------------------------------------------- builds
timings=()
built_any=0

# build NAME VERSION MAIN_MOD MAIN_VER PACKAGE LDFLAGS [MOD@VER ...]
# Builds PACKAGE into $cache/build/NAME-VERSION/bin/NAME in a wrapper module that requires MAIN_MOD@MAIN_VER
# (plus the extra MOD@VER) and copies the version-to-version replaces of MAIN_MOD's go.mod (and of the extra
# modules' go.mod); relative-path replaces are dropped. Reuses a previous successful build.
build() {
    local name=$1 version=$2 main_mod=$3 main_ver=$4 package=$5 ldflags=$6
    shift 6
    local dir="$cache/build/$name-$version" t=$SECONDS gomod r
    built_out="$dir/bin/$name"
    if [[ -f $dir/.ok && -x $built_out ]]; then
        log "$name $version: reusing $built_out"
        return 0
    fi
    log "$name $version: building $package ($main_mod $main_ver) in $dir"
    rm -rf -- "$dir"
    mkdir -p "$dir"
    (
        set -euo pipefail
        cd -- "$dir"
        printf 'module swarmceph.local/toolchain/%s\n\ngo 1.21\n' "$name" >go.mod
        printf '//go:build tools\n\npackage tools\n\nimport _ "%s"\n' "$package" >tools.go
        for mv in "$main_mod@$main_ver" "$@"; do
            gomod=$(modjson "$mv" | jget GoMod)
            [[ -n $gomod && -f $gomod ]] || { echo "no go.mod for $mv" >&2; exit 1; }
            while IFS= read -r r; do
                if [[ -n $r ]]; then "$GO" mod edit -replace="$r"; fi
            done < <("$GO" mod edit -json "$gomod" | "$py" -c '
import json, sys
for r in json.load(sys.stdin).get("Replace") or []:
    old, new = r["Old"], r["New"]
    if new.get("Version"):  # module => module@version; a relative path (=> ../sdk) means nothing here
        lhs = old["Path"] + ("@" + old["Version"] if old.get("Version") else "")
        print(lhs + "=" + new["Path"] + "@" + new["Version"])')
        done
        "$GO" get "$main_mod@$main_ver" "$@"
        "$GO" mod tidy
        "$GO" build -trimpath -ldflags "-s -w $ldflags" -o "bin/$name" "$package"
    ) >"$dir/build.log" 2>&1 || {
        tail -n 30 "$dir/build.log" >&2
        die "building $name $version failed (full log: $dir/build.log)"
    }
    touch "$dir/.ok"
    built_any=1
    timings+=("$name $((SECONDS - t)) s")
    log "$name $version: built in $((SECONDS - t)) s"
}

ver_pkg=github.com/pulumi/pulumi/sdk/v3/go/common/version.Version

build pulumi "$cli_v" "$pkg_mod" "v$cli_v" "$pkg_mod/cmd/pulumi" \
    "-X $ver_pkg=v$cli_v" "$sdk_mod@v$cli_v"
pulumi_bin=$built_out

if [[ $host_mod == "$lang_mod" ]]; then
    build pulumi-language-python "$cli_v" "$lang_mod" "$host_ver" "$host_pkg" \
        "-X $ver_pkg=v$cli_v" "$pkg_mod@v$cli_v" "$sdk_mod@v$cli_v"
else
    build pulumi-language-python "sdk-$host_sdk_v" "$sdk_mod" "$host_ver" "$host_pkg" "-X $ver_pkg=v$host_sdk_v"
fi
lang_bin=$built_out
sdk_dir=$(cd -- "$scratch" && "$GO" mod download -json "$sdk_mod@v$host_sdk_v" | jget Dir)
lang_exec="$sdk_dir/python/cmd/pulumi-language-python-exec"
[[ -f $lang_exec ]] || die "pulumi-language-python-exec not found in the sdk module ($lang_exec)"

if ((!engine_only)); then
    build pulumi-resource-command "$command_v" "$command_mod" "$command_ver" "$command_mod/cmd/pulumi-resource-command" \
        "-X $command_mod/pkg/version.Version=$command_v"
    command_bin=$built_out

    # The proxmoxve provider panics at start without its version; its releases stamp the tag (v-prefixed).
    build pulumi-resource-proxmoxve "$proxmoxve_v" "$proxmoxve_mod" "$proxmoxve_ver" "$proxmoxve_mod/cmd/pulumi-resource-proxmoxve" \
        "-X $proxmoxve_mod/pkg/version.Version=v$proxmoxve_v"
    proxmoxve_bin=$built_out
fi

# ---------------------------------------------------------------- assemble the toolchain dir
log "assembling $tc"
rm -rf -- "$tc"
mkdir -p "$bin" "$home"
install -m 0755 "$pulumi_bin" "$bin/pulumi"
install -m 0755 "$lang_exec" "$bin/pulumi-language-python-exec"
if [[ $host_mod == "$lang_mod" ]]; then
    install -m 0755 "$lang_bin" "$bin/pulumi-language-python"
else
    install -m 0755 "$lang_bin" "$bin/pulumi-language-python.real"
    install -m 0755 "$repo/.ci/python-host-shim.sh" "$bin/pulumi-language-python"
    command -v uv >/dev/null 2>&1 || die "uv is needed to install pip $PIP_FOR_HOST for the fallback language host"
    uv pip install --quiet --python "$py" --target "$tc/pip" "pip==$PIP_FOR_HOST" >&2 ||
        die "installing pip $PIP_FOR_HOST into $tc/pip failed"
fi
summary=("pulumi v$cli_v" "pulumi-language-python $host_pkg $host_ver")
if ((!engine_only)); then
    for p in "command $command_v $command_bin" "proxmoxve $proxmoxve_v $proxmoxve_bin"; do
        read -r name version file <<<"$p"
        PULUMI_HOME=$home "$bin/pulumi" plugin install resource "$name" "$version" --file "$file" >&2 ||
            die "pulumi plugin install resource $name $version --file $file failed"
    done
    plugins=$(PULUMI_HOME=$home "$bin/pulumi" plugin ls) || die "pulumi plugin ls failed"
    for p in "command $command_v" "proxmoxve $proxmoxve_v"; do
        read -r name version <<<"$p"
        grep -Eq "^$name +resource +$version " <<<"$plugins" ||
            die "plugin $name $version is not listed by 'pulumi plugin ls' after install"
    done
    summary+=("command $command_v $command_ver" "proxmoxve $proxmoxve_v $proxmoxve_ver")
fi
printf '%s\n' "${summary[@]}" "${warnings[@]}" >"$marker"

show_versions
if ((${#timings[@]})); then log "build times: $(IFS=';'; echo "${timings[*]}")"; fi
if ((built_any)); then
    log "built in $((SECONDS - t0)) s"
else
    log "assembled from cached builds in $((SECONDS - t0)) s"
fi
printf '%s\n' "$tc"
