#!/usr/bin/env bash
# lab/vm/vm.sh: the VM lab's real Debian VMs (QEMU, software emulation), booted with the cloud-init user-data the
# program renders for its Proxmox clones. See lab/vm/README.md.
#
#   lab/vm/vm.sh net-up              the network namespace, its bridge (10.77.2.1/24), its link to this host (the
#                                    engine reaches the VMs; the VMs reach the container lab's Ceph, 10.77.1.0/24,
#                                    and nothing else), the local apt repository served on http://10.77.2.1:8077/
#                                    (once lab/vm/image.sh has built it)
#   lab/vm/vm.sh template NAME IP    the template path, for real: boot NAME from the base image with the
#                                    template's user-data, wait-ready.sh, template-seal.sh (the program's scripts,
#                                    sent as the program sends them), wait until it has powered off; its disk is
#                                    then the sealed template ("converted": read-only); kept in the cache
#                                    (~/.cache/swarm-ceph/vm/IMAGE/templates/RECIPE) and reused from there while
#                                    its recipe is the same (base image, seed, the program's scripts, this script)
#   lab/vm/vm.sh boot NAME IP [TEMPLATE]
#                                    start VM NAME at IP (creates its disks and seed the first time; its disk is
#                                    an overlay of TEMPLATE's sealed disk, else of the base image; net-up if needed)
#   lab/vm/vm.sh wait NAME [SECS]    wait until SSH answers (pinned host key) and cloud-init is done
#   lab/vm/vm.sh ssh NAME [CMD...]   ssh to NAME as the lab user, its host key pinned
#   lab/vm/vm.sh images NAME...      the container lab's app images (lab/lab.sh build) loaded into each VM's Docker
#                                    (no registry: the lab stack's resolveImage is never, as in the container lab)
#   lab/vm/vm.sh stop NAME           power NAME off (kills QEMU), keeps its disks
#   lab/vm/vm.sh status              VMs and whether they run
#   lab/vm/vm.sh down                every VM off, the repository's server, taps, bridge, namespace and run dirs
#                                    gone (the lab key and the cached templates stay, in the cache)
#
# Every VM: a qcow2 overlay on the base image (lab/vm/image.sh), a second empty virtio disk (/dev/vdb), a NoCloud
# seed (lab/vm/seed.py) on the IDE CD-ROM, a virtio NIC on a tap in the lab's bridge, the QEMU guest agent's
# virtio-serial port on a unix socket in its run dir, the serial console in its run dir's serial.log. The lab's
# network namespace has no default route: a veth link to this host (10.77.3.0/30) carries the VM lab's subnet and
# the container lab's (its Ceph cluster), nothing else; the host routes the VM subnet into it and lets Docker's
# FORWARD chain pass traffic between the two labs' subnets only.
set -euo pipefail

