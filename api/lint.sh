#!/usr/bin/env bash
# Lint the API contract api/openapi.yaml with Redocly CLI, at the exact
# version pinned in api/package-lock.json. Run from anywhere in the
# repository: bash api/lint.sh. Exits non-zero on any lint error.
set -euo pipefail

cd "$(dirname "$0")/.."

# Redocly CLI otherwise sends usage telemetry and checks for a newer
# version over the network. Linting needs neither, and CI output stays
# quieter without the update notice.
export REDOCLY_TELEMETRY=off
export REDOCLY_SUPPRESS_UPDATE_NOTICE=true

npm ci --prefix api --no-audit --no-fund --loglevel=error >/dev/null
npx --prefix api redocly lint --config api/redocly.yaml api/openapi.yaml
