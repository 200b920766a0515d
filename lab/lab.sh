#!/usr/bin/env bash
# Local lab for swarm-ceph: three real Docker Swarm node containers (sshd +
# nested dockerd) on one bridge network, a real Ceph cluster (Debian 13's Ceph 18.2)
# across them, images built without any registry. See lab/README.md.
#
#   lab/lab.sh build            build/reuse the lab images
#   lab/lab.sh up               build, start the nodes and Ceph, load the app image(s)
#   lab/lab.sh down             remove nodes, their volumes (Ceph's data), the network
#   lab/lab.sh status           nodes, IPs, container and Swarm state
#   lab/lab.sh ssh NODE [CMD]   ssh into a node (name or IP) with the lab key
#   lab/lab.sh env              print `export` lines for the Pulumi lab stack
#   lab/lab.sh vm COMMAND ...   the VM lab: real Debian VMs (QEMU) from the program's cloud-init (lab/vm/vm.sh)
set -euo pipefail

# ---------------------------------------------------------------- settings --
# The lab's size: 3 nodes (one manager, two workers) or 5 (three managers, two workers); lab/stack_config.py has the
# nodes of each (LAB_TOPOLOGIES) and the lab stack follows the same setting.
LAB_SIZE=${LAB_SIZE:-3}
# Nodes as "name=ip" words (default: those of LAB_SIZE); container name = hostname = name.
LAB_NODES=${LAB_NODES:-}
LAB_NETWORK=${LAB_NETWORK:-swarm-ceph-lab}
LAB_SUBNET=${LAB_SUBNET:-10.77.1.0/24}
LAB_GATEWAY=${LAB_GATEWAY:-10.77.1.1}
# Images saved into every node by `up` (docker save | ssh docker load).
LAB_LOAD_IMAGES=${LAB_LOAD_IMAGES:-swarm-ceph-lab/nginx swarm-ceph-lab/redis}
# The nodes' Debian: 13 (trixie) has Ceph 18.2, what MicroCeph's reef track ships, and Docker 26 (12, bookworm:
# Ceph 16.2, Docker 20.10).
LAB_DEBIAN_SUITE=${LAB_DEBIAN_SUITE:-trixie}
# The Debian mirror for debootstrap: the host's own apt source unless LAB_DEBIAN_MIRROR says otherwise.
# shellcheck source=debian-mirror.sh
. "$(dirname "${BASH_SOURCE[0]}")/debian-mirror.sh"
LAB_DEBIAN_MIRROR=${LAB_DEBIAN_MIRROR:-$(host_debian_mirror)}
LAB_WAIT_SECONDS=${LAB_WAIT_SECONDS:-90}
# The lab's Ceph: MONs on the first three nodes, a MGR, an OSD and an MDS on every node, one CephFS, and one client
# key for the lab stack (what an operator would do with pveceph before running the program).
LAB_CEPH_FS=${LAB_CEPH_FS:-cephfs}
LAB_CEPH_CLIENT=${LAB_CEPH_CLIENT:-swarm}
LAB_CEPH_WAIT_SECONDS=${LAB_CEPH_WAIT_SECONDS:-180}

IMAGE_PREFIX="swarm-ceph-lab"
LABEL_KEY="swarm-ceph-lab"
# Docker 20.10 knows these; all but SYS_RESOURCE (not in this host's bounding
# set, which is also why --privileged fails here).
NODE_CAPS="CHOWN DAC_OVERRIDE DAC_READ_SEARCH FOWNER FSETID KILL SETGID SETUID SETPCAP
LINUX_IMMUTABLE NET_BIND_SERVICE NET_BROADCAST NET_ADMIN NET_RAW IPC_LOCK IPC_OWNER SYS_MODULE
SYS_RAWIO SYS_CHROOT SYS_PTRACE SYS_PACCT SYS_ADMIN SYS_BOOT SYS_NICE SYS_TIME SYS_TTY_CONFIG
MKNOD LEASE AUDIT_WRITE AUDIT_CONTROL SETFCAP MAC_OVERRIDE MAC_ADMIN SYSLOG WAKE_ALARM
BLOCK_SUSPEND AUDIT_READ"