# ---------------------------------------------------------------- settings --
VMLAB_NETNS=${VMLAB_NETNS:-swarm-ceph-vm}
VMLAB_BRIDGE=${VMLAB_BRIDGE:-br0}            # inside the namespace
VMLAB_GATEWAY_CIDR=10.77.2.1/24              # the VM lab's subnet (the container lab owns 10.77.1.0/24)
VMLAB_MEMORY_MB=${VMLAB_MEMORY_MB:-1024}
VMLAB_SMP=${VMLAB_SMP:-2}
VMLAB_DISK_SIZE=${VMLAB_DISK_SIZE:-8G}       # the boot disk (cloud-init's growpart grows the root to it)
VMLAB_DATA_DISK_SIZE=${VMLAB_DATA_DISK_SIZE:-4G}  # the second, empty disk (sparse), as the Ceph disk would be
VMLAB_MAX_VMS=${VMLAB_MAX_VMS:-3}            # a template or three nodes at a time (2 host cores)
VMLAB_NICE=${VMLAB_NICE:-10}
VMLAB_REPO_PORT=8077                         # lab/vm/seed.py REPO_PORT
VMLAB_GATEWAY=${VMLAB_GATEWAY_CIDR%/*}
VMLAB_CIDR=10.77.2.0/24
VMLAB_HOST_LINK=vmlab0                       # the host's end of the link into the namespace
VMLAB_NS_LINK=uplink                         # its end in the namespace
VMLAB_LINK_HOST=10.77.3.1                    # a /30 of the link's own
VMLAB_LINK_NS=10.77.3.2
CONTAINER_LAB_CIDR=10.77.1.0/24              # lab/lab.sh LAB_SUBNET: the container lab's Ceph cluster
VMLAB_LOAD_IMAGES=${VMLAB_LOAD_IMAGES:-swarm-ceph-lab/nginx}  # built by lab/lab.sh build
# The program's timeouts: wait-ready.sh (components/nodes.py READY_TIMEOUT_S), the wait for the power-off
# (template-convert.sh's timeout, 600 s); template-seal.sh's come from the program (seed.py seal-args).
READY_TIMEOUT_S=900
POWEROFF_TIMEOUT_S=600

VM_SRC=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
REPO_ROOT=$(cd "$VM_SRC/../.." && pwd)
VMLAB_STATE=${VMLAB_STATE:-$REPO_ROOT/.vmlab}
VMLAB_RUN=$VMLAB_STATE/run
VM_CACHE=${SWARM_CEPH_CACHE:-$HOME/.cache/swarm-ceph}/vm  # lab/vm/image.sh's
# The lab's SSH key: one per machine, in the cache with the templates sealed for it (lab/vm/seed.py LAB_KEY).
VMLAB_KEY=$VM_CACHE/id_ed25519
REPO_PIDFILE=$VMLAB_RUN/.repo-http.pid
SSH_USER=debian  # the program's default ssh.user (components/config.py), the one lab/vm/seed.py logs in

# ----------------------------------------------------------------- helpers --
log() { printf 'vm: %s\n' "$*" >&2; }
die() { printf 'vm: ERROR: %s\n' "$*" >&2; exit 1; }

require_tools() {
    local tool missing=()
    for tool in "$@"; do command -v "$tool" >/dev/null 2>&1 || missing+=("$tool"); done
    ((${#missing[@]} == 0)) || die "missing: ${missing[*]} (scripts/setup.sh installs them)"
}

in_ns() { ip netns exec "$VMLAB_NETNS" "$@"; }
netns_exists() { [[ -e /run/netns/$VMLAB_NETNS ]]; }

uv_bin() {
    if command -v uv >/dev/null 2>&1; then command -v uv; else printf '%s\n' "$HOME/.local/bin/uv"; fi
}

valid_name() { [[ $1 =~ ^[a-z][a-z0-9-]{0,30}$ ]] || die "bad VM name '$1' (lowercase letters, digits, -)"; }

run_dir() { printf '%s/%s\n' "$VMLAB_RUN" "$1"; }

# The MAC and tap of a VM follow from its address (10.77.2.N: 52:54:00:77:02:NN, vmtapN).
last_octet() {
    [[ $1 =~ ^10\.77\.2\.([0-9]{1,3})$ ]] || die "address '$1' is not in the VM lab's subnet 10.77.2.0/24"
    local n=${BASH_REMATCH[1]}
    ((n >= 2 && n <= 254)) || die "address '$1': host part must be 2..254"
    printf '%d\n' "$((10#$n))"
}
vm_mac() { printf '52:54:00:77:02:%02x\n' "$(last_octet "$1")"; }
vm_tap() { printf 'vmtap%d\n' "$(last_octet "$1")"; }

vm_pid() { # prints the QEMU pid of VM NAME if it runs
    local pidfile pid
    pidfile=$(run_dir "$1")/qemu.pid
    [[ -r $pidfile ]] || return 1
    pid=$(<"$pidfile")
    [[ -n $pid ]] || return 1
    kill -0 "$pid" 2>/dev/null || return 1
    [[ $(cat "/proc/$pid/comm" 2>/dev/null) == qemu-system-* ]] || return 1
    printf '%s\n' "$pid"
}

running_vms() { # names of the VMs that run
    local dir
    [[ -d $VMLAB_RUN ]] || return 0
    for dir in "$VMLAB_RUN"/*/; do
        [[ -d $dir ]] || continue
        if vm_pid "$(basename "$dir")" >/dev/null; then basename "$dir"; fi
    done
}

