# shellcheck shell=bash
# An S3-compatible server for the blob store's tests: npm s3rver (pinned in tests/fixtures/s3, with the multipart
# calls it lacks added by tests/fixtures/s3/server.mjs) on loopback.
# Source common.sh first; this file only defines functions.

_AIHUB_S3_FIXTURE="tests/fixtures/s3"

# _s3_answers PORT: succeeds when something answers HTTP on the port.
_s3_answers() {
  [[ "$(curl -s -o /dev/null -m 5 -w '%{http_code}' "http://127.0.0.1:$1/" 2>/dev/null)" != 000 ]]
}

# _s3_kill_pidfile PIDFILE: stops the s3rver named in PIDFILE, if it still runs.
_s3_kill_pidfile() {
  local pidfile=$1 pid _
  pid=$(cat "$pidfile" 2>/dev/null || true)
  [[ "$pid" =~ ^[0-9]+$ ]] || return 0
  # Only signal the pid if it still is our s3rver (pids get reused).
  if tr '\0' ' ' <"/proc/$pid/cmdline" 2>/dev/null | grep -q 'fixtures/s3/server.mjs'; then
    kill -TERM "$pid" 2>/dev/null || true
    for _ in {1..50}; do
      kill -0 "$pid" 2>/dev/null || break
      sleep 0.1
    done
    kill -KILL "$pid" 2>/dev/null || true
  fi
  rm -f "$pidfile"
}

# s3_start RUN_DIR: installs s3rver as its lock file pins it, starts it on 127.0.0.1 and a free port, and exports
# AIHUB_TEST_S3=http://127.0.0.1:PORT (credentials S3RVER/S3RVER; tests create their own buckets).
s3_start() {
  local run_dir=${1:?s3_start needs a run directory} dir port attempt pid deadline
  ensure_node_clients "$_AIHUB_S3_FIXTURE"
  dir="$(mkdir -p "$run_dir" && cd "$run_dir" && pwd -P)/s3"
  _s3_kill_pidfile "$dir/s3rver.pid"
  rm -rf "$dir/data"
  mkdir -p "$dir/data"
  for attempt in 1 2 3; do
    port=$(free_port) || return 1
    node "$_AIHUB_S3_FIXTURE/server.mjs" "$dir/data" "$port" \
      >"$dir/s3rver.log" 2>&1 </dev/null &
    pid=$!
    echo "$pid" >"$dir/s3rver.pid"
    deadline=$((SECONDS + 30))
    while ((SECONDS < deadline)) && kill -0 "$pid" 2>/dev/null; do
      if _s3_answers "$port"; then
        _AIHUB_S3_PIDFILE="$dir/s3rver.pid"
        export AIHUB_TEST_S3="http://127.0.0.1:$port"
        log "s3rver ready on $AIHUB_TEST_S3"
        return 0
      fi
      sleep 0.2
    done
    _s3_kill_pidfile "$dir/s3rver.pid"
    grep -qi 'EADDRINUSE' "$dir/s3rver.log" 2>/dev/null || break
    log "port $port was taken; retrying s3rver start (attempt $attempt)"
  done
  log "ERROR: s3rver did not start; last lines of $dir/s3rver.log:"
  tail -n 30 "$dir/s3rver.log" >&2 2>/dev/null || true
  return 1
}

# s3_stop: stops the server started by s3_start; safe to call any time.
s3_stop() {
  [[ -n "${_AIHUB_S3_PIDFILE:-}" ]] || return 0
  _s3_kill_pidfile "$_AIHUB_S3_PIDFILE"
  unset _AIHUB_S3_PIDFILE AIHUB_TEST_S3
  return 0
}
