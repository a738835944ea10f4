# shellcheck shell=bash
# PostgreSQL 15 + pgvector for integration tests: install/build, start a throwaway cluster, stop it.
# Source common.sh first; this file only defines functions.

_pg_bindir() {
  printf '%s\n' /usr/lib/postgresql/15/bin
}

_pg_config() {
  "$(_pg_bindir)/pg_config" "$@"
}

# Succeeds when pgvector 0.8.x is installed for PostgreSQL 15.
_pgvector_installed() {
  local control lib
  control="$(_pg_config --sharedir)/extension/vector.control"
  lib="$(_pg_config --pkglibdir)/vector.so"
  [[ -f "$lib" ]] && grep -Eq "^default_version *= *'0\.8\.[0-9]+'" "$control" 2>/dev/null
}

_pgvector_installed_version() {
  sed -nE "s/^default_version *= *'([^']+)'.*/\1/p" "$(_pg_config --sharedir)/extension/vector.control" 2>/dev/null
}

# Prints the first Debian mirror URI configured for apt.
_debian_mirror_uri() {
  local uri=""
  if [[ -f /etc/apt/sources.list.d/debian.sources ]]; then
    uri=$(awk 'tolower($1) == "uris:" { print $2; exit }' /etc/apt/sources.list.d/debian.sources)
  fi
  if [[ -z "$uri" && -f /etc/apt/sources.list ]]; then
    uri=$(awk '$1 == "deb" { for (i = 2; i <= NF; i++) if ($i ~ /^[a-z]+:\/\//) { print $i; exit } }' /etc/apt/sources.list)
  fi
  printf '%s\n' "${uri:-http://deb.debian.org/debian}"
}

# _trixie_source_apt_opts WORKDIR: prints apt options (one per line) for a private trixie deb-src setup.
_trixie_source_apt_opts() {
  local work=$1
  printf '%s\n' \
    -o "Dir::Etc::SourceList=$work/sources.list" \
    -o "Dir::Etc::SourceParts=/dev/null" \
    -o "Dir::State::Lists=$work/lists" \
    -o "Dir::Cache=$work/cache" \
    -o "APT::Sandbox::User=root"
}

# _fetch_pgvector_source WORKDIR: downloads and unpacks trixie's pgvector source; prints its directory.
_fetch_pgvector_source() {
  local work=$1 mirror opts
  mirror=$(_debian_mirror_uri)
  mkdir -p "$work/lists/partial" "$work/cache/archives/partial" "$work/src"
  mapfile -t opts < <(_trixie_source_apt_opts "$work")
  printf 'deb-src %s trixie main\n' "$mirror" >"$work/sources.list"
  log "fetching pgvector source package from $mirror (trixie)"
  # Signed by the keys in bookworm's debian-archive-keyring; an unverified source is never built.
  if ! _apt_get "${opts[@]}" update -q; then
    log "ERROR: could not fetch or verify trixie's source index (is debian-archive-keyring up to date?)"
    return 1
  fi
  (cd "$work/src" && _apt_get "${opts[@]}" source -q pgvector) || return 1
  find "$work/src" -mindepth 1 -maxdepth 1 -type d -name 'pgvector-*' | head -n 1
}

_build_pgvector() {
  local work src pg_config started=$SECONDS
  pg_config="$(_pg_bindir)/pg_config"
  ensure_apt_packages dpkg-dev build-essential postgresql-server-dev-15 debian-archive-keyring || return 1
  work=$(mktemp -d /tmp/aihub-pgvector.XXXXXX)
  src=$(_fetch_pgvector_source "$work") || true
  if [[ -z "$src" || ! -f "$src/Makefile" ]]; then
    log "ERROR: could not download the pgvector source package from Debian trixie"
    rm -rf "$work"
    return 1
  fi
  log "building $(basename "$src") against PostgreSQL 15 (takes about a minute)"
  # No LLVM bitcode (JIT inlining only) and no -march=native (the disk may boot on another CPU).
  local make_args=(-C "$src" PG_CONFIG="$pg_config" with_llvm=no OPTFLAGS=)
  if ! make "${make_args[@]}" -j"$(nproc)" >"$work/build.log" 2>&1 ||
    ! make "${make_args[@]}" install >>"$work/build.log" 2>&1; then
    tail -n 40 "$work/build.log" >&2
    log "ERROR: building pgvector failed"
    rm -rf "$work"
    return 1
  fi
  rm -rf "$work"
  log "pgvector $(_pgvector_installed_version) installed in $((SECONDS - started))s"
}