LAB_SRC=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
REPO_ROOT=$(cd "$LAB_SRC/.." && pwd)
LAB_STATE=$REPO_ROOT/.lab
LAB_KEY=$LAB_STATE/id_ed25519
LAB_HOST_KEYS=$LAB_STATE/host_keys
LAB_CEPH_KEY=$LAB_STATE/ceph/client.key
LAB_CACHE=${SWARM_CEPH_CACHE:-$HOME/.cache/swarm-ceph}/lab

export DOCKER_BUILDKIT=0   # the docker CLI here may lack buildx; use the classic builder

# ----------------------------------------------------------------- helpers --
log() { printf 'lab: %s\n' "$*" >&2; }
die() { printf 'lab: ERROR: %s\n' "$*" >&2; exit 1; }

NODE_NAMES=()
NODE_IPS=()
parse_nodes() {
    local word py=$REPO_ROOT/.venv/bin/python
    NODE_NAMES=()
    NODE_IPS=()
    if [ -z "$LAB_NODES" ]; then
        [ -x "$py" ] || die "$py is missing (lab/stack_config.py lists the lab's nodes): run scripts/setup.sh"
        LAB_NODES=$(LAB_SIZE=$LAB_SIZE "$py" "$LAB_SRC/stack_config.py" nodes) || die "LAB_SIZE=$LAB_SIZE: no such lab"
    fi
    for word in $LAB_NODES; do
        case $word in
            ?*=?*) NODE_NAMES+=("${word%%=*}"); NODE_IPS+=("${word#*=}") ;;
            *) die "LAB_NODES: expected name=ip words, got '$word'" ;;
        esac
    done
    [ "${#NODE_NAMES[@]}" -gt 0 ] || die "LAB_NODES is empty"
}

# node_ip NAME-or-IP -> IP (dies when unknown)
node_ip() {
    local i
    for i in "${!NODE_NAMES[@]}"; do
        if [ "${NODE_NAMES[$i]}" = "$1" ] || [ "${NODE_IPS[$i]}" = "$1" ]; then
            printf '%s\n' "${NODE_IPS[$i]}"
            return 0
        fi
    done
    die "unknown node '$1' (known: ${NODE_NAMES[*]})"
}

SSH_OPTS=(-i "$LAB_KEY" -o StrictHostKeyChecking=no -o UserKnownHostsFile=/dev/null
          -o LogLevel=ERROR -o BatchMode=yes -o ConnectTimeout=5)
node_ssh() { # node_ssh IP CMD...
    local ip=$1
    shift
    # shellcheck disable=SC2029  # the command is meant to run on the node
    ssh "${SSH_OPTS[@]}" "root@$ip" "$@"
}

ensure_docker() { "$LAB_SRC/ensure-docker.sh"; }

container_state() { # prints running/exited/created/... or "missing"
    local state
    # (a failing inspect still prints an empty line on stdout)
    if state=$(docker container inspect -f '{{.State.Status}}' "$1" 2>/dev/null); then
        printf '%s\n' "$state"
    else
        echo missing
    fi
}

elapsed() { printf '%dm%02ds' $(($1 / 60)) $(($1 % 60)); }

# ------------------------------------------------------------------ images --
# image_by_hash KIND HASH -> image id of a lab image with that input hash, or ""
image_by_hash() {
    docker image ls -q --no-trunc \
        --filter "label=$LABEL_KEY.image=$1" --filter "label=$LABEL_KEY.hash=$2" | head -n1
}

# Hash of a directory's files (relative names, modes, contents) and extra text.
hash_inputs() { # hash_inputs DIR EXTRA
    local f
    {
        printf '%s\n' "$2"
        while IFS= read -r -d '' f; do
            printf '%s %s %s\n' "$(stat -c %a "$1/$f")" "$f" "$(sha256sum <"$1/$f" | cut -d' ' -f1)"
        done < <(cd "$1" && find . -type f -print0 | LC_ALL=C sort -z)
    } | sha256sum | cut -c1-16
}

