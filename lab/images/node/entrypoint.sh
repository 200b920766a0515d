#!/bin/bash
# Entrypoint of a lab Swarm node (runs as PID 1 of the node container).
# The container is not --privileged (that fails on this kernel): it gets an
# explicit capability list, so /sys and the cgroup v1 hierarchies arrive
# read-only and are remounted read-write here before dockerd starts.
set -euo pipefail

log() { printf 'lab-node: %s\n' "$*" >&2; }

# mount_is_rw DIR: the mount at DIR is writable (per-mount and superblock flags).
mount_is_rw() {
    local _id _parent _dev _root point opts rest fstype source super
    while read -r _id _parent _dev _root point opts rest; do
        [ "$point" = "$1" ] || continue
        read -r fstype source super <<<"${rest#* - }"
        : "$fstype" "$source"
        case ",$opts," in *,ro,*) continue ;; esac
        case ",$super," in *,ro,*) continue ;; esac
        return 0
    done </proc/self/mountinfo
    return 1
}

# /sys arrives as a read-only sysfs mount (a plain remount fixes it), the cgroup
# hierarchies as read-only *bind* mounts (a plain remount fails with "mount point
# is busy"; a bind remount flips the per-mount flag).
remount_rw() {
    mount -o remount,rw "$1" 2>/dev/null || true
    mount_is_rw "$1" || mount -o remount,bind,rw "$1" 2>/dev/null || true
    mount_is_rw "$1" || log "warning: could not remount $1 read-write"
}

remount_rw /sys
if mountpoint -q /sys/fs/cgroup; then
    remount_rw /sys/fs/cgroup
    for hierarchy in /sys/fs/cgroup/*; do
        if [ -d "$hierarchy" ] && mountpoint -q "$hierarchy"; then
            remount_rw "$hierarchy"
        fi
    done
fi

# One SSH host key, ed25519, as the Proxmox VMs get: lab.sh mounts the node's derived key (the lab stack pins
# it); without one, a key of the container's own (the image ships none).
if [ ! -f /etc/ssh/ssh_host_ed25519_key ]; then
  ssh-keygen -q -t ed25519 -N '' -f /etc/ssh/ssh_host_ed25519_key
fi
mkdir -p /run/sshd

# A restarted container keeps /run (on a real machine it is a fresh tmpfs):
# drop the previous engine's runtime state. A stale containerd.pid whose pid
# now belongs to another process makes dockerd wait for a containerd that
# never answers ("timeout waiting for containerd to start").
rm -rf /run/docker /run/containerd /run/docker.pid /run/docker.sock

# Swarm tasks normally try a registry pull before using a local image; the lab
# has no registry (images are loaded with docker save | docker load), so by
# default prefer the local image and make no registry look-ups at all.
export DOCKER_SERVICE_PREFER_OFFLINE_IMAGE=${DOCKER_SERVICE_PREFER_OFFLINE_IMAGE:-1}
# What a VM's init does at boot, in its order: this node's Ceph daemons (if lab/lab.sh made any), the network
# filesystems of /etc/fstab (the CephFS mount the program configured), then the engine, so that containers bind
# the mounted filesystem and not the empty directory under it. In the background: sshd answers meanwhile.
boot() {
    lab-ceph start || log "warning: could not start this node's Ceph daemons"
    local deadline=$((SECONDS + 60))
    while awk '$3 == "fuse.ceph" { found = 1 } END { exit !found }' /etc/fstab &&
          ! mount -a -t fuse.ceph >/var/log/lab-mount.log 2>&1; do
        if ((SECONDS >= deadline)); then
            log "warning: the fuse.ceph entries of /etc/fstab did not mount (see /var/log/lab-mount.log)"
            break
        fi
        sleep 2
    done
    # --dns: containers in the lab never resolve names through the outside world (no traffic leaves the lab).
    exec dockerd --dns 127.0.0.1 >/var/log/dockerd.log 2>&1 </dev/null
}
boot &

exec /usr/sbin/sshd -D -e
