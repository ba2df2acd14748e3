#!/usr/bin/env bash
# `npm test`: the Debian packages the suites need (test/setup.sh), every suite
# on the default store (SQLite), then the store suites again with their store
# on PostgreSQL (GATEHOUSE_TEST_STORE=postgres: test/helpers/stored.ts). Both
# runs always run, each ending with bun's summary (.ci/run adds them up); the
# exit status is non-zero when either failed. Arguments (`npm test -- FILE…`)
# run those files on SQLite only, as `bun test` would.
set -u
cd "$(dirname "$0")/.."
export PATH="$PWD/node_modules/.bin:$PATH"

# The suites about what is stored: they start Gatehouse through startApp or
# spawnGatehouse and read what it keeps through test/helpers/stored.ts. What is
# genuinely about SQLite in them (the file, its modes, WAL, statements counted)
# is skipped on PostgreSQL, saying why. Left out: the suites about SQLite files,
# processes and crashes (store, crash, tokens-crash, faults-*, workers, purge's
# CLI), the CLI suites (their PostgreSQL cases are their own), the pg-* suites
# (PostgreSQL already), and those that keep no state (config, providers, …).
STORE_SUITES=(
  test/tokens.test.ts
  test/sessions.test.ts
  test/sessions-keys.test.ts
  test/sessions-env.test.ts
  test/keys.test.ts
  test/regulation.test.ts
  test/review3-regulation.test.ts
  test/regulation-admin.test.ts
  test/token-services.test.ts
  test/trusted-header.test.ts
  test/portal.test.ts
  test/portal-admin.test.ts
  test/security.test.ts
  test/edge.test.ts
  test/metrics.test.ts
  test/purge.test.ts
  test/review3-portal.test.ts
  test/review3-scopes.test.ts
  test/sso.test.ts
  test/device-flow.test.ts
  test/browser-sso.test.ts
  test/token-lifecycle.test.ts
  test/access.test.ts
  test/openapi-contract.test.ts
)

bash test/setup.sh

if [ $# -gt 0 ]; then
  exec bun test --timeout 60000 "$@"
fi

bun test --timeout 60000
sqlite_status=$?

# Debian's postgresql: initdb under /usr/lib/postgresql/<major>/bin, and (as root) the postgres user.
if compgen -G '/usr/lib/postgresql/*/bin/initdb' >/dev/null && { [ "$(id -u)" -ne 0 ] || id -u postgres >/dev/null 2>&1; }; then
  echo
  echo "== The store suites again, on PostgreSQL (GATEHOUSE_TEST_STORE=postgres) =="
  GATEHOUSE_TEST_STORE=postgres bun test --timeout 60000 "${STORE_SUITES[@]}"
  postgres_status=$?
else
  {
    echo "################################################################"
    echo "## WARNING: PostgreSQL (Debian package postgresql) is missing:"
    echo "## the store suites are NOT run on PostgreSQL (SKIPPED)."
    echo "################################################################"
  } >&2
  postgres_status=0
fi

[ "$sqlite_status" -eq 0 ] && [ "$postgres_status" -eq 0 ]
