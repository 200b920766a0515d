#!/usr/bin/env bash
# lab/debian-mirror.sh (sourced by lab/lab.sh and lab/vm/image.sh): host_debian_mirror prints the Debian mirror of
# this host's own apt sources (deb822 or one-line), or deb.debian.org when it has none.
host_debian_mirror() {
    local uri
    uri=$(awk '/^URIs:/ { print $2; exit }' /etc/apt/sources.list.d/*.sources 2>/dev/null || true)
    if [[ -z $uri ]]; then
        uri=$(awk '$1 == "deb" { for (i = 2; i <= NF; i++) if ($i ~ /^https?:\/\//) { print $i; exit } }' \
            /etc/apt/sources.list 2>/dev/null || true)
    fi
    printf '%s' "${uri:-http://deb.debian.org/debian}"
}
