# shellcheck shell=bash
# Redis for integration tests: install, start a throwaway server on loopback, stop it.
# Source common.sh first; this file only defines functions.

# ensure_redis: installs redis-server and redis-cli from Debian unless present.
ensure_redis() {
  ensure_apt_packages redis-server redis-tools
}

# _redis_ping PORT: succeeds when the server answers PONG.
_redis_ping() {
  [[ "$(timeout 5 redis-cli -h 127.0.0.1 -p "$1" ping 2>/dev/null)" == PONG ]]
}

# _redis_wait_ready PORT PIDFILE TIMEOUT: waits for PONG, giving up early if the server died.
_redis_wait_ready() {
  local port=$1 pidfile=$2 deadline=$((SECONDS + $3)) pid
  while ((SECONDS < deadline)); do
    _redis_ping "$port" && return 0
    pid=$(cat "$pidfile" 2>/dev/null || true)
    if [[ -n "$pid" ]] && ! kill -0 "$pid" 2>/dev/null; then
      return 1
    fi
    sleep 0.2
  done
  return 1
}

# _redis_launch DIR PORT: starts a daemonized, non-persistent redis-server bound to 127.0.0.1.
_redis_launch() {
  local dir=$1 port=$2
  rm -f "$dir/redis.pid"
  redis-server --bind 127.0.0.1 --port "$port" --protected-mode yes \
    --save "" --appendonly no --daemonize yes \
    --pidfile "$dir/redis.pid" --logfile "$dir/redis.log" --dir "$dir" >/dev/null
}

# redis_start RUN_DIR: starts Redis on 127.0.0.1 and a free port; exports AIHUB_TEST_REDIS=127.0.0.1:PORT.
redis_start() {
  local run_dir=${1:?redis_start needs a run directory} dir port attempt
  dir="$(mkdir -p "$run_dir" && cd "$run_dir" && pwd -P)/redis"
  mkdir -p "$dir"
  _redis_kill_pidfile "$dir/redis.pid"
  for attempt in 1 2 3; do
    port=$(free_port) || return 1
    _redis_launch "$dir" "$port" || true
    if _redis_wait_ready "$port" "$dir/redis.pid" 30; then
      _AIHUB_REDIS_PORT=$port
      _AIHUB_REDIS_PIDFILE="$dir/redis.pid"
      export AIHUB_TEST_REDIS="127.0.0.1:$port"
      log "Redis ready on $AIHUB_TEST_REDIS"
      return 0
    fi
    _redis_kill_pidfile "$dir/redis.pid"
    grep -qi 'address already in use' "$dir/redis.log" 2>/dev/null || break
    log "port $port was taken; retrying Redis start (attempt $attempt)"
  done
  log "ERROR: Redis did not start; last lines of $dir/redis.log:"
  tail -n 30 "$dir/redis.log" >&2 2>/dev/null || true
  return 1
}

# _redis_kill_pidfile PIDFILE: terminates the redis-server named in PIDFILE, if it still runs.
_redis_kill_pidfile() {
  local pidfile=$1 pid _
  pid=$(cat "$pidfile" 2>/dev/null || true)
  [[ "$pid" =~ ^[0-9]+$ ]] || return 0
  # Only signal the pid if it still is a redis-server (pids get reused).
  if [[ "$(cat "/proc/$pid/comm" 2>/dev/null)" == redis-server* ]]; then
    kill -TERM "$pid" 2>/dev/null || true
    for _ in {1..50}; do
      kill -0 "$pid" 2>/dev/null || break
      sleep 0.1
    done
    kill -KILL "$pid" 2>/dev/null || true
  fi
  rm -f "$pidfile"
}

# redis_stop: stops the server started by redis_start; safe to call any time.
redis_stop() {
  local port=${_AIHUB_REDIS_PORT:-} pidfile=${_AIHUB_REDIS_PIDFILE:-}
  [[ -n "$port" ]] || return 0
  timeout 5 redis-cli -h 127.0.0.1 -p "$port" shutdown nosave >/dev/null 2>&1 || true
  _redis_kill_pidfile "$pidfile"
  unset _AIHUB_REDIS_PORT _AIHUB_REDIS_PIDFILE AIHUB_TEST_REDIS
  return 0
}
