#!/usr/bin/env bash
# Installs promtool from Debian's prometheus package when it is missing.
#
# The package's maintainer scripts would start a Prometheus server (and
# pull in node-exporter as a recommended package). CI and developers need
# only the promtool binary, so the install skips recommended packages, and
# a temporary /usr/sbin/policy-rc.d that exits 101 forbids service starts
# unless the machine already has such a policy. Any Prometheus server that
# still appears during the install is stopped by its process id.
set -euo pipefail

if command -v promtool >/dev/null 2>&1; then
	exit 0
fi

as_root=()
if [[ $EUID -ne 0 ]]; then
	if ! command -v sudo >/dev/null 2>&1; then
		echo "install-promtool: installing the prometheus package needs root; run as root or install sudo" >&2
		exit 1
	fi
	as_root=(sudo -n)
fi

policy=/usr/sbin/policy-rc.d
created_policy=false
remove_policy() {
	if [[ $created_policy == true ]]; then
		"${as_root[@]}" rm -f "$policy"
	fi
}
trap remove_policy EXIT

if [[ ! -e $policy ]]; then
	# Exit status 101 means "action forbidden" to invoke-rc.d and
	# deb-systemd-invoke, so no service starts during the install.
	printf '#!/bin/sh\nexit 101\n' | "${as_root[@]}" tee "$policy" >/dev/null
	created_policy=true
	"${as_root[@]}" chmod 0755 "$policy"
fi

before=$(pgrep -x prometheus || true)

log=$(mktemp)
echo "install-promtool: apt-get install --no-install-recommends prometheus"
if ! {
	"${as_root[@]}" apt-get update -qq &&
		"${as_root[@]}" env DEBIAN_FRONTEND=noninteractive \
			apt-get install -y -qq --no-install-recommends prometheus
} >"$log" 2>&1; then
	cat "$log" >&2
	rm -f "$log"
	echo "install-promtool: apt-get failed; the output is above" >&2
	exit 1
fi
rm -f "$log"

# Stop only servers that were not running before the install.
for pid in $(pgrep -x prometheus || true); do
	if ! grep -qx "$pid" <<<"$before"; then
		echo "install-promtool: stopping the Prometheus server (pid $pid) that the install started"
		"${as_root[@]}" kill "$pid"
	fi
done

promtool --version 2>&1 | sed -n 1p