# The base image: debootstrap minbase -> docker import. Its "files" are the recipe.
BASE_HASH=""
build_base() {
    local name=$IMAGE_PREFIX/base recipe hash id tarball rootfs start=$SECONDS
    # Bump the trailing version when the recipe below changes.
    recipe="debootstrap --variant=minbase $LAB_DEBIAN_SUITE $LAB_DEBIAN_MIRROR; clean apt; v1"
    hash=$(printf '%s\n' "$recipe" | sha256sum | cut -c1-16)
    BASE_HASH=$hash
    id=$(image_by_hash base "$hash")
    if [ -n "$id" ]; then
        docker tag "$id" "$name"
        log "image $name up to date ($hash)"
        return 0
    fi
    mkdir -p "$LAB_CACHE"
    tarball=$LAB_CACHE/base-$hash.tar
    if [ ! -s "$tarball" ]; then
        command -v debootstrap >/dev/null 2>&1 || {
            log "installing debootstrap"
            DEBIAN_FRONTEND=noninteractive apt-get install -y -qq debootstrap >/dev/null ||
                { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq debootstrap >/dev/null; } ||
                die "could not install debootstrap"
        }
        [[ -n $LAB_DEBIAN_MIRROR ]] || die "no Debian mirror in the host's apt sources: set LAB_DEBIAN_MIRROR"
        rootfs=$LAB_CACHE/rootfs-$hash
        rm -rf "$rootfs"
        mkdir -p "$LAB_CACHE/debs" "$rootfs"
        log "debootstrap $LAB_DEBIAN_SUITE (minbase) into $rootfs"
        if ! debootstrap --variant=minbase --cache-dir="$LAB_CACHE/debs" \
                "$LAB_DEBIAN_SUITE" "$rootfs" "$LAB_DEBIAN_MIRROR" >"$LAB_CACHE/debootstrap.log" 2>&1; then
            tail -n 20 "$LAB_CACHE/debootstrap.log" >&2
            die "debootstrap failed (full log: $LAB_CACHE/debootstrap.log)"
        fi
        rm -rf "$rootfs"/var/cache/apt/archives/*.deb "$rootfs"/var/lib/apt/lists/* \
               "$rootfs"/var/log/bootstrap.log "$rootfs"/debootstrap
        : >"$rootfs/etc/hostname"
        tar --numeric-owner -C "$rootfs" -cf "$tarball.tmp" .
        mv "$tarball.tmp" "$tarball"
        rm -rf "$rootfs"
    fi
    log "importing $name"
    docker import \
        -c 'CMD ["/bin/bash"]' \
        -c "ENV PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin" \
        -c "LABEL $LABEL_KEY.image=base $LABEL_KEY.hash=$hash" \
        "$tarball" "$name" >/dev/null
    log "image $name built ($hash) in $(elapsed $((SECONDS - start)))"
}

# build_child KIND PARENT_HASH: lab/images/KIND/Dockerfile, FROM the base image.
build_child() {
    local kind=$1 parent_hash=$2 name=$IMAGE_PREFIX/$1 dir=$LAB_SRC/images/$1 hash id start=$SECONDS
    hash=$(hash_inputs "$dir" "parent=$parent_hash")
    id=$(image_by_hash "$kind" "$hash")
    if [ -n "$id" ]; then
        docker tag "$id" "$name"
        log "image $name up to date ($hash)"
        return 0
    fi
    log "building $name"
    mkdir -p "$LAB_CACHE"
    if ! docker build --label "$LABEL_KEY.image=$kind" --label "$LABEL_KEY.hash=$hash" \
            -t "$name" "$dir" >"$LAB_CACHE/build-$kind.log" 2>&1; then
        tail -n 30 "$LAB_CACHE/build-$kind.log" >&2
        die "docker build of $name failed (full log: $LAB_CACHE/build-$kind.log)"
    fi
    # Drop superseded (now untagged) builds of this image.
    docker image prune -f --filter "label=$LABEL_KEY.image=$kind" >/dev/null 2>&1 || true
    log "image $name built ($hash) in $(elapsed $((SECONDS - start)))"
}

build_images() {
    local start=$SECONDS
    build_base
    build_child node "$BASE_HASH"
    build_child nginx "$BASE_HASH"
    build_child redis "$BASE_HASH"
    log "images ready in $(elapsed $((SECONDS - start)))"
}

cmd_build() {
    ensure_docker
    build_images
}

# --------------------------------------------------------------------- up --
ensure_key() {
    mkdir -p "$LAB_STATE"
    if [ ! -f "$LAB_KEY" ] || [ ! -f "$LAB_KEY.pub" ]; then
        rm -f "$LAB_KEY" "$LAB_KEY.pub"
        ssh-keygen -q -t ed25519 -N '' -C "swarm-ceph-lab" -f "$LAB_KEY"
        log "generated SSH key $LAB_KEY"
    fi
    chmod 0600 "$LAB_KEY"
    chmod 0644 "$LAB_KEY.pub"
}

ensure_network() {
    local subnet
    if subnet=$(docker network inspect -f '{{range .IPAM.Config}}{{.Subnet}}{{end}}' "$LAB_NETWORK" 2>/dev/null); then
        [ "$subnet" = "$LAB_SUBNET" ] ||
            die "network $LAB_NETWORK exists with subnet $subnet, expected $LAB_SUBNET (run: lab/lab.sh down)"
        return 0
    fi
    docker network create --driver bridge --subnet "$LAB_SUBNET" --gateway "$LAB_GATEWAY" \
        --label "$LABEL_KEY=1" "$LAB_NETWORK" >/dev/null
    log "created network $LAB_NETWORK ($LAB_SUBNET)"
}

# host_key NAME: write the node's SSH host key, derived as lab/stack_config.py pins it, to $LAB_HOST_KEYS/NAME.
host_key() {
    local name=$1 py=$REPO_ROOT/.venv/bin/python
    [ -x "$py" ] || die "$py is missing (the lab derives its nodes' host keys with it): run scripts/setup.sh"
    mkdir -p "$LAB_HOST_KEYS"
    (umask 077 && "$py" "$LAB_SRC/stack_config.py" host-key "$name" >"$LAB_HOST_KEYS/$name.tmp") ||
        die "could not derive the host key of $name"
    mv -f "$LAB_HOST_KEYS/$name.tmp" "$LAB_HOST_KEYS/$name"
}

# check_host_key NAME: a node made by an older lab.sh has a key of its own, which the lab stack would refuse.
check_host_key() {
    local name=$1 have
    host_key "$name"
    have=$(docker exec "$name" ssh-keygen -y -f /etc/ssh/ssh_host_ed25519_key 2>/dev/null | cut -d' ' -f1,2 || true)
    [ "$have" = "$(ssh-keygen -y -f "$LAB_HOST_KEYS/$name" | cut -d' ' -f1,2)" ] ||
        die "$name does not have the host key the lab stack pins. Fix: lab/lab.sh down && lab/lab.sh up"
}

start_node() { # start_node NAME IP
    local name=$1 ip=$2 state volume=$LABEL_KEY-$1 cap image_id node_image
    local caps=()
    state=$(container_state "$name")
    case $state in
        running)
            image_id=$(docker container inspect -f '{{.Image}}' "$name")
            node_image=$(docker image inspect -f '{{.Id}}' "$IMAGE_PREFIX/node")
            [ "$image_id" = "$node_image" ] ||
                log "note: $name runs an older node image (lab/lab.sh down && lab/lab.sh up recreates it)"
            check_host_key "$name"
            log "$name already running"
            ;;
        missing)
            host_key "$name"
            for cap in $NODE_CAPS; do caps+=(--cap-add "$cap"); done
            docker volume create --label "$LABEL_KEY=1" "$volume" >/dev/null
            docker volume create --label "$LABEL_KEY=1" "$volume-ceph" >/dev/null
            docker run -d --name "$name" --hostname "$name" \
                --network "$LAB_NETWORK" --ip "$ip" \
                --label "$LABEL_KEY.node=$name" \
                --security-opt seccomp=unconfined --security-opt apparmor=unconfined \
                --security-opt systempaths=unconfined --device-cgroup-rule 'a *:* rwm' \
                "${caps[@]}" \
                --device /dev/fuse \
                -v "$volume:/var/lib/docker" \
                -v "$volume-ceph:/var/lib/ceph" \
                -v "$LAB_KEY.pub:/etc/ssh/lab_authorized_keys:ro" \
                -v "$LAB_HOST_KEYS/$name:/etc/ssh/ssh_host_ed25519_key:ro" \
                "$IMAGE_PREFIX/node" >/dev/null
            log "$name created ($ip)"
            ;;
        *)
            docker start "$name" >/dev/null
            check_host_key "$name"
            log "$name started (was $state)"
            ;;
    esac
}

wait_nodes() {
    local deadline=$((SECONDS + LAB_WAIT_SECONDS)) i pending
    while :; do
        pending=()
        for i in "${!NODE_NAMES[@]}"; do
            node_ssh "${NODE_IPS[$i]}" docker info >/dev/null 2>&1 && continue
            pending+=("${NODE_NAMES[$i]}")
            if [ "$(container_state "${NODE_NAMES[$i]}")" != running ]; then
                docker logs --tail 20 "${NODE_NAMES[$i]}" 2>&1 | sed 's/^/    /' >&2 || true
                die "node container ${NODE_NAMES[$i]} is not running"
            fi
        done
        [ "${#pending[@]}" -eq 0 ] && return 0
        if [ "$SECONDS" -ge "$deadline" ]; then
            for i in "${pending[@]}"; do
                log "--- $i: container log (sshd), then the nested dockerd log"
                docker logs --tail 5 "$i" 2>&1 | sed 's/^/    /' >&2 || true
                docker exec "$i" tail -n 10 /var/log/dockerd.log 2>&1 | sed 's/^/    /' >&2 || true
            done
            die "nodes not answering 'ssh ... docker info' after ${LAB_WAIT_SECONDS}s: ${pending[*]}"
        fi
        sleep 1
    done
}

# Load IMAGE into every node that lacks that exact image id, in parallel.
load_image() {
    local image=$1 want i ip have pids=() names=() rc=0 logf
    # A name without a tag is the latest one: `docker save NAME` would save every tag of NAME.
    [[ ${image##*/} == *:* ]] || image=$image:latest
    want=$(docker image inspect -f '{{.Id}}' "$image") || die "image $image not found on the host"
    for i in "${!NODE_NAMES[@]}"; do
        ip=${NODE_IPS[$i]}
        have=$(node_ssh "$ip" docker image inspect -f '{{.Id}}' "$image" 2>/dev/null || true)
        if [ "$have" = "$want" ]; then
            log "${NODE_NAMES[$i]}: $image already loaded"
            continue
        fi
        logf=$LAB_STATE/load-${NODE_NAMES[$i]}.log
        (docker save "$image" | node_ssh "$ip" docker load) >"$logf" 2>&1 &
        pids+=("$!")
        names+=("${NODE_NAMES[$i]}")
    done
    for i in "${!pids[@]}"; do
        if wait "${pids[$i]}"; then
            log "${names[$i]}: loaded $image"
        else
            log "${names[$i]}: loading $image FAILED:"
            sed 's/^/    /' "$LAB_STATE/load-${names[$i]}.log" >&2 || true
            rc=1
        fi
    done
    [ "$rc" -eq 0 ] || die "could not load $image into every node"
}

