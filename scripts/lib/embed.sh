# shellcheck shell=bash
# The test embedding server: a real small model (Universal Sentence Encoder lite) behind OpenAI's /v1/embeddings.
# Source common.sh first; this file only defines functions.

_AIHUB_EMBED_DIR=tests/fixtures/embed-server

# embed_start RUN_DIR: installs the server's pinned packages if needed, starts it on a free loopback port, waits until
# the model is loaded, and exports AIHUB_TEST_EMBEDDINGS=http://127.0.0.1:PORT/v1. embed_stop stops it.
embed_start() {
  local run_dir=${1:?embed_start needs a run directory} dir port attempt pid deadline
  ensure_node_clients "$_AIHUB_EMBED_DIR"
  dir="$(mkdir -p "$run_dir" && cd "$run_dir" && pwd -P)/embed"
  mkdir -p "$dir"
  for attempt in 1 2 3; do
    port=$(free_port) || return 1
    node "$_AIHUB_EMBED_DIR/server.mjs" --port "$port" >"$dir/embed.log" 2>&1 &
    pid=$!
    deadline=$((SECONDS + 120))
    while ((SECONDS < deadline)); do
      if grep -q "^listening $port\$" "$dir/embed.log" 2>/dev/null; then
        _AIHUB_EMBED_PID=$pid
        export AIHUB_TEST_EMBEDDINGS="http://127.0.0.1:$port/v1"
        log "embedding server ready on $AIHUB_TEST_EMBEDDINGS"
        return 0
      fi
      kill -0 "$pid" 2>/dev/null || break
      sleep 0.2
    done
    kill -TERM "$pid" 2>/dev/null || true
    wait "$pid" 2>/dev/null || true
    grep -q EADDRINUSE "$dir/embed.log" 2>/dev/null || break
    log "port $port was taken; retrying the embedding server (attempt $attempt)"
  done
  log "ERROR: the embedding server did not start; last lines of $dir/embed.log:"
  tail -n 30 "$dir/embed.log" >&2 2>/dev/null || true
  return 1
}

# embed_stop: stops the server started by embed_start; safe to call any time.
embed_stop() {
  local pid=${_AIHUB_EMBED_PID:-} _
  [[ -n "$pid" ]] || return 0
  kill -TERM "$pid" 2>/dev/null || true
  for _ in {1..50}; do
    kill -0 "$pid" 2>/dev/null || break
    sleep 0.1
  done
  kill -KILL "$pid" 2>/dev/null || true
  wait "$pid" 2>/dev/null || true
  unset _AIHUB_EMBED_PID AIHUB_TEST_EMBEDDINGS
  return 0
}
