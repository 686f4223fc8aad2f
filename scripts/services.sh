#!/usr/bin/env bash
# Make sure MariaDB and Redis answer on 127.0.0.1; start them if they do not.
set -euo pipefail

answers() { python3 - "$1" <<'PY'
import socket, sys
try:
    socket.create_connection(("127.0.0.1", int(sys.argv[1])), timeout=1).close()
except OSError:
    sys.exit(1)
PY
}

wait_for() { for _ in $(seq 1 60); do answers "$1" && return 0; sleep 0.5; done; return 1; }

if ! answers 3306; then
  echo "== starting MariaDB"
  start-stop-daemon --start --oknodo --background --exec /usr/sbin/mariadbd
  wait_for 3306 || { echo "MariaDB did not come up on 127.0.0.1:3306" >&2; exit 1; }
fi
if ! answers 6379; then
  echo "== starting Redis"
  redis-server --daemonize yes --bind 127.0.0.1 --port 6379 --save "" --appendonly no
  wait_for 6379 || { echo "Redis did not come up on 127.0.0.1:6379" >&2; exit 1; }
fi