# ensure_postgres_with_pgvector: installs PostgreSQL 15 and builds pgvector 0.8.x unless already present.
ensure_postgres_with_pgvector() {
  ensure_apt_packages postgresql-15 postgresql-client-15 || return 1
  if _pgvector_installed; then
    log "pgvector $(_pgvector_installed_version) already installed for PostgreSQL 15"
    return 0
  fi
  _build_pgvector || return 1
  if ! _pgvector_installed; then
    log "ERROR: pgvector 0.8.x is still not installed (found: $(_pgvector_installed_version || true))"
    return 1
  fi
}

# Runs a PostgreSQL binary as the postgres system user (initdb and the server refuse root).
_pg_as_postgres() {
  local tool=$1
  shift
  runuser -u postgres -- "$(_pg_bindir)/$tool" "$@"
}

# _pg_prepare_base RUN_DIR: prints a fresh directory owned by postgres for data, log and socket.
_pg_prepare_base() {
  local run_dir=$1 base="$1/pg"
  _pg_discard_stale "$base/data"
  rm -rf "$base"
  if [[ -f "$run_dir/pg.location" ]]; then
    local old
    old=$(cat "$run_dir/pg.location")
    if [[ "$old" == /tmp/aihub-pg.* ]]; then
      _pg_discard_stale "$old/data"
      rm -rf "$old"
    fi
    rm -f "$run_dir/pg.location"
  fi
  mkdir -p "$base"
  chown postgres: "$base"
  # Unix socket paths are limited to ~107 bytes; postgres must also be able to reach the dir.
  if ((${#base} > 80)) || ! runuser -u postgres -- test -w "$base"; then
    rm -rf "$base"
    base=$(mktemp -d /tmp/aihub-pg.XXXXXX)
    chown postgres: "$base"
    chmod 700 "$base"
    printf '%s\n' "$base" >"$run_dir/pg.location"
  fi
  printf '%s\n' "$base"
}

# Stops a server left running in DATA by an earlier, interrupted run.
_pg_discard_stale() {
  local data=$1
  [[ -f "$data/postmaster.pid" ]] || return 0
  log "stopping a stale PostgreSQL left in $data"
  _pg_as_postgres pg_ctl -D "$data" -m immediate -w -t 30 stop >/dev/null 2>&1 || true
}

_pg_write_config() {
  local data=$1 socket_dir=$2
  cat >>"$data/postgresql.conf" <<EOF

# Throwaway test cluster: loopback only, durability off for speed.
listen_addresses = '127.0.0.1'
unix_socket_directories = '$socket_dir'
max_connections = 300
shared_buffers = 128MB
fsync = off
synchronous_commit = off
full_page_writes = off
EOF
}

_pg_fail() {
  log "ERROR: $1"
  if [[ -n "${_AIHUB_PG_LOG:-}" && -f "$_AIHUB_PG_LOG" ]]; then
    log "last lines of $_AIHUB_PG_LOG:"
    tail -n 30 "$_AIHUB_PG_LOG" >&2
  fi
  pg_stop
  return 1
}

# _pg_start_on_free_port DATA LOG: starts the server, retrying with another port if one was taken.
_pg_start_on_free_port() {
  local data=$1 logfile=$2 port attempt
  for attempt in 1 2 3; do
    port=$(free_port) || return 1
    if _pg_as_postgres pg_ctl -D "$data" -l "$logfile" -o "-p $port" -w -t 60 start >/dev/null; then
      _AIHUB_PG_PORT_STARTED=$port
      return 0
    fi
    grep -q 'could not bind' "$logfile" 2>/dev/null || break
    log "port $port was taken; retrying PostgreSQL start (attempt $attempt)"
  done
  return 1
}

_pg_psql() {
  PGOPTIONS='-c client_min_messages=warning' PGCONNECT_TIMEOUT=10 "$(_pg_bindir)/psql" -X -q -v ON_ERROR_STOP=1 -h 127.0.0.1 -p "$AIHUB_TEST_PG_PORT" -U postgres "$@"
}

# Checks that pgvector works end to end, including an HNSW index scan.
_pg_check_pgvector() {
  local db=aihub_vector_check nearest
  _pg_psql -d postgres -c "DROP DATABASE IF EXISTS $db" -c "CREATE DATABASE $db" >/dev/null || return 1
  nearest=$(_pg_psql -d "$db" -At <<'SQL'
CREATE EXTENSION vector;
CREATE TABLE items (id int PRIMARY KEY, embedding vector(3));
INSERT INTO items VALUES (1, '[1,2,3]'), (2, '[4,5,6]'), (3, '[7,8,9]'), (4, '[-1,0,2]');
CREATE INDEX ON items USING hnsw (embedding vector_l2_ops);
SET enable_seqscan = off;
SELECT id FROM items ORDER BY embedding <-> '[6,5,6]' LIMIT 1;
SQL
  ) || return 1
  _pg_psql -d postgres -c "DROP DATABASE $db" >/dev/null || return 1
  [[ "$nearest" == 2 ]] || { log "pgvector nearest-neighbour query returned '$nearest', expected 2"; return 1; }
}

# pg_start RUN_DIR: starts a fresh trust-auth cluster on 127.0.0.1 and a free port.
# Exports AIHUB_TEST_PG_PORT, AIHUB_TEST_POSTGRES (Npgsql connection string) and AIHUB_TEST_PG_BIN.
pg_start() {
  local run_dir=${1:?pg_start needs a run directory} base data
  run_dir=$(mkdir -p "$run_dir" && cd "$run_dir" && pwd -P) || return 1
  base=$(_pg_prepare_base "$run_dir") || return 1
  data="$base/data"
  _AIHUB_PG_BASE=$base
  _AIHUB_PG_RUN_DIR=$run_dir
  _AIHUB_PG_DATA=$data
  _AIHUB_PG_LOG="$base/server.log"
  log "initialising PostgreSQL 15 cluster in $data"
  if ! _pg_as_postgres initdb -D "$data" --auth=trust --username=postgres \
    --encoding=UTF8 --no-locale --no-sync >"$base/initdb.log" 2>&1; then
    cat "$base/initdb.log" >&2
    _pg_fail "initdb failed"
    return 1
  fi
  _pg_write_config "$data" "$base"
  _pg_start_on_free_port "$data" "$_AIHUB_PG_LOG" || { _pg_fail "PostgreSQL did not start"; return 1; }
  export AIHUB_TEST_PG_PORT=$_AIHUB_PG_PORT_STARTED
  export AIHUB_TEST_PG_BIN
  AIHUB_TEST_PG_BIN=$(_pg_bindir)
  export AIHUB_TEST_POSTGRES="Host=127.0.0.1;Port=$AIHUB_TEST_PG_PORT;Username=postgres;Database=postgres"
  wait_for_tcp 127.0.0.1 "$AIHUB_TEST_PG_PORT" 30 || { _pg_fail "PostgreSQL is not accepting TCP connections"; return 1; }
  _pg_check_pgvector || { _pg_fail "pgvector check failed"; return 1; }
  log "PostgreSQL ready on 127.0.0.1:$AIHUB_TEST_PG_PORT (pgvector $(_pgvector_installed_version))"
}

# pg_stop: stops the cluster started by pg_start and removes its data; safe to call any time.
pg_stop() {
  local data=${_AIHUB_PG_DATA:-} base=${_AIHUB_PG_BASE:-}
  [[ -n "$data" ]] || return 0
  if [[ -f "$data/postmaster.pid" ]]; then
    _pg_as_postgres pg_ctl -D "$data" -m fast -w -t 60 stop >/dev/null 2>&1 ||
      _pg_as_postgres pg_ctl -D "$data" -m immediate -w -t 30 stop >/dev/null 2>&1 || true
  fi
  rm -rf "$data"
  if [[ "$base" == /tmp/aihub-pg.* ]]; then
    if [[ -n "${_AIHUB_PG_RUN_DIR:-}" ]]; then
      cp -f "$base/server.log" "$_AIHUB_PG_RUN_DIR/pg-server.log" 2>/dev/null || true
      rm -f "$_AIHUB_PG_RUN_DIR/pg.location"
    fi
    rm -rf "$base"
  fi
  unset _AIHUB_PG_DATA _AIHUB_PG_BASE _AIHUB_PG_LOG _AIHUB_PG_PORT_STARTED _AIHUB_PG_RUN_DIR
  unset AIHUB_TEST_PG_PORT AIHUB_TEST_POSTGRES AIHUB_TEST_PG_BIN
  return 0
}
