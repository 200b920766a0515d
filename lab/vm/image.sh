#!/usr/bin/env bash
# lab/vm/image.sh: the VM lab's bootable Debian bookworm base image (qcow2), built from Debian packages once and
# cached outside the repo. See lab/vm/README.md.
#
#   lab/vm/image.sh          build the image unless cached; prints its path (stdout)
#   lab/vm/image.sh path     print the path the image has (or will have) for this recipe; builds nothing
#
# The cache key is a hash of this script's own content and its package list, so a changed recipe builds a new image
# (in a new directory) and an unchanged one is reused at once ("cached"). The build goes to a temporary file in the
# cache and is renamed into place, so an interrupted build never leaves a half image behind. Needs root (loop
# devices, mount, mmdebstrap into a mounted filesystem).
#
# What differs from production (the Proxmox template): production downloads Debian's genericcloud image and the
# template's first boot (cloudinit/render.py template_user_data) installs, from the network:
#   - docker-ce, docker-ce-cli, containerd.io, docker-compose-plugin from Docker's apt repository
#     (download.docker.com, unreachable here): this image has Debian's docker.io (20.10) instead, no compose plugin;
#   - qemu-guest-agent, ca-certificates, curl, and ceph-common (storage microceph/cephfs, kernel client): the same
#     Debian packages, preinstalled here;
#   - snapd and the MicroCeph snap (storage microceph; the Snap Store is unreachable here): not in this image;
#   - package_update/package_upgrade: this image is as of the mirror at build time, no upgrade at boot.
# Running the template's user-data for real (Docker's repository through a local mirror) is phase 2 of the VM lab.
# The image itself also differs from genericcloud: built by mmdebstrap (minbase) with extlinux and BIOS boot instead
# of the Debian cloud team's FAI build with GRUB; datasource_list is [NoCloud, None] (genericcloud probes many).
set -euo pipefail

SUITE=bookworm
# Debian packages of the image: a bootable cloud system and what the template's first boot would install.
PACKAGES=(
    systemd-sysv udev kmod dbus ifupdown isc-dhcp-client iproute2 netbase procps
    linux-image-cloud-amd64 cloud-init cloud-guest-utils openssh-server sudo e2fsprogs
    qemu-guest-agent ca-certificates curl docker.io ceph-common
)
DISK_SIZE=3G          # raw size of the base image; a VM's overlay may be larger (cloud-init's growpart grows it)
ROOT_LABEL=root

VM_CACHE=${SWARM_CEPH_CACHE:-$HOME/.cache/swarm-ceph}/vm

log() { printf 'vm-image: %s\n' "$*" >&2; }
die() { printf 'vm-image: ERROR: %s\n' "$*" >&2; exit 1; }

