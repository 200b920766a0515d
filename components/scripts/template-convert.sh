#!/usr/bin/env bash
# template-convert.sh ENDPOINT NODE VMID INSECURE TIMEOUT_S (API token on stdin): runs on the Pulumi runner. Waits
# until the sealed template VM has powered off, then converts it into a PVE template. Already a template: no-op.
set -euo pipefail
# shellcheck source=lib.sh
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

endpoint=${1:?usage: template-convert.sh ENDPOINT NODE VMID INSECURE TIMEOUT_S}
node=${2:?} vmid=${3:?} insecure=${4:?} timeout_s=${5:?}
IFS= read -r token || true # stdin: secrets never travel on a command line
[[ -n $token ]] || die "no API token on stdin"

# The token goes into a private header file, never onto a command line.
headers=$(mktemp)
trap 'rm -f "$headers"' EXIT
chmod 600 "$headers"
printf 'Authorization: PVEAPIToken=%s\n' "$token" >"$headers"
curl_opts=(-sS --fail-with-body --max-time 30 -H "@$headers")
[[ $insecure == true ]] && curl_opts+=(--insecure)
api="${endpoint%/}/api2/json/nodes/$node/qemu/$vmid"

# Each answer is read whole before it is searched (a grep stopping at its first match could leave curl dying of
# SIGPIPE); a failed request is an error, not a "no".
config=$(curl "${curl_opts[@]}" "$api/config") || die "could not read VM $vmid's config from $api/config: $config"
if grep -q '"template":1' <<<"$config"; then
  echo "template"
  exit 0
fi
is_stopped() {
  local status
  status=$(curl "${curl_opts[@]}" "$api/status/current") || return 1
  grep -q '"status":"stopped"' <<<"$status"
}
retry "$timeout_s" 5 is_stopped || die "VM $vmid did not power off within ${timeout_s}s after sealing"
curl "${curl_opts[@]}" -X POST "$api/template" >/dev/null
echo "template"
