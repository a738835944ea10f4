# shellcheck shell=bash
# Shared helpers for the test scripts: logging, free ports, apt installs, TCP waits.
# Source this file; it only defines functions.

log() {
  printf '[test] %s\n' "$*" >&2
}

# Prints a TCP port on 127.0.0.1 that nothing listens on right now.
free_port() {
  local port
  if command -v python3 >/dev/null 2>&1 &&
    port=$(python3 -c 'import socket
s = socket.socket()
s.bind(("127.0.0.1", 0))
print(s.getsockname()[1])
s.close()' 2>/dev/null) && [[ "$port" =~ ^[0-9]+$ ]]; then
    printf '%s\n' "$port"
    return 0
  fi
  local _
  for _ in {1..200}; do
    port=$((20000 + RANDOM % 40000))
    if ! (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null; then
      printf '%s\n' "$port"
      return 0
    fi
  done
  log "ERROR: could not find a free TCP port"
  return 1
}

# wait_for_tcp HOST PORT TIMEOUT_SECONDS
wait_for_tcp() {
  local host=$1 port=$2 timeout=${3:-30}
  local deadline=$((SECONDS + timeout))
  while ((SECONDS < deadline)); do
    # shellcheck disable=SC2016
    if timeout 2 bash -c 'exec 3<>"/dev/tcp/$0/$1"' "$host" "$port" 2>/dev/null; then
      return 0
    fi
    sleep 0.2
  done
  log "ERROR: nothing accepted TCP connections on $host:$port within ${timeout}s"
  return 1
}

# Prints the packages among the arguments that dpkg does not report as fully installed.
_apt_missing_packages() {
  local pkg status
  for pkg in "$@"; do
    status=$(dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null || true)
    [[ "$status" == "install ok installed" ]] || printf '%s\n' "$pkg"
  done
}

# Runs apt-get (output to stderr), waiting up to 10 min for locks held by other apt/dpkg runs.
_apt_get() {
  local deadline=$((SECONDS + 600)) err rc
  err=$(mktemp)
  while :; do
    rc=0
    LC_ALL=C DEBIAN_FRONTEND=noninteractive \
      apt-get -o DPkg::Lock::Timeout=600 "$@" >&2 2>"$err" || rc=$?
    # DPkg::Lock::Timeout does not cover every lock (e.g. the lists lock of apt-get update).
    if ((rc != 0)) && grep -qE 'Could not get lock|Unable to lock' "$err" && ((SECONDS < deadline)); then
      log "apt is busy ($(grep -m1 -o 'held by process.*' "$err" || echo 'lock held')); waiting"
      sleep 5
      continue
    fi
    cat "$err" >&2
    rm -f "$err"
    return "$rc"
  done
}

_apt_update() {
  log "apt-get update"
  _apt_get update -q && _AIHUB_APT_UPDATED=1
}

_apt_install() {
  _apt_get install -y -q --no-install-recommends "$@"
}

# ensure_apt_packages PKG... : installs only the packages that are not installed yet.
ensure_apt_packages() {
  local missing
  mapfile -t missing < <(_apt_missing_packages "$@")
  ((${#missing[@]} > 0)) || return 0
  log "installing apt packages: ${missing[*]}"
  if [[ "${_AIHUB_APT_UPDATED:-}" != 1 ]]; then
    _apt_update || log "apt-get update failed; trying the install anyway"
  fi
  _apt_install "${missing[@]}" && return 0
  log "apt-get install failed; repairing dpkg state, refreshing lists and retrying once"
  LC_ALL=C DEBIAN_FRONTEND=noninteractive dpkg --configure -a >&2 || true
  _apt_update || true
  if ! _apt_install "${missing[@]}"; then
    log "ERROR: could not install apt packages: ${missing[*]}"
    return 1
  fi
}

# ensure_node_clients DIR: Node.js from Debian when there is none, and DIR's npm packages as its lock file pins them,
# installed again only when the lock file changed since the last install.
ensure_node_clients() {
  local dir=$1
  command -v node >/dev/null && command -v npm >/dev/null || ensure_apt_packages nodejs npm
  if [[ -f "$dir/node_modules/.package-lock.json" && ! "$dir/package-lock.json" -nt "$dir/node_modules/.package-lock.json" ]]; then
    return 0
  fi
  log "installing the Node.js test clients in $dir"
  (cd "$dir" && npm ci --no-audit --no-fund --loglevel=error)
}