# The Debian mirror: the host's own apt source unless VMLAB_DEBIAN_MIRROR says otherwise.
host_debian_mirror() {
    local uri
    uri=$(awk '/^URIs:/ { print $2; exit }' /etc/apt/sources.list.d/*.sources 2>/dev/null || true)
    if [[ -z $uri ]]; then
        uri=$(awk '$1 == "deb" { for (i = 2; i <= NF; i++) if ($i ~ /^https?:\/\//) { print $i; exit } }' \
            /etc/apt/sources.list 2>/dev/null || true)
    fi
    printf '%s' "${uri:-http://deb.debian.org/debian}"
}

recipe_key() {
    { cat "${BASH_SOURCE[0]}"; printf '%s\n' "${PACKAGES[@]}"; } | sha256sum | cut -c1-16
}

require_tools() {
    local tool missing=()
    for tool in mmdebstrap sfdisk losetup mkfs.ext4 extlinux qemu-img; do
        command -v "$tool" >/dev/null 2>&1 || missing+=("$tool")
    done
    [[ -r /usr/lib/syslinux/mbr/mbr.bin ]] || missing+=("/usr/lib/syslinux/mbr/mbr.bin (syslinux-common)")
    ((${#missing[@]} == 0)) || die "missing: ${missing[*]} (scripts/setup.sh installs them)"
    [[ $(id -u) == 0 ]] || die "needs root (loop device, mount, mmdebstrap)"
}

# Build state, for the cleanup trap.
MNT=""
LOOP=""
WORK=""
cleanup() {
    if [[ -n $MNT ]] && mountpoint -q "$MNT"; then umount -R "$MNT" || umount -lR "$MNT" || true; fi
    if [[ -n $LOOP ]]; then losetup -d "$LOOP" || true; fi
    if [[ -n $WORK ]]; then rm -rf "$WORK"; fi
}

configure_root() { # configure_root ROOTDIR: what turns a bootstrapped tree into a cloud image
    local root=$1 kernel initrd
    printf 'LABEL=%s / ext4 errors=remount-ro 0 1\n' "$ROOT_LABEL" >"$root/etc/fstab"
    printf 'localhost\n' >"$root/etc/hostname"
    printf '127.0.0.1 localhost\n::1 localhost ip6-localhost ip6-loopback\n' >"$root/etc/hosts"
    printf 'auto lo\niface lo inet loopback\n\nsource /etc/network/interfaces.d/*\n' >"$root/etc/network/interfaces"
    # Every clone gets its own identity: no host keys (cloud-init writes the pinned one), an empty machine-id.
    rm -f "$root"/etc/ssh/ssh_host_*
    : >"$root/etc/machine-id"
    rm -f "$root/var/lib/dbus/machine-id"
    printf 'datasource_list: [NoCloud, None]\n' >"$root/etc/cloud/cloud.cfg.d/90_vmlab_datasource.cfg"
    # A system locale, as Debian's cloud images have: without LANG here, bookworm's cloud-init (22.4) falls back to
    # en_US.UTF-8, which is not generated, and its locale module fails (cloud-init status: error).
    printf 'LANG=C.UTF-8\n' >"$root/etc/default/locale"
    chroot "$root" apt-get clean
    rm -rf "$root"/var/lib/apt/lists/* "$root"/var/log/*.log "$root"/tmp/*
    kernel=$(cd "$root/boot" && ls vmlinuz-*)
    initrd=$(cd "$root/boot" && ls initrd.img-*)
    [[ -n $kernel && -n $initrd ]] || die "no kernel/initrd in /boot"
    mkdir -p "$root/boot/extlinux"
    cat >"$root/boot/extlinux/extlinux.conf" <<EOF
DEFAULT debian
PROMPT 0
TIMEOUT 0
LABEL debian
    LINUX /boot/$kernel
    INITRD /boot/$initrd
    APPEND root=LABEL=$ROOT_LABEL ro console=ttyS0,115200
EOF
    extlinux --install "$root/boot/extlinux" 2>/dev/null
}

build() { # build OUT.qcow2
    local out=$1 mirror raw include start=$SECONDS
    mirror=${VMLAB_DEBIAN_MIRROR:-$(host_debian_mirror)}
    WORK=$(mktemp -d "$(dirname "$out")/build.XXXXXX")
    raw=$WORK/disk.raw
    MNT=$WORK/root
    mkdir -p "$MNT"
    truncate -s "$DISK_SIZE" "$raw"
    printf 'start=2048, type=83, bootable\n' | sfdisk -q "$raw"
    # Partition device nodes do not appear here: the loop device starts at the partition (sector 2048 = 1 MiB).
    LOOP=$(losetup -f --show -o 1MiB "$raw")
    # ^metadata_csum_seed,^orphan_file: features the guest's older e2fsck would refuse (at boot, at growpart).
    mkfs.ext4 -q -L "$ROOT_LABEL" -O ^metadata_csum_seed,^orphan_file "$LOOP"
    mount "$LOOP" "$MNT"
    log "mmdebstrap $SUITE from $mirror (${#PACKAGES[@]} packages)"
    include=$(IFS=,; printf '%s' "${PACKAGES[*]}")
    mmdebstrap --quiet --variant=minbase --include="$include" "$SUITE" "$MNT" "$mirror" >&2
    configure_root "$MNT"
    umount "$MNT"
    losetup -d "$LOOP"
    LOOP=""
    dd if=/usr/lib/syslinux/mbr/mbr.bin of="$raw" bs=440 count=1 conv=notrunc status=none
    qemu-img convert -f raw -O qcow2 "$raw" "$WORK/base.qcow2"
    mv -f "$WORK/base.qcow2" "$out"
    log "built $out in $((SECONDS - start)) s ($(du -h "$out" | cut -f1))"
}

main() {
    local key out
    key=$(recipe_key)
    out=$VM_CACHE/$key/base.qcow2
    case ${1:-build} in
        path) printf '%s\n' "$out"; return 0 ;;
        build) ;;
        *) die "usage: lab/vm/image.sh [build|path]" ;;
    esac
    if [[ -f $out ]]; then
        log "cached $out"
        printf '%s\n' "$out"
        return 0
    fi
    require_tools
    mkdir -p "$(dirname "$out")"
    trap cleanup EXIT
    build "$out"
    printf '%s\n' "$out"
}

main "$@"
