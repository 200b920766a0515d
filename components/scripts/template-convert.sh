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

# PVE answers {"data": {...}}; a field is read by parsing that JSON (its spacing and key order are not PVE's promise),
# and a failed request is an error, not a "no".
data_field() { # JSON KEY: data.KEY as text ("" when absent); fails on an answer that is not JSON
  python3 -c 'import json, sys; print((json.load(sys.stdin).get("data") or {}).get(sys.argv[1], ""))' "$2" <<<"$1"
}
command -v python3 >/dev/null || die "python3 is needed on the Pulumi runner to read PVE's JSON answers"
config=$(curl "${curl_opts[@]}" "$api/config") || die "could not read VM $vmid's config from $api/config: $config"
template=$(data_field "$config" template) || die "VM $vmid's config from $api/config is not JSON: $config"
if [[ $template == 1 ]]; then
  echo "template"
  exit 0
fi
is_stopped() {
  local status
  status=$(curl "${curl_opts[@]}" "$api/status/current") || return 1
  [[ $(data_field "$status" status) == stopped ]]
}
retry "$timeout_s" 5 is_stopped || die "VM $vmid did not power off within ${timeout_s}s after sealing"
curl "${curl_opts[@]}" -X POST "$api/template" >/dev/null
echo "template"
