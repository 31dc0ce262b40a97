#!/usr/bin/env bash
# Installs the Debian packages listed in test/debian-packages.txt that are missing.
set -euo pipefail
cd "$(dirname "$0")"
mapfile -t wanted < <(grep -vE '^\s*(#|$)' debian-packages.txt | tr -d ' ')
missing=()
for p in "${wanted[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || missing+=("$p")
done
[ ${#missing[@]} -eq 0 ] && exit 0
if [ "$(id -u)" -ne 0 ]; then
  echo "missing Debian packages (install them as root): ${missing[*]}" >&2
  exit 1
fi
echo "installing Debian packages: ${missing[*]}"
export DEBIAN_FRONTEND=noninteractive
# Packages that ship daemons must not start them here (no init system; ports of our own).
printf '#!/bin/sh\nexit 101\n' > /usr/sbin/policy-rc.d.cairn
[ -e /usr/sbin/policy-rc.d ] || { cp /usr/sbin/policy-rc.d.cairn /usr/sbin/policy-rc.d; chmod +x /usr/sbin/policy-rc.d; trap 'rm -f /usr/sbin/policy-rc.d' EXIT; }
rm -f /usr/sbin/policy-rc.d.cairn
apt-get update -qq
apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
