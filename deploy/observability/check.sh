#!/bin/sh
# Validates the observability files with promtool from Debian's prometheus package:
# the scrape configuration (which also loads alerts.yaml), the alert rules, and the
# rules' unit tests in alerts_test.yaml. CI runs this script; it exits non-zero on the
# first failure.
set -eu

cd "$(dirname "$0")"

if ! command -v promtool >/dev/null 2>&1; then
	echo "check.sh: promtool not found; install it with: apt-get install -y --no-install-recommends prometheus" >&2
	exit 1
fi

promtool --version 2>&1 | head -n 1
promtool check config prometheus-scrape.yaml
promtool check rules alerts.yaml
promtool test rules alerts_test.yaml
