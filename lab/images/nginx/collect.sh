#!/usr/bin/env bash
# collect.sh OUT: what the lab's nginx needs at run time, copied from this build stage into OUT, which the image's
# final stage copies onto an empty root. nginx, its configuration and directories, the user it runs as, and the few
# commands the stack's health check and the tests run in its containers (sh, test, timeout, cat, stat, ls), each with
# the shared libraries `ldd` names. Nothing else: the VM lab loads the image into every VM over SSH under software
# emulation, where every megabyte costs seconds.
set -euo pipefail

out=${1:?usage: collect.sh OUT}
programs=(/usr/sbin/nginx /bin/sh /usr/bin/test /usr/bin/timeout /usr/bin/cat /usr/bin/stat /usr/bin/ls)
trees=(/etc/nginx /usr/share/nginx /var/lib/nginx /var/log/nginx /etc/passwd /etc/group /etc/nsswitch.conf)

# Debian's merged /usr: /bin, /sbin, /lib and /lib64 are links into /usr, so copies through them land there too.
mkdir -p "$out/usr/bin" "$out/usr/sbin" "$out/usr/lib" "$out/usr/lib64"
for dir in bin sbin lib lib64; do ln -sfn "usr/$dir" "$out/$dir"; done

copy_resolved() { # copy_resolved PATH: the file PATH names (links followed), at PATH under OUT
    mkdir -p "$out$(dirname "$1")"
    cp -L "$1" "$out$1"
}

libraries() { # libraries PROGRAM: the absolute paths of the shared libraries PROGRAM loads (and its loader)
    local listing
    listing=$(ldd "$1")
    awk '$2 == "=>" && $3 ~ /^\// { print $3 } $1 ~ /^\// { print $1 }' <<<"$listing"
}

for program in "${programs[@]}"; do
    copy_resolved "$program"
    while IFS= read -r lib; do copy_resolved "$lib"; done < <(libraries "$program")
done
for tree in "${trees[@]}"; do
    mkdir -p "$out$(dirname "$tree")"
    cp -a "$tree" "$out$tree"
done
mkdir -p "$out/run" "$out/tmp" "$out/var/cache/nginx"
chmod 1777 "$out/tmp"