ensure_key() {
    mkdir -p "$VM_CACHE"
    [[ -f $VMLAB_KEY ]] || ssh-keygen -q -t ed25519 -N '' -C swarm-ceph-vmlab -f "$VMLAB_KEY"
}

ssh_opts() { # ssh_opts NAME: strict host key checking against the node's derived key only
    printf '%s\n' -i "$VMLAB_KEY" -o IdentitiesOnly=yes -o BatchMode=yes -o ConnectTimeout=5 \
        -o StrictHostKeyChecking=yes -o "UserKnownHostsFile=$(run_dir "$1")/known_hosts" -o LogLevel=ERROR
}

vm_ip() { # the address VM NAME was booted with
    local file
    file=$(run_dir "$1")/ip
    [[ -r $file ]] || die "no VM '$1' (boot it first)"
    cat "$file"
}

seed_py() { (cd "$REPO_ROOT" && "$(uv_bin)" run --frozen python "$VM_SRC/seed.py" "$@"); }

repo_pid() { # prints the pid of the repository's HTTP server if it runs
    local pid cmdline
    [[ -r $REPO_PIDFILE ]] || return 1
    pid=$(<"$REPO_PIDFILE")
    [[ -n $pid ]] && kill -0 "$pid" 2>/dev/null || return 1
    cmdline=$(tr '\0' ' ' <"/proc/$pid/cmdline" 2>/dev/null) || return 1
    [[ $cmdline == *" -m http.server "* ]] || return 1
    printf '%s\n' "$pid"
}

repo_answers() { in_ns timeout 2 bash -c "exec 3<>/dev/tcp/$VMLAB_GATEWAY/$VMLAB_REPO_PORT" 2>/dev/null; }

serve_repo() { # the local apt repository over HTTP on the bridge, inside the namespace (idempotent)
    local repo python deadline server
    repo=$("$VM_SRC/image.sh" repo-path)
    if [[ ! -f $repo/dists/bookworm/Release ]]; then
        log "no apt repository built yet ($repo): lab/vm/image.sh builds it"
        return 0
    fi
    if repo_pid >/dev/null; then return 0; fi
    python=$(command -v /usr/bin/python3 || command -v python3) || die "python3 is missing (the repository's server)"
    mkdir -p "$VMLAB_RUN"
    # Not through in_ns (a function: & would fork a subshell): ip and nice exec, so $! is the server's pid.
    ip netns exec "$VMLAB_NETNS" nice -n "$VMLAB_NICE" "$python" -m http.server --bind "$VMLAB_GATEWAY" "$VMLAB_REPO_PORT" \
        --directory "$repo" </dev/null >"$VMLAB_RUN/.repo-http.log" 2>&1 &
    server=$!
    printf '%s\n' "$server" >"$REPO_PIDFILE"
    deadline=$((SECONDS + 15))
    until repo_answers; do
        # alive, not repo_pid: until the forked shell has exec'd the server, its command line is vm.sh's own
        kill -0 "$server" 2>/dev/null || die "the repository's server died: $(tail -5 "$VMLAB_RUN/.repo-http.log")"
        ((SECONDS < deadline)) || die "the repository's server does not answer on $VMLAB_GATEWAY:$VMLAB_REPO_PORT"
        sleep 0.2
    done
    log "apt repository $repo on http://$VMLAB_GATEWAY:$VMLAB_REPO_PORT/"
}

stop_repo() {
    local pid
    if pid=$(repo_pid); then
        kill "$pid" 2>/dev/null || true
        while kill -0 "$pid" 2>/dev/null; do sleep 0.1; done
        log "apt repository server stopped"
    fi
    rm -f "$REPO_PIDFILE"
}

# ---------------------------------------------------------------- commands --
cmd_net_up() {
    require_tools ip
    if ! netns_exists; then
        ip netns add "$VMLAB_NETNS"
        log "namespace $VMLAB_NETNS"
    fi
    ip -n "$VMLAB_NETNS" link set lo up
    if ! ip -n "$VMLAB_NETNS" link show "$VMLAB_BRIDGE" >/dev/null 2>&1; then
        ip -n "$VMLAB_NETNS" link add "$VMLAB_BRIDGE" type bridge
    fi
    ip -n "$VMLAB_NETNS" addr replace "$VMLAB_GATEWAY_CIDR" dev "$VMLAB_BRIDGE"
    ip -n "$VMLAB_NETNS" link set "$VMLAB_BRIDGE" up
    link_up
    serve_repo
}

