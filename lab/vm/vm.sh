#!/usr/bin/env bash
# lab/vm/vm.sh: the VM lab's real Debian VMs (QEMU, software emulation), booted with the cloud-init user-data the
# program renders for its Proxmox clones. See lab/vm/README.md.
#
#   lab/vm/vm.sh net-up              the network namespace, its bridge (10.77.2.1/24)
#   lab/vm/vm.sh boot NAME IP        start VM NAME at IP (creates its disks and seed the first time; builds or
#                                    reuses the base image; net-up if needed)
#   lab/vm/vm.sh wait NAME [SECS]    wait until SSH answers (pinned host key) and cloud-init is done
#   lab/vm/vm.sh ssh NAME [CMD...]   ssh to NAME as the lab user, its host key pinned
#   lab/vm/vm.sh stop NAME           power NAME off (kills QEMU), keeps its disks
#   lab/vm/vm.sh status              VMs and whether they run
#   lab/vm/vm.sh down                every VM off, taps, bridge, namespace and run dirs gone (the lab key stays)
#
# Every VM: a qcow2 overlay on the base image (lab/vm/image.sh), a second empty virtio disk (/dev/vdb), a NoCloud
# seed (lab/vm/seed.py) on the IDE CD-ROM, a virtio NIC on a tap in the lab's bridge, the QEMU guest agent's
# virtio-serial port on a unix socket in its run dir, the serial console in its run dir's serial.log. The lab's
# network namespace has no route out: the VMs reach only the bridge (and each other).
set -euo pipefail

# ---------------------------------------------------------------- settings --
VMLAB_NETNS=${VMLAB_NETNS:-swarm-ceph-vm}
VMLAB_BRIDGE=${VMLAB_BRIDGE:-br0}            # inside the namespace
VMLAB_GATEWAY_CIDR=10.77.2.1/24              # the VM lab's subnet (the container lab owns 10.77.1.0/24)
VMLAB_MEMORY_MB=${VMLAB_MEMORY_MB:-1024}
VMLAB_SMP=${VMLAB_SMP:-2}
VMLAB_DISK_SIZE=${VMLAB_DISK_SIZE:-8G}       # the boot disk (cloud-init's growpart grows the root to it)
VMLAB_DATA_DISK_SIZE=${VMLAB_DATA_DISK_SIZE:-4G}  # the second, empty disk (sparse), as the Ceph disk would be
VMLAB_MAX_VMS=${VMLAB_MAX_VMS:-1}            # 2 host cores: one VM at a time unless told otherwise
VMLAB_NICE=${VMLAB_NICE:-10}

VM_SRC=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
REPO_ROOT=$(cd "$VM_SRC/../.." && pwd)
VMLAB_STATE=${VMLAB_STATE:-$REPO_ROOT/.vmlab}
VMLAB_RUN=$VMLAB_STATE/run
VMLAB_KEY=$VMLAB_STATE/id_ed25519
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
    mkdir -p "$VMLAB_STATE"
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
}

make_disks() { # make_disks NAME: the boot overlay and the data disk, unless they exist
    local dir base
    dir=$(run_dir "$1")
    if [[ ! -f $dir/disk.qcow2 ]]; then
        base=$("$VM_SRC/image.sh")
        qemu-img create -q -f qcow2 -b "$base" -F qcow2 "$dir/disk.qcow2" "$VMLAB_DISK_SIZE"
    fi
    [[ -f $dir/data.raw ]] || truncate -s "$VMLAB_DATA_DISK_SIZE" "$dir/data.raw"
}

make_seed() { # make_seed NAME IP MAC: the NoCloud seed ISO and the node's known_hosts line
    local dir uv
    dir=$(run_dir "$1")
    uv=$(uv_bin)
    (cd "$REPO_ROOT" && "$uv" run --frozen python "$VM_SRC/seed.py" "$1" "$2" "$3" "$VMLAB_KEY.pub" "$dir/seed")
    cloud-localds --network-config="$dir/seed/network-config" "$dir/seed.iso" "$dir/seed/user-data" \
        "$dir/seed/meta-data"
    printf '%s %s\n' "$2" "$(cd "$REPO_ROOT" && "$uv" run --frozen python "$VM_SRC/seed.py" host-key "$1")" \
        >"$dir/known_hosts"
}

make_tap() { # make_tap TAP
    if ! ip -n "$VMLAB_NETNS" link show "$1" >/dev/null 2>&1; then
        ip -n "$VMLAB_NETNS" tuntap add dev "$1" mode tap
    fi
    ip -n "$VMLAB_NETNS" link set "$1" master "$VMLAB_BRIDGE" up
}

cmd_boot() { # boot NAME IP
    (($# == 2)) || die "usage: vm.sh boot NAME IP"
    local name=$1 ip=$2 dir mac tap running
    valid_name "$name"
    mac=$(vm_mac "$ip")
    tap=$(vm_tap "$ip")
    dir=$(run_dir "$name")
    require_tools qemu-system-x86_64 qemu-img cloud-localds ssh-keygen ip
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
    make_disks "$name"
    make_seed "$name" "$ip" "$mac"
    make_tap "$tap"
    rm -f "$dir/qga.sock" "$dir/qmp.sock" "$dir/qemu.pid"
    : >"$dir/serial.log"
    in_ns nice -n "$VMLAB_NICE" qemu-system-x86_64 \
        -name "$name" -machine pc -accel tcg,tb-size=256 -cpu max -smp "$VMLAB_SMP" -m "$VMLAB_MEMORY_MB" \
        -nodefaults -display none -vga none \
        -drive "file=$dir/disk.qcow2,if=virtio,format=qcow2,discard=unmap" \
        -drive "file=$dir/data.raw,if=virtio,format=raw,discard=unmap" \
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
    log "$name booting at $ip (mac $mac, $tap; console: $dir/serial.log)"
}

cmd_wait() { # wait NAME [SECONDS]
    (($# >= 1)) || die "usage: vm.sh wait NAME [SECONDS]"
    local name=$1 limit=${2:-600} ip start=$SECONDS opts
    ip=$(vm_ip "$name")
    mapfile -t opts < <(ssh_opts "$name")
    until in_ns ssh "${opts[@]}" "$SSH_USER@$ip" true 2>/dev/null; do
        vm_pid "$name" >/dev/null || die "$name is not running (console: $(run_dir "$name")/serial.log)"
        ((SECONDS - start < limit)) || die "$name: no SSH after $limit s"
        sleep 2
    done
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
    if [[ -d $VMLAB_RUN ]]; then
        for dir in "$VMLAB_RUN"/*/; do
            if [[ -d $dir ]]; then stop_vm "$(basename "$dir")"; fi
        done
        rm -rf "$VMLAB_RUN"
    fi
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
        wait) cmd_wait "$@" ;;
        ssh) cmd_ssh "$@" ;;
        stop) cmd_stop "$@" ;;
        status) cmd_status ;;
        down) cmd_down ;;
        *) sed -n '2,/^set -euo/p' "${BASH_SOURCE[0]}" | sed '$d' >&2; exit 2 ;;
    esac
}

main "$@"
