#!/usr/bin/env bash
# Usage: redis.sh start|stop|foreground   (REDIS_PORT, default 6379; state in $SERVICES_DIR)
# A private Redis on loopback for Celery and the Channels layer.
set -euo pipefail
port=${REDIS_PORT:-6379}
dir=${SERVICES_DIR:-$(pwd)/.services}/redis-$port
mkdir -p "$dir"
args=(--port "$port" --bind 127.0.0.1 --dir "$dir" --save "" --appendonly no --protected-mode yes)
ping() { redis-cli -p "$port" ping 2>/dev/null | grep -q PONG; }

case "${1:-start}" in
  start)
    if ping; then echo "redis: already running on 127.0.0.1:$port"; exit 0; fi
    redis-server "${args[@]}" --daemonize yes --pidfile "$dir/redis.pid" --logfile "$dir/redis.log"
    for _ in $(seq 50); do ping && { echo "redis: running on 127.0.0.1:$port"; exit 0; }; sleep 0.1; done
    echo "redis: did not start; see $dir/redis.log" >&2; exit 1 ;;
  foreground)
    exec redis-server "${args[@]}" ;;
  stop)
    redis-cli -p "$port" shutdown nosave 2>/dev/null || true ;;
  *) echo "usage: $0 start|stop|foreground" >&2; exit 2 ;;
esac