# parallel_nodes WHAT CMD...: run `node_ssh IP CMD...` on every node at once; fail naming the nodes that failed.
parallel_nodes() {
    local what=$1 i pids=() failed=()
    shift
    for i in "${!NODE_NAMES[@]}"; do
        node_ssh "${NODE_IPS[$i]}" "$@" >"$LAB_STATE/ceph/${NODE_NAMES[$i]}.log" 2>&1 &
        pids+=("$!")
    done
    for i in "${!pids[@]}"; do
        wait "${pids[$i]}" || failed+=("${NODE_NAMES[$i]}")
    done
    for i in "${failed[@]}"; do
        sed "s/^/    $i: /" "$LAB_STATE/ceph/$i.log" >&2
    done
    [ "${#failed[@]}" -eq 0 ] || die "$what failed on: ${failed[*]}"
}

# The lab's Ceph cluster (lab/images/node/lab-ceph.sh does the work on each node; every step is idempotent).
ceph_up() {
    local first=${NODE_IPS[0]} mons=("${NODE_NAMES[@]:0:3}") mon_ips=("${NODE_IPS[@]:0:3}") i key mds_ip
    local start=$SECONDS
    [ "${#mons[@]}" -eq 3 ] || die "the lab's Ceph needs at least 3 nodes (LAB_NODES has ${#NODE_NAMES[@]})"
    mkdir -p "$LAB_STATE/ceph"
    node_ssh "$first" lab-ceph init "$(IFS=,; echo "${mons[*]}")" "$(IFS=,; echo "${mon_ips[*]}")" "$LAB_SUBNET"
    for i in "${!NODE_IPS[@]}"; do
        [ "$i" -eq 0 ] && continue
        if ! node_ssh "${NODE_IPS[$i]}" test -e /etc/ceph/ceph.conf; then
            node_ssh "$first" lab-ceph bundle | node_ssh "${NODE_IPS[$i]}" tar -C / -xf - ||
                die "could not copy the Ceph configuration to ${NODE_NAMES[$i]}"
        fi
    done
    for i in "${!mon_ips[@]}"; do
        node_ssh "${mon_ips[$i]}" lab-ceph mon || die "the MON of ${mons[$i]} did not start"
    done
    node_ssh "$first" lab-ceph quorum "$LAB_CEPH_WAIT_SECONDS"
    # The active MDS on the node lab/stack_config.py names (the filesystem is made while its MDS is the only one),
    # the others standbys started afterwards: a MON, the active MDS and a client lost together stall CephFS for about
    # a minute (the MONs elect again, fail the silent MDS, and the new one waits for the dead client: lab/README.md),
    # and the tests stop nodes.
    mds_ip=$(node_ip "$("$REPO_ROOT/.venv/bin/python" "$LAB_SRC/stack_config.py" mds-node)")
    node_ssh "$mds_ip" lab-ceph daemons mds || die "the MGR, OSD or MDS of $mds_ip did not start"
    parallel_nodes "starting the MGR and OSD" lab-ceph daemons no-mds
    key=$(node_ssh "$first" lab-ceph fs "$LAB_CEPH_FS" "$LAB_CEPH_CLIENT") || die "could not make the CephFS"
    parallel_nodes "starting the standby MDSs" lab-ceph start
    (umask 077 && printf '%s\n' "$key" >"$LAB_CEPH_KEY.tmp")
    mv -f "$LAB_CEPH_KEY.tmp" "$LAB_CEPH_KEY"
    node_ssh "$first" lab-ceph health "$LAB_CEPH_WAIT_SECONDS"
    log "Ceph HEALTH_OK after $((SECONDS - start))s: CephFS '$LAB_CEPH_FS', client.$LAB_CEPH_CLIENT's key in $LAB_CEPH_KEY"
}

