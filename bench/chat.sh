#!/usr/bin/env bash
# Time to first token and CPU per request that AiHub adds over its upstream: starts the fake LLM and AiHub (Release,
# embedded, SQLite in a temporary data directory) on free loopback ports, runs the chat driver against both, then
# stops them and removes the directory. --chunk-delay sets the fake's pause between chunks (ms, default 10); other
# arguments go to the driver, e.g.
#   bench/chat.sh --chunk-delay 20 --concurrency 1,16,64 --requests 100 --rounds 3 --words 40
set -euo pipefail

root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$root"
source scripts/lib/common.sh

chunk_delay=10
driver_args=()
while (($#)); do
  case $1 in
    --chunk-delay) chunk_delay=$2; shift 2 ;;
    *) driver_args+=("$1"); shift ;;
  esac
done

log "building (Release)"
dotnet build -c Release bench/AiHub.Benchmarks -v quiet -nologo >/dev/null
dotnet build -c Release tests/fixtures/FakeLlm -v quiet -nologo >/dev/null

run=$(mktemp -d)
fake_pid=""
aihub_pid=""
stop() {
  # Only the two processes started here, then their data.
  [[ -n $aihub_pid ]] && kill "$aihub_pid" 2>/dev/null && wait "$aihub_pid" 2>/dev/null || true
  [[ -n $fake_pid ]] && kill "$fake_pid" 2>/dev/null && wait "$fake_pid" 2>/dev/null || true
  rm -rf "$run"
}
trap stop EXIT

fake_port=$(free_port)
dotnet tests/fixtures/FakeLlm/bin/Release/net10.0/FakeLlm.dll --urls "http://127.0.0.1:$fake_port" --chunk-delay "$chunk_delay" \
  >"$run/fake.log" 2>&1 &
fake_pid=$!
wait_for_tcp 127.0.0.1 "$fake_port" 30

aihub_port=$(free_port)
email=bench@example.com
# From its output folder, so its appsettings.json applies; everything it writes goes to the temporary directory.
(
  cd src/AiHub/bin/Release/net10.0
  export ASPNETCORE_URLS="http://127.0.0.1:$aihub_port"
  export AIHUB_Database__ConnectionString="Data Source=$run/aihub.db"
  export AIHUB_Email__PickupDirectory="$run/mail"
  export AIHUB_Bootstrap__AdminEmail=$email
  export AIHUB_Providers__0__Name=openai
  export AIHUB_Providers__0__Kind=OpenAICompatible
  export AIHUB_Providers__0__BaseUrl="http://127.0.0.1:$fake_port/v1"
  export AIHUB_Providers__0__ApiKey=sk-bench
  export AIHUB_Providers__0__Models__0=gpt-4o-mini
  export AIHUB_Chat__DefaultModel=gpt-4o-mini
  exec dotnet AiHub.dll
) >"$run/aihub.log" 2>&1 &
aihub_pid=$!

deadline=$((SECONDS + 90))
until curl -sf "http://127.0.0.1:$aihub_port/health/ready" >/dev/null; do
  if ! kill -0 "$aihub_pid" 2>/dev/null || ((SECONDS > deadline)); then
    log "ERROR: AiHub did not become ready; its log ends with:"
    tail -n 20 "$run/aihub.log" >&2
    exit 1
  fi
  sleep 0.5
done
log "fake on :$fake_port (pid $fake_pid, ${chunk_delay} ms between chunks), AiHub on :$aihub_port (pid $aihub_pid), $(nproc) cores"

dotnet run -c Release --no-build --project bench/AiHub.Benchmarks -- chat \
  --aihub "http://127.0.0.1:$aihub_port" --fake "http://127.0.0.1:$fake_port" \
  --aihub-pid "$aihub_pid" --fake-pid "$fake_pid" --mail "$run/mail" --email "$email" \
  --clock-ticks "$(getconf CLK_TCK)" ${driver_args[@]+"${driver_args[@]}"}
