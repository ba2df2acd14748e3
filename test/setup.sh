#!/usr/bin/env bash
# Makes sure the Debian packages used by the end-to-end suites and the benchmarks
# are present. Run by `npm test` before `bun test`; idempotent and fast (< 1 s)
# when everything is installed. Never leaves nginx or slapd running as a system
# service: the tests start private instances on high ports.
set -u

# "package|check command|suites that need it"
REQUIREMENTS=(
  "nginx|nginx_ok|e2e-nginx suite, bench"
  "wrk|command -v wrk|bench"
  "openssl|command -v openssl|e2e-nginx, tls and browser-sso-e2e suites (self-signed certificates, a private CA)"
  "slapd|test -x /usr/sbin/slapd|LDAP provider/augmenter suites"
  "ldap-utils|command -v ldapsearch|LDAP provider/augmenter suites"
  "chromium|test -x /usr/lib/chromium/chromium|portal browser suites"
  "caddy|command -v caddy|browser-sso-e2e suite (single sign-on behind Caddy's forward_auth)"
  "prometheus|command -v promtool|metrics suite (promtool check metrics; a parser check runs without it)"
  "postgresql|postgresql_ok|PostgreSQL driver suite (private server on loopback)"
)

# Debian 12's `nginx` package is the binary itself (nginx-light/-core only add
# modules); it is built with the auth_request module, which we check anyway.
nginx_ok() {
  local bin
  bin=$(command -v nginx || echo /usr/sbin/nginx)
  [ -x "$bin" ] && "$bin" -V 2>&1 | grep -q -- '--with-http_auth_request_module'
}

# Debian's `postgresql` depends on postgresql-<major> (15 on Debian 12), whose
# initdb/pg_ctl live under /usr/lib/postgresql/<major>/bin, not on PATH. A glob
# test, so no apt/dpkg query runs when it is already there.
postgresql_ok() {
  compgen -G '/usr/lib/postgresql/*/bin/initdb' >/dev/null && id -u postgres >/dev/null
}

missing_packages() {
  local entry pkg check
  for entry in "${REQUIREMENTS[@]}"; do
    IFS='|' read -r pkg check _ <<<"$entry"
    eval "$check" >/dev/null 2>&1 || echo "$pkg"
  done
}

suites_for() {
  local entry pkg suites want
  for want in "$@"; do
    for entry in "${REQUIREMENTS[@]}"; do
      IFS='|' read -r pkg _ suites <<<"$entry"
      [ "$pkg" = "$want" ] && echo "  - $pkg: $suites"
    done
  done
}

# Stop a system nginx/slapd that a package's postinst may have started anyway.
stop_services() {
  local svc pidfile
  for svc in nginx slapd prometheus; do
    for pidfile in /run/$svc.pid /run/$svc/$svc.pid /var/run/$svc.pid; do
      [ -s "$pidfile" ] || continue
      if kill -0 "$(cat "$pidfile")" 2>/dev/null; then
        service "$svc" stop >/dev/null 2>&1 || kill "$(cat "$pidfile")" 2>/dev/null || true
        echo "setup: stopped the system $svc service (tests run private instances)"
      fi
    done
  done
}

apt_install() {
  # A temporary policy-rc.d (exit 101) stops postinst scripts from starting the
  # services at all; only created (and removed) if none exists already.
  local policy=/usr/sbin/policy-rc.d created=0 rc
  if [ ! -e "$policy" ]; then
    printf '#!/bin/sh\nexit 101\n' >"$policy" && chmod +x "$policy" && created=1
  fi
  export DEBIAN_FRONTEND=noninteractive
  local cmd=(apt-get install -y -q --no-install-recommends "$@")
  "${cmd[@]}" >/tmp/gatehouse-setup-apt.log 2>&1
  rc=$?
  if [ $rc -ne 0 ]; then
    apt-get update -q >>/tmp/gatehouse-setup-apt.log 2>&1
    "${cmd[@]}" >>/tmp/gatehouse-setup-apt.log 2>&1
    rc=$?
  fi
  [ $created -eq 1 ] && rm -f "$policy"
  return $rc
}

mapfile -t MISSING < <(missing_packages)
if [ ${#MISSING[@]} -eq 0 ]; then
  stop_services
  exit 0
fi

if [ "$(id -u)" -ne 0 ]; then
  {
    echo "################################################################"
    echo "## WARNING: missing Debian packages: ${MISSING[*]}"
    echo "## Not root, so not installing them. These suites will be SKIPPED:"
    suites_for "${MISSING[@]}"
    echo "## Install with: sudo apt-get install -y --no-install-recommends ${MISSING[*]}"
    echo "################################################################"
  } >&2
  exit 0
fi

echo "setup: installing ${MISSING[*]} (log: /tmp/gatehouse-setup-apt.log)"
if ! apt_install "${MISSING[@]}"; then
  echo "setup: WARNING: apt-get install failed; see /tmp/gatehouse-setup-apt.log" >&2
fi
stop_services

mapfile -t STILL < <(missing_packages)
if [ ${#STILL[@]} -gt 0 ]; then
  {
    echo "################################################################"
    echo "## WARNING: still missing: ${STILL[*]}. These suites will be SKIPPED:"
    suites_for "${STILL[@]}"
    echo "################################################################"
  } >&2
fi
exit 0
