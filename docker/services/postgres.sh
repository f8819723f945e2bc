#!/usr/bin/env bash
# Usage: postgres.sh start|stop   (PG_PORT, default 55432; state in $SERVICES_DIR)
# A private PostgreSQL cluster on loopback for the test suite. PostgreSQL refuses to run as
# root, so when we are root it runs as the `postgres` user that Debian's package creates.
set -euo pipefail
port=${PG_PORT:-55432}
# Outside the checkout: the postgres user must be able to reach it whatever the clone's parents allow.
dir=${PG_DIR:-/var/tmp/k8s-sandbox/postgres-$port}
bindir=$(ls -d /usr/lib/postgresql/*/bin | sort -V | tail -1)
as_pg=()
if [ "$(id -u)" = 0 ]; then as_pg=(runuser -u postgres --); fi

case "${1:-start}" in
  start)
    if "$bindir/pg_isready" -q -h 127.0.0.1 -p "$port"; then echo "postgres: already running on 127.0.0.1:$port"; exit 0; fi
    if [ ! -f "$dir/PG_VERSION" ]; then
      mkdir -p "$dir"; chmod 755 "$(dirname "$dir")"
      [ ${#as_pg[@]} -gt 0 ] && chown postgres: "$dir"
      chmod 700 "$dir"
      # trust on loopback: this server is private to the machine and holds only test data.
      "${as_pg[@]}" "$bindir/initdb" -D "$dir" -U sandbox --auth=trust -E UTF8 --locale=C.UTF-8 >/dev/null
    fi
    "${as_pg[@]}" "$bindir/pg_ctl" -D "$dir" -l "$dir/server.log" -w -t 30 \
      -o "-h 127.0.0.1 -p $port -k $dir -c fsync=off -c synchronous_commit=off -c full_page_writes=off" start >/dev/null
    "$bindir/psql" -h 127.0.0.1 -p "$port" -U sandbox -d postgres -tAc "SELECT 1 FROM pg_database WHERE datname='sandbox'" | grep -q 1 \
      || "$bindir/createdb" -h 127.0.0.1 -p "$port" -U sandbox sandbox
    echo "postgres: running on 127.0.0.1:$port" ;;
  stop)
    [ -f "$dir/postmaster.pid" ] && "${as_pg[@]}" "$bindir/pg_ctl" -D "$dir" -m fast stop >/dev/null || true ;;
  *) echo "usage: $0 start|stop" >&2; exit 2 ;;
esac
