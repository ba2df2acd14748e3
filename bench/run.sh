#!/usr/bin/env bash
# Benchmarks Gatehouse's /authenticate against a bare Bun.serve with wrk.
# Usage: npm run bench   (or: bash bench/run.sh [scenario-name-filter])
# Environment: BENCH_DURATION (10s), BENCH_THREADS (2), BENCH_CONNECTIONS (32).
set -euo pipefail
cd "$(dirname "$0")/.."
if ! command -v wrk >/dev/null; then
  echo "bench: wrk is not installed (run test/setup.sh as root, or apt-get install wrk)" >&2
  exit 1
fi
BUN=node_modules/.bin/bun
[ -x "$BUN" ] || BUN=bun
exec "$BUN" run bench/run.ts "$@"