cmd_up() {
    local start=$SECONDS i image phase
    parse_nodes
    ensure_docker
    build_images
    ensure_key
    ensure_network
    for i in "${!NODE_NAMES[@]}"; do
        start_node "${NODE_NAMES[$i]}" "${NODE_IPS[$i]}"
    done
    log "waiting for SSH and the nested engines (at most ${LAB_WAIT_SECONDS}s)"
    phase=$SECONDS
    wait_nodes
    log "nodes answer after $((SECONDS - phase))s"
    ceph_up
    phase=$SECONDS
    for image in $LAB_LOAD_IMAGES; do
        load_image "$image"
    done
    log "images in the nodes after $((SECONDS - phase))s"
    printf '\n%-16s %s\n' NODE IP
    for i in "${!NODE_NAMES[@]}"; do
        printf '%-16s %s\n' "${NODE_NAMES[$i]}" "${NODE_IPS[$i]}"
    done
    printf '\nssh key:    %s\nCeph:       MONs %s, CephFS %s, client.%s key in %s\n' "$LAB_KEY" \
        "$(lab_monitors)" "$LAB_CEPH_FS" "$LAB_CEPH_CLIENT" "$LAB_CEPH_KEY"
    printf 'lab up in %s\n' "$(elapsed $((SECONDS - start)))"
}

