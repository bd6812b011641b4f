#!/usr/bin/env bash
# The frontend's checks: install from the lock file, type-check, lint, unit
# tests (jest in jsdom) and the production build.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")"
npm ci --no-audit --no-fund
npx tsc --noEmit
npx eslint --max-warnings 0 src
npx jest --ci
npx webpack --mode production
