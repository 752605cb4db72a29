#!/bin/sh
# make run: the web server and one background worker together; Ctrl-C (or the end of either) stops both.
set -u
BIN=${BIN:-.venv/bin}
HOST=${HOST:-127.0.0.1}
PORT=${PORT:-5000}

"$BIN/flask" worker &
WORKER=$!
"$BIN/flask" run --host "$HOST" --port "$PORT" &
SERVER=$!

stop() {
  trap - INT TERM EXIT
  kill -TERM "$SERVER" "$WORKER" 2>/dev/null
  wait "$SERVER" 2>/dev/null
  wait "$WORKER" 2>/dev/null
}
trap 'stop; exit 130' INT
trap 'stop; exit 143' TERM
trap stop EXIT

# Whichever ends first (a crash, or Ctrl-C reaching both), the other is stopped too.
while kill -0 "$SERVER" 2>/dev/null && kill -0 "$WORKER" 2>/dev/null; do
  sleep 1
done
stop