# The forwarding rules between the two labs' subnets, for Docker's FORWARD chain (policy DROP): DOCKER-USER is the
# chain Docker leaves to its users. Without Docker running there is no such chain and nothing to open.
forward_rules() { # forward_rules add|del: each rule once in DOCKER-USER, or none of them
    local rule
    command -v iptables >/dev/null 2>&1 && iptables -n -L DOCKER-USER >/dev/null 2>&1 || return 0
    for rule in "-i $VMLAB_HOST_LINK -s $VMLAB_CIDR -d $CONTAINER_LAB_CIDR -j ACCEPT" \
        "-o $VMLAB_HOST_LINK -s $CONTAINER_LAB_CIDR -d $VMLAB_CIDR -j ACCEPT"; do
        # shellcheck disable=SC2086  # a rule is words
        case $1 in
            add) iptables -C DOCKER-USER $rule 2>/dev/null || iptables -I DOCKER-USER $rule ;;
            del) while iptables -D DOCKER-USER $rule 2>/dev/null; do :; done ;;
        esac
    done
}

link_up() { # the veth link host <-> namespace, the routes through it, forwarding between the labs (idempotent)
    if ! ip link show "$VMLAB_HOST_LINK" >/dev/null 2>&1; then
        ip link add "$VMLAB_HOST_LINK" type veth peer name "$VMLAB_NS_LINK" netns "$VMLAB_NETNS"
    fi
    ip addr replace "$VMLAB_LINK_HOST/30" dev "$VMLAB_HOST_LINK"
    ip link set "$VMLAB_HOST_LINK" up
    ip -n "$VMLAB_NETNS" addr replace "$VMLAB_LINK_NS/30" dev "$VMLAB_NS_LINK"
    ip -n "$VMLAB_NETNS" link set "$VMLAB_NS_LINK" up
    ip route replace "$VMLAB_CIDR" via "$VMLAB_LINK_NS" dev "$VMLAB_HOST_LINK"
    ip -n "$VMLAB_NETNS" route replace "$CONTAINER_LAB_CIDR" via "$VMLAB_LINK_HOST" dev "$VMLAB_NS_LINK"
    in_ns sysctl -qw net.ipv4.ip_forward=1  # the namespace's own setting: it routes between bridge and link
    forward_rules add
}

link_down() {
    forward_rules del
    ip route del "$VMLAB_CIDR" 2>/dev/null || true
    if ip link show "$VMLAB_HOST_LINK" >/dev/null 2>&1; then ip link del "$VMLAB_HOST_LINK"; fi  # its peer too
}

template_disk() { # template_disk TEMPLATE: the sealed disk of TEMPLATE (vm.sh template), or die
    local dir
    dir=$(run_dir "$1")
    [[ -f $dir/sealed && -f $dir/disk.qcow2 ]] || die "no sealed template '$1' (vm.sh template $1 IP first)"
    printf '%s\n' "$dir/disk.qcow2"
}

make_disks() { # make_disks NAME BASE DATA: the boot overlay on BASE, the data disk if DATA is yes, unless they exist
    local dir
    dir=$(run_dir "$1")
    if [[ ! -f $dir/disk.qcow2 ]]; then
        qemu-img create -q -f qcow2 -b "$2" -F qcow2 "$dir/disk.qcow2" "$VMLAB_DISK_SIZE"
    fi
    if [[ $3 == yes && ! -f $dir/data.raw ]]; then truncate -s "$VMLAB_DATA_DISK_SIZE" "$dir/data.raw"; fi
}