# ------------------------------------------------------------------- down --
cmd_down() {
    local start=$SECONDS ids vols name
    parse_nodes
    if command -v dockerd >/dev/null 2>&1 || docker info >/dev/null 2>&1; then
        ensure_docker
        # Configured names plus anything labelled (in case LAB_NODES changed).
        ids=$( { docker ps -aq --filter "label=$LABEL_KEY.node"
                 for name in "${NODE_NAMES[@]}"; do docker ps -aq --filter "name=^/${name}\$"; done
               } | sort -u)
        if [ -n "$ids" ]; then
            # shellcheck disable=SC2086  # word splitting of ids is intended
            docker rm -f -v $ids >/dev/null
            log "removed node containers"
        fi
        # Superseded lab image builds that those containers still held.
        docker image prune -f --filter "label=$LABEL_KEY.image" >/dev/null 2>&1 || true
        vols=$(docker volume ls -q --filter "label=$LABEL_KEY=1")
        if [ -n "$vols" ]; then
            # shellcheck disable=SC2086
            docker volume rm -f $vols >/dev/null
            log "removed volumes: ${vols//$'\n'/ }"
        fi
        if docker network inspect "$LAB_NETWORK" >/dev/null 2>&1; then
            docker network rm "$LAB_NETWORK" >/dev/null
            log "removed network $LAB_NETWORK"
        fi
    else
        log "no docker engine on this machine: nothing to remove there"
    fi
    rm -rf "$LAB_STATE/ceph"
    rm -f "$LAB_STATE"/load-*.log
    log "lab down in $(elapsed $((SECONDS - start))) (kept: $LAB_KEY, lab images)"
}

