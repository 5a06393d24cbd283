#!/usr/bin/env bash
# Make sure the real services the tests use are up; start the ones that are down.
# Fails loudly (exit 1) when one cannot be had: tests never skip for a missing service.
set -uo pipefail

PGHOST_ADDR=${CARVE_PG_HOST:-127.0.0.1}
REDIS_PORT=${CARVE_REDIS_PORT:-6379}

wait_for() {  # wait_for NAME CHECK-COMMAND...
  local name=$1; shift
  for _ in $(seq 1 30); do
    if "$@" >/dev/null 2>&1; then echo "services: $name is up"; return 0; fi
    sleep 1
  done
  echo "services: $name did not come up" >&2
  return 1
}

postgres_up() { pg_isready -q -h "$PGHOST_ADDR" -p 5432; }
redis_up() { redis-cli -h 127.0.0.1 -p "$REDIS_PORT" ping | grep -q PONG; }

if ! postgres_up; then
  echo "services: starting PostgreSQL"
  pg_ctlcluster --skip-systemctl-redirect "$(ls /etc/postgresql | head -n 1)" main start || true
fi
wait_for PostgreSQL postgres_up || { echo "services: PostgreSQL is required by the tests" >&2; exit 1; }

if ! redis_up; then
  echo "services: starting Redis"
  mkdir -p /var/lib/redis /var/log/redis
  redis-server --daemonize yes --bind 127.0.0.1 -::1 --port "$REDIS_PORT" --save "" \
    --appendonly no --dir /var/lib/redis --logfile /var/log/redis/ci.log || true
fi
wait_for Redis redis_up || { echo "services: Redis is required by the tests" >&2; exit 1; }

# nginx -t checks the gateway's NGINX export and the --engine nginx tests run a real NGINX
# (tests/e2e/gateway); the tests fail, never skip,
# without it, so install it from Debian when it is missing.
if ! command -v nginx >/dev/null 2>&1 && [ ! -x /usr/sbin/nginx ]; then
  echo "services: installing nginx"
  (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq nginx) >/dev/null \
    || { echo "services: nginx could not be installed" >&2; exit 1; }
fi

# A real Prometheus scrapes the gateway, the monolith and a relay (tests/e2e/test_prometheus.py);
# install it from Debian when it is missing, as for nginx.
if ! command -v prometheus >/dev/null 2>&1 && [ ! -x /usr/bin/prometheus ]; then
  echo "services: installing prometheus"
  (apt-get update -qq && DEBIAN_FRONTEND=noninteractive \
    apt-get install -y -qq --no-install-recommends prometheus) >/dev/null \
    || { echo "services: prometheus could not be installed" >&2; exit 1; }
fi
