#!/usr/bin/env bash
# lab/vm/image.sh: the VM lab's bootable Debian bookworm base image (qcow2), the stand-in for Debian's genericcloud
# image, and the local apt repository the template's first boot installs from; both built from Debian packages once
# and cached outside the repo. See lab/vm/README.md.
#
#   lab/vm/image.sh             build image and repository unless cached; prints the image's path (stdout)
#   lab/vm/image.sh path        print the path the image has (or will have) for this recipe; builds nothing
#   lab/vm/image.sh repo-path   print the path the repository has (or will have); builds nothing
#   lab/vm/image.sh prune       remove the cached images of other recipes (a build does it once it is done)
#
# The cache key is a hash of this script's own content, its package list and the template's package list (from
# cloudinit/render.py, through lab/vm/seed.py), so a changed recipe builds anew (in a new directory) and an unchanged
# one is reused at once ("cached"). The build goes to a temporary directory in the cache and is renamed into place,
# so an interrupted build never leaves a half image or repository behind. Needs root (loop devices, mount,
# mmdebstrap into a mounted filesystem).
#
# The image has what a cloud image has (cloud-init, openssh-server, sudo, the cloud kernel, ca-certificates) and
# nothing the template's first boot installs: qemu-guest-agent, curl, ceph-common and docker.io come from the
# repository, installed by cloud-init (cloudinit/render.py template_user_data with docker="debian").
# The repository: one mmdebstrap run installs the image's packages, then (a customize hook) apt downloads the
# template's packages with everything they need that the image lacks, Recommends included as on the VM (apt's
# default there); every .deb then in apt's cache (those, and most of the image's own) goes to REPO/pool/main, indexed by
# dpkg-scanpackages into REPO/dists/bookworm/main/binary-amd64/Packages with a Release file (unsigned: the VM's
# sources.list line says [trusted=yes]). lab/vm/vm.sh serves it over HTTP on the lab's bridge.
#
# What differs from genericcloud: built by mmdebstrap (minbase) with extlinux and BIOS boot instead of the Debian
# cloud team's FAI build with GRUB; datasource_list is [NoCloud, None] (genericcloud probes many); apt's sources
# are a one-line /etc/apt/sources.list (genericcloud: deb822 debian.sources reading /etc/apt/mirrors/*.list, which
# its cloud-init regenerates, generate_mirrorlists: true); fewer packages (no GRUB, no unattended-upgrades etc.).
set -euo pipefail

SUITE=bookworm
# Debian packages of the image: a bootable cloud system, as a cloud image has it (nothing the template installs).
PACKAGES=(
    systemd-sysv udev kmod dbus ifupdown isc-dhcp-client iproute2 netbase procps
    linux-image-cloud-amd64 cloud-init cloud-guest-utils openssh-server sudo e2fsprogs ca-certificates
)
DISK_SIZE=3G          # raw size of the base image; a VM's overlay may be larger (cloud-init's growpart grows it)
ROOT_LABEL=root

VM_CACHE=${SWARM_CEPH_CACHE:-$HOME/.cache/swarm-ceph}/vm
VM_SRC=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
REPO_ROOT=$(cd "$VM_SRC/../.." && pwd)

log() { printf 'vm-image: %s\n' "$*" >&2; }
die() { printf 'vm-image: ERROR: %s\n' "$*" >&2; exit 1; }

# The Debian mirror: the host's own apt source unless VMLAB_DEBIAN_MIRROR says otherwise.
# shellcheck source=../debian-mirror.sh
. "$VM_SRC/../debian-mirror.sh"

uv_bin() {
    if command -v uv >/dev/null 2>&1; then command -v uv; else printf '%s\n' "$HOME/.local/bin/uv"; fi
}

# The packages the lab's template installs: cloudinit/render.py's list for the lab's inputs.
template_packages() {
    local uv list
    uv=$(uv_bin)
    list=$(cd "$REPO_ROOT" && "$uv" run --frozen python "$VM_SRC/seed.py" template-packages) ||
        die "could not get the template's packages (lab/vm/seed.py template-packages)"
    [[ -n $list ]] || die "the template installs no packages?"
    printf '%s\n' "$list"
}

recipe_key() { # recipe_key TEMPLATE_PACKAGES
    { cat "${BASH_SOURCE[0]}"; printf '%s\n' "${PACKAGES[@]}" "$1"; } | sha256sum | cut -c1-16
}