# ----------------------------------------------------------- status / ssh --
cmd_status() {
    local i name ip state swarm
    parse_nodes
    if ! docker info >/dev/null 2>&1; then
        log "docker engine is not running: lab is down"
        return 0
    fi
    if docker network inspect "$LAB_NETWORK" >/dev/null 2>&1; then
        printf 'network %s: present (%s)\n' "$LAB_NETWORK" "$LAB_SUBNET"
    else
        printf 'network %s: missing\n' "$LAB_NETWORK"
    fi
    printf '%-16s %-12s %-10s %s\n' NODE IP CONTAINER SWARM
    for i in "${!NODE_NAMES[@]}"; do
        name=${NODE_NAMES[$i]}
        ip=${NODE_IPS[$i]}
        state=$(container_state "$name")
        swarm=-
        if [ "$state" = running ]; then
            swarm=$(node_ssh "$ip" docker info --format '{{.Swarm.LocalNodeState}}' 2>/dev/null ||
                    echo "no-ssh")
        fi
        printf '%-16s %-12s %-10s %s\n' "$name" "$ip" "$state" "$swarm"
    done
}

cmd_ssh() {
    local ip
    [ $# -ge 1 ] || die "usage: lab/lab.sh ssh NODE [CMD...]"
    parse_nodes
    ip=$(node_ip "$1")
    shift
    [ -f "$LAB_KEY" ] || die "no lab key at $LAB_KEY (run lab/lab.sh up)"
    if [ $# -eq 0 ] && [ -t 0 ]; then
        exec ssh -t "${SSH_OPTS[@]}" "root@$ip"
    fi
    exec ssh "${SSH_OPTS[@]}" "root@$ip" "$@"
}

lab_monitors() { (IFS=,; echo "${NODE_IPS[*]:0:3}"); }

shell_quote() { printf "'%s'" "${1//\'/\'\\\'\'}"; }

cmd_env() {
    local i names=() ips=()
    parse_nodes
    for i in "${!NODE_NAMES[@]}"; do
        names+=("${NODE_NAMES[$i]}")
        ips+=("${NODE_IPS[$i]}")
    done
    printf 'export LAB_SSH_KEY=%s\n' "$(shell_quote "$LAB_KEY")"
    printf 'export LAB_SSH_USER=root\n'
    printf 'export LAB_CEPH_MONITORS=%s\n' "$(shell_quote "$(lab_monitors)")"
    printf 'export LAB_CEPH_FS=%s\n' "$(shell_quote "$LAB_CEPH_FS")"
    printf 'export LAB_CEPH_CLIENT=%s\n' "$(shell_quote "$LAB_CEPH_CLIENT")"
    printf 'export LAB_CEPH_KEY_FILE=%s\n' "$(shell_quote "$LAB_CEPH_KEY")"
    printf 'export LAB_NODES=%s\n' "$(shell_quote "$LAB_NODES")"
    printf 'export LAB_NODE_NAMES=%s\n' "$(shell_quote "${names[*]}")"
    printf 'export LAB_NODE_IPS=%s\n' "$(shell_quote "${ips[*]}")"
    printf 'export LAB_MASTER_IP=%s\n' "$(shell_quote "${NODE_IPS[0]}")"
}

usage() {
    sed -n '2,13s/^# \{0,1\}//p' "${BASH_SOURCE[0]}"
}

main() {
    local cmd=${1:-}
    [ $# -gt 0 ] && shift
    case $cmd in
        build) cmd_build "$@" ;;
        up) cmd_up "$@" ;;
        down) cmd_down "$@" ;;
        status) cmd_status "$@" ;;
        ssh) cmd_ssh "$@" ;;
        env) cmd_env "$@" ;;
        vm) exec bash "$LAB_SRC/vm/vm.sh" "$@" ;;
        -h|--help|help) usage ;;
        *) usage >&2; exit 2 ;;
    esac
}

main "$@"