make_seed() { # make_seed NAME IP MAC [template]: the NoCloud seed ISO and the VM's known_hosts line
    local dir
    dir=$(run_dir "$1")
    if [[ ${4:-} == template ]]; then
        seed_py template "$1" "$2" "$3" "$VMLAB_KEY.pub" "$dir/seed" "http://$VMLAB_GATEWAY:$VMLAB_REPO_PORT/"
    else
        seed_py "$1" "$2" "$3" "$VMLAB_KEY.pub" "$dir/seed"
    fi
    cloud-localds --network-config="$dir/seed/network-config" "$dir/seed.iso" "$dir/seed/user-data" \
        "$dir/seed/meta-data"
    printf '%s %s\n' "$2" "$(seed_py host-key "$1")" >"$dir/known_hosts"
}

make_tap() { # make_tap TAP
    if ! ip -n "$VMLAB_NETNS" link show "$1" >/dev/null 2>&1; then
        ip -n "$VMLAB_NETNS" tuntap add dev "$1" mode tap
    fi
    ip -n "$VMLAB_NETNS" link set "$1" master "$VMLAB_BRIDGE" up
}

cmd_boot() { # boot NAME IP [TEMPLATE]
    (($# == 2 || $# == 3)) || die "usage: vm.sh boot NAME IP [TEMPLATE]"
    local base
    valid_name "$1"
    if (($# == 3)); then base=$(template_disk "$3"); else base=$("$VM_SRC/image.sh"); fi
    start_vm "$1" "$2" "$base" node
}

start_vm() { # start_vm NAME IP BASE KIND: KIND node (seed: node user-data, a data disk) or template
    local name=$1 ip=$2 base=$3 kind=$4 dir mac tap running drives
    mac=$(vm_mac "$ip")
    tap=$(vm_tap "$ip")
    dir=$(run_dir "$name")
    require_tools qemu-system-x86_64 qemu-img cloud-localds ssh-keygen ip
    [[ ! -f $dir/sealed ]] || die "$name is a sealed template: it does not boot again (boot a node from it)"
    if vm_pid "$name" >/dev/null; then
        [[ $(cat "$dir/ip") == "$ip" ]] || die "$name runs already, at $(cat "$dir/ip")"
        log "$name runs already"
        return 0
    fi
    running=$(running_vms | wc -l)
    ((running < VMLAB_MAX_VMS)) || die "$running VM(s) run already (VMLAB_MAX_VMS=$VMLAB_MAX_VMS): $(running_vms | xargs)"
    cmd_net_up
    ensure_key
    mkdir -p "$dir"
    if [[ -f $dir/ip && $(cat "$dir/ip") != "$ip" ]]; then die "$name has disks for $(cat "$dir/ip"): vm.sh down first"; fi
    printf '%s\n' "$ip" >"$dir/ip"
    if [[ $kind == node ]]; then make_disks "$name" "$base" yes; else make_disks "$name" "$base" no; fi
    make_seed "$name" "$ip" "$mac" "$kind"
    make_tap "$tap"
    drives=(-drive "file=$dir/disk.qcow2,if=virtio,format=qcow2,discard=unmap")
    if [[ $kind == node ]]; then drives+=(-drive "file=$dir/data.raw,if=virtio,format=raw,discard=unmap"); fi
    rm -f "$dir/qga.sock" "$dir/qmp.sock" "$dir/qemu.pid"
    : >"$dir/serial.log"
    in_ns nice -n "$VMLAB_NICE" qemu-system-x86_64 \
        -name "$name" -machine pc -accel tcg,tb-size=256 -cpu max -smp "$VMLAB_SMP" -m "$VMLAB_MEMORY_MB" \
        -nodefaults -display none -vga none \
        "${drives[@]}" \
        -drive "file=$dir/seed.iso,if=ide,media=cdrom,readonly=on" \
        -netdev "tap,id=net0,ifname=$tap,script=no,downscript=no" \
        -device "virtio-net-pci,netdev=net0,mac=$mac" \
        -device virtio-rng-pci \
        -device virtio-serial-pci \
        -chardev "socket,id=qga0,path=$dir/qga.sock,server=on,wait=off" \
        -device virtserialport,chardev=qga0,name=org.qemu.guest_agent.0 \
        -qmp "unix:$dir/qmp.sock,server=on,wait=off" \
        -serial "file:$dir/serial.log" \
        -pidfile "$dir/qemu.pid" -daemonize
    log "$name booting at $ip (mac $mac, $tap, $kind on $(basename "$(dirname "$base")")/$(basename "$base");" \
        "console: $dir/serial.log)"
}

wait_ssh() { # wait_ssh NAME LIMIT_S
    local name=$1 limit=$2 ip start=$SECONDS opts
    ip=$(vm_ip "$name")
    mapfile -t opts < <(ssh_opts "$name")
    until in_ns ssh "${opts[@]}" "$SSH_USER@$ip" true 2>/dev/null; do
        vm_pid "$name" >/dev/null || die "$name is not running (console: $(run_dir "$name")/serial.log)"
        ((SECONDS - start < limit)) || die "$name: no SSH after $limit s"
        sleep 2
    done
}

run_program_script() { # run_program_script NAME SCRIPT ARGS...: the command line the program sends, over SSH
    local name=$1 ip opts remote
    shift
    ip=$(vm_ip "$name")
    mapfile -t opts < <(ssh_opts "$name")
    remote=$(seed_py script-command "$@")
    in_ns ssh "${opts[@]}" "$SSH_USER@$ip" "$remote"
}

wait_poweroff() { # wait_poweroff NAME LIMIT_S: until QEMU has exited (the guest powered off), as
    # template-convert.sh waits for PVE's "status":"stopped"
    local name=$1 limit=$2 start=$SECONDS
    while vm_pid "$name" >/dev/null; do
        ((SECONDS - start < limit)) || die "$name did not power off within $limit s after sealing"
        sleep 1
    done
    rm -f "$(run_dir "$name")/qemu.pid" "$(run_dir "$name")/qga.sock" "$(run_dir "$name")/qmp.sock"
    if netns_exists; then ip -n "$VMLAB_NETNS" link del "$(vm_tap "$(vm_ip "$name")")" 2>/dev/null || true; fi
}

seal_template() { # seal_template NAME: template-seal.sh with the arguments the program gives it for the lab's
    # storage (components/template_vm.py seal_args), over SSH as the program sends it
    local name=$1 args out
    read -ra args <<<"$(seed_py seal-args)"
    out=$(run_dir "$name")/seal.out
    run_program_script "$name" template-seal.sh "${args[@]}" >"$out" || die "$name: template-seal.sh failed"
    cat "$out"
}

timing() { printf '%s %s\n' "$2" "$3" >>"$(run_dir "$1")/timings"; } # timing NAME PHASE SECONDS

save_evidence() { # save_evidence NAME: what the template's first boot did, kept before the seal erases it
    local name=$1 ev pid
    ev=$(run_dir "$name")/evidence
    mkdir -p "$ev"
    cmd_ssh "$name" cat /etc/machine-id >"$ev/machine-id"
    cmd_ssh "$name" sudo -n docker info --format '{{.ID}}' >"$ev/docker-engine-id"
    cmd_ssh "$name" cloud-init status --format json >"$ev/cloud-init-status.json" || true  # non-zero on errors
    cmd_ssh "$name" sudo -n cat /var/log/cloud-init-output.log >"$ev/cloud-init-output.log"
    cmd_ssh "$name" sudo -n cat /var/log/cloud-init.log >"$ev/cloud-init.log"
    if pid=$(vm_pid "$name"); then
        awk '/^VmHWM:/ { print "qemu_vmhwm_kib", $2 }' "/proc/$pid/status" >>"$(run_dir "$name")/timings"
    fi
}

template_recipe() { # template_recipe NAME IP BASE: a hash of what makes the sealed disk: the base image (its
    # path holds its own recipe's hash), the template's seed, the commands the program sends, this script, QEMU's sizes
    local tmp sum seal
    read -ra seal <<<"$(seed_py seal-args)"
    tmp=$(mktemp -d)
    seed_py template "$1" "$2" "$(vm_mac "$2")" "$VMLAB_KEY.pub" "$tmp" "http://$VMLAB_GATEWAY:$VMLAB_REPO_PORT/"
    sum=$({
        printf '%s\n' "$3" "$VMLAB_MEMORY_MB" "$VMLAB_SMP" "$VMLAB_DISK_SIZE"
        cat "$tmp/user-data" "$tmp/meta-data" "$tmp/network-config" "${BASH_SOURCE[0]}"
        seed_py script-command wait-ready.sh "$READY_TIMEOUT_S"
        seed_py script-command template-seal.sh "${seal[@]}"
    } | sha256sum)
    rm -rf "$tmp"
    printf '%s\n' "${sum:0:16}"
}

cmd_template() { # template NAME IP: boot, install (cloud-init), wait-ready, seal, power-off, "convert"; a template
    # sealed before from the same recipe (template_recipe) is reused from the cache, evidence and timings included
    (($# == 2)) || die "usage: vm.sh template NAME IP"
    local name=$1 ip=$2 dir base start phase cached
    valid_name "$name"
    dir=$(run_dir "$name")
    if [[ -f $dir/sealed ]]; then
        log "$name is sealed already"
        return 0
    fi
    base=$("$VM_SRC/image.sh")
    ensure_key
    cached=$(dirname "$base")/templates/$(template_recipe "$name" "$ip" "$base")
    if [[ -f $cached/sealed ]]; then
        mkdir -p "$dir"
        cp -a "$cached/." "$dir/"
        printf '%s\n' "$cached" >"$dir/cached"
        log "template $name: reused the sealed template cached for this recipe ($cached)"
        return 0
    fi
    start=$SECONDS
    start_vm "$name" "$ip" "$base" template
    : >"$dir/timings"
    [[ -n $(repo_pid) ]] || die "the apt repository is not served: the template could not install anything"
    wait_ssh "$name" 600
    log "template $name: ssh after $((SECONDS - start)) s"
    timing "$name" ssh $((SECONDS - start))
    run_program_script "$name" wait-ready.sh "$READY_TIMEOUT_S" || die "$name: wait-ready.sh failed"
    log "template $name: cloud-init done (wait-ready.sh) after $((SECONDS - start)) s"
    timing "$name" ready $((SECONDS - start))
    save_evidence "$name"
    phase=$SECONDS
    seal_template "$name"
    log "template $name: sealed after $((SECONDS - phase)) s"
    timing "$name" sealed $((SECONDS - phase))
    wait_poweroff "$name" "$POWEROFF_TIMEOUT_S"
    log "template $name: powered off after $((SECONDS - phase)) s (seal to power-off)"
    timing "$name" poweroff $((SECONDS - phase))
    # PVE's conversion makes the disk a template's: read-only, its clones copies of it. Here: read-only, the base
    # of the nodes' overlays.
    chmod a-w "$dir/disk.qcow2"
    rm -f "$dir/seed.iso"
    date -u +%FT%TZ >"$dir/sealed"
    log "template $name: sealed disk $dir/disk.qcow2 (total $((SECONDS - start)) s)"
    # into the cache: copied whole under a temporary name, then renamed (an interrupted copy is never reused)
    rm -rf "$cached.tmp"
    mkdir -p "$cached.tmp"
    cp -a "$dir/." "$cached.tmp/"
    rm -rf "$cached"
    mv "$cached.tmp" "$cached"
    # one template per base image: those of other recipes go (about 750 MB each)
    find "${cached%/*}" -mindepth 1 -maxdepth 1 ! -name "${cached##*/}" -exec rm -rf {} +
}

cmd_wait() { # wait NAME [SECONDS]
    (($# >= 1)) || die "usage: vm.sh wait NAME [SECONDS]"
    local name=$1 limit=${2:-600} ip start=$SECONDS opts
    ip=$(vm_ip "$name")
    mapfile -t opts < <(ssh_opts "$name")
    wait_ssh "$name" "$limit"
    log "$name: SSH after $((SECONDS - start)) s"
    in_ns timeout "$((limit - (SECONDS - start) + 1))" ssh "${opts[@]}" "$SSH_USER@$ip" \
        cloud-init status --wait >/dev/null || die "$name: cloud-init did not finish well (cloud-init status --long)"
    log "$name: cloud-init done after $((SECONDS - start)) s"
}

cmd_ssh() { # ssh NAME [CMD...]
    (($# >= 1)) || die "usage: vm.sh ssh NAME [CMD...]"
    local name=$1 ip opts
    shift
    ip=$(vm_ip "$name")
    mapfile -t opts < <(ssh_opts "$name")
    in_ns ssh "${opts[@]}" "$SSH_USER@$ip" "$@"
}

stop_vm() { # stop_vm NAME: QEMU off (TERM, then KILL after 10 s), its tap gone
    local name=$1 pid deadline dir
    dir=$(run_dir "$name")
    if pid=$(vm_pid "$name"); then
        kill "$pid" 2>/dev/null || true
        deadline=$((SECONDS + 10))
        while kill -0 "$pid" 2>/dev/null && ((SECONDS < deadline)); do sleep 0.2; done
        if kill -0 "$pid" 2>/dev/null; then kill -9 "$pid" 2>/dev/null || true; fi
        while kill -0 "$pid" 2>/dev/null; do sleep 0.1; done
        log "$name stopped"
    fi
    rm -f "$dir/qemu.pid" "$dir/qga.sock" "$dir/qmp.sock"
    if [[ -r $dir/ip ]] && netns_exists; then
        ip -n "$VMLAB_NETNS" link del "$(vm_tap "$(cat "$dir/ip")")" 2>/dev/null || true
    fi
}

cmd_images() { # images NAME...: VMLAB_LOAD_IMAGES from this host's Docker into each VM's, one VM at a time
    # (three loads at once under software emulation took longer than one after the other: 144-211 s against 108 s,
    # for the 132 MB image of then; 18 s a VM for today's 14 MB)
    (($# >= 1)) || die "usage: vm.sh images NAME..."
    local image name start
    for image in $VMLAB_LOAD_IMAGES; do
        docker image inspect "$image" >/dev/null 2>&1 || die "no image $image on this host: lab/lab.sh build makes it"
    done
    for name in "$@"; do
        vm_ip "$name" >/dev/null
        for image in $VMLAB_LOAD_IMAGES; do
            # A name without a tag is the latest one: `docker save NAME` would save every tag of NAME.
            [[ ${image##*/} == *:* ]] || image=$image:latest
            if cmd_ssh "$name" sudo -n docker image inspect "$image" >/dev/null 2>&1; then
                log "$name: $image loaded already"
                continue
            fi
            start=$SECONDS
            docker save "$image" | cmd_ssh "$name" sudo -n docker load >/dev/null || die "$name: loading $image failed"
            log "$name: $image loaded in $((SECONDS - start)) s"
        done
    done
}

cmd_stop() {
    (($# == 1)) || die "usage: vm.sh stop NAME"
    valid_name "$1"
    stop_vm "$1"
}

cmd_status() {
    local dir name state
    [[ -d $VMLAB_RUN ]] || { log "no VMs"; return 0; }
    for dir in "$VMLAB_RUN"/*/; do
        [[ -d $dir ]] || continue
        name=$(basename "$dir")
        if vm_pid "$name" >/dev/null; then state=running; else state=stopped; fi
        printf '%-16s %-14s %s\n' "$name" "$(cat "$dir/ip" 2>/dev/null || echo '?')" "$state"
    done
}

cmd_down() {
    local dir
    stop_repo
    if [[ -d $VMLAB_RUN ]]; then
        for dir in "$VMLAB_RUN"/*/; do
            if [[ -d $dir ]]; then stop_vm "$(basename "$dir")"; fi
        done
        rm -rf "$VMLAB_RUN"
    fi
    link_down
    if netns_exists; then
        ip netns del "$VMLAB_NETNS"  # takes the bridge and any tap left with it
        log "namespace $VMLAB_NETNS removed"
    fi
}

main() {
    local cmd=${1:-}
    if (($# > 0)); then shift; fi
    case $cmd in
        net-up) cmd_net_up ;;
        boot) cmd_boot "$@" ;;
        template) cmd_template "$@" ;;
        wait) cmd_wait "$@" ;;
        ssh) cmd_ssh "$@" ;;
        images) cmd_images "$@" ;;
        stop) cmd_stop "$@" ;;
        status) cmd_status ;;
        down) cmd_down ;;
        *) sed -n '2,/^set -euo/p' "${BASH_SOURCE[0]}" | sed '$d' >&2; exit 2 ;;
    esac
}

main "$@"