require_tools() {
    local tool missing=()
    for tool in mmdebstrap sfdisk losetup mkfs.ext4 extlinux qemu-img dpkg-scanpackages; do
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

# make_repo DEBS_DIR REPO_DIR: an apt repository (bookworm, main, amd64) of the .debs in DEBS_DIR.
make_repo() {
    local debs=$1 repo=$2 index=dists/$SUITE/main/binary-amd64 file
    mkdir -p "$repo/pool/main" "$repo/$index"
    find "$debs" -maxdepth 1 -name '*.deb' -exec mv -t "$repo/pool/main" {} +
    (cd "$repo" && dpkg-scanpackages --multiversion pool/main /dev/null >"$index/Packages" 2>/dev/null)
    gzip -9 -k -n "$repo/$index/Packages"
    {
        printf 'Origin: swarm-ceph-vmlab\nLabel: swarm-ceph-vmlab\nSuite: %s\nCodename: %s\n' "$SUITE" "$SUITE"
        printf 'Date: %s\nArchitectures: amd64\nComponents: main\n' "$(LC_ALL=C date -u -R)"
        printf 'Description: the VM lab template packages (built by lab/vm/image.sh)\nSHA256:\n'
        for file in main/binary-amd64/Packages main/binary-amd64/Packages.gz; do
            printf ' %s %s %s\n' "$(sha256sum <"$repo/dists/$SUITE/$file" | cut -d' ' -f1)" \
                "$(stat -c %s "$repo/dists/$SUITE/$file")" "$file"
        done
    } >"$repo/dists/$SUITE/Release"
    log "repository: $(find "$repo/pool/main" -name '*.deb' | wc -l) packages ($(du -sh "$repo" | cut -f1))"
}

build() { # build OUT_DIR TEMPLATE_PACKAGES: OUT_DIR/base.qcow2 and OUT_DIR/repo
    local out=$1 template=$2 mirror raw include start=$SECONDS fetch
    mirror=${VMLAB_DEBIAN_MIRROR:-$(host_debian_mirror)}
    WORK=$(mktemp -d "$out/build.XXXXXX")
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
    log "mmdebstrap $SUITE from $mirror (${#PACKAGES[@]} packages; the repository: $template)"
    include=$(IFS=,; printf '%s' "${PACKAGES[*]}")
    mkdir -p "$WORK/debs"
    # After the install, while apt's lists and downloaded .debs are still there: download what the template's
    # first boot will install (with Recommends, as apt on the VM does), then copy every .deb out.
    fetch="APT_CONFIG=\$MMDEBSTRAP_APT_CONFIG apt-get install --quiet --quiet --download-only --yes"
    fetch+=" -o APT::Install-Recommends=true $template"
    mmdebstrap --quiet --variant=minbase --include="$include" --skip=download/empty \
        --customize-hook="$fetch" --customize-hook="sync-out /var/cache/apt/archives $WORK/debs" \
        "$SUITE" "$MNT" "$mirror" >&2
    configure_root "$MNT"
    umount "$MNT"
    losetup -d "$LOOP"
    LOOP=""
    dd if=/usr/lib/syslinux/mbr/mbr.bin of="$raw" bs=440 count=1 conv=notrunc status=none
    qemu-img convert -f raw -O qcow2 "$raw" "$WORK/base.qcow2"
    make_repo "$WORK/debs" "$WORK/repo"
    rm -rf "$out/repo"
    mv "$WORK/repo" "$out/repo"
    mv -f "$WORK/base.qcow2" "$out/base.qcow2"  # last: its presence means "built"
    log "built $out/base.qcow2 in $((SECONDS - start)) s ($(du -h "$out/base.qcow2" | cut -f1))"
}

# prune KEEP: the cache directories of other recipes go, with the templates built on their images (1-2 GB each):
# one base image per machine. Called once a new one is built.
prune() {
    local keep=$1 other
    for other in "$VM_CACHE"/*/; do
        other=${other%/}
        if [[ $other != "$keep" && ${other##*/} =~ ^[0-9a-f]{16}$ ]]; then
            log "pruning $other (another recipe's image)"
            rm -rf "$other"
        fi
    done
}

main() {
    local template dir
    template=$(template_packages)
    dir=$VM_CACHE/$(recipe_key "$template")
    case ${1:-build} in
        path) printf '%s\n' "$dir/base.qcow2"; return 0 ;;
        repo-path) printf '%s\n' "$dir/repo"; return 0 ;;
        prune) prune "$dir"; return 0 ;;
        build) ;;
        *) die "usage: lab/vm/image.sh [build|path|repo-path|prune]" ;;
    esac
    if [[ -f $dir/base.qcow2 && -f $dir/repo/dists/$SUITE/Release ]]; then
        log "cached $dir/base.qcow2 and $dir/repo"
        printf '%s\n' "$dir/base.qcow2"
        return 0
    fi
    require_tools
    mkdir -p "$dir"
    trap cleanup EXIT
    build "$dir" "$template"
    prune "$dir"
    printf '%s\n' "$dir/base.qcow2"
}

main "$@"
