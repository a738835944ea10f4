#!/usr/bin/env bash
# AiHub's /v1/chat/completions side by side with the peer gateway (Portkey) and the bare mock upstream, in one run of
# the peer harness (its README says what it measures). Builds AiHub in Release, starts it on loopback with one OpenAI
# provider pointing at the harness's mock upstream, sets up an account, an org with credits and an API key with a
# rate limit and a monthly budget through the HTTP API, runs the harness, then checks the money: every answered call
# has one usage record, the credits spent equal what those records cost, no hold is left open, and `ledger verify`
# passes.
#
#   bench/gateway.sh                                   # embedded SQLite in a new temporary directory
#   bench/gateway.sh --postgres 'Host=127.0.0.1;Port=5432;Username=postgres'   # a new database on that server, dropped afterwards
#   DURATION=5s CONNS="1 64" MODES="json stream" bench/gateway.sh             # a short run
#
# Environment: HARNESS (the harness folder; default ../shared/bench/peers from the repository root), TARGETS
# ("direct portkey url"), AIHUB_PORT (a free port), RATE_LIMIT (the key's requests per minute, default the most a key
# may have), BUDGET (the key's monthly budget in credits), GRANT (credits granted to the org), KEEP=1 (keep the data
# directory or database), and the harness's own settings (DURATION, CONNS, MODES, PIN, MOCK_PORT, TTFT_N, ...), passed
# through. AIHUB_* variables set by the caller reach AiHub too (e.g. to turn a feature off for a comparison).
set -euo pipefail

root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$root"
source scripts/lib/common.sh

postgres=""
while (($#)); do
  case $1 in
    --postgres) postgres=$2; shift 2 ;;
    -h|--help) sed -n '2,17p' "$0"; exit 0 ;;
    *) log "unknown argument: $1 (see --help)"; exit 2 ;;
  esac
done

harness=$(cd "${HARNESS:-$root/../shared/bench/peers}" && pwd)
targets=${TARGETS:-"direct portkey url"}
mock_port=${MOCK_PORT:-18080}
pace_ms=${PACE_MS:-10}
rate_limit=${RATE_LIMIT:-100000}
budget=${BUDGET:-1000000}
grant=${GRANT:-1000000}
pin=${PIN:-1}

# --- tools --------------------------------------------------------------------------------------------------------
ensure_apt_packages wrk curl jq
[[ -n $postgres ]] || ensure_apt_packages sqlite3
command -v node >/dev/null && command -v npm >/dev/null || ensure_apt_packages nodejs npm

# The harness may be read-only: it runs from a copy here, where npm installs the peer and run.sh writes its results.
work="$root/.bench-run"
peers="$work/peers"
mkdir -p "$peers"
(cd "$harness" && tar --exclude=./node_modules --exclude=./results -cf - .) | (cd "$peers" && tar -xf - --no-same-owner)
chmod -R u+w "$peers"
# The harness's stream check wants the mock's 54 events, its usage chunk included. AiHub asks every provider for usage
# (to bill it) and, as OpenAI does, sends the client a usage chunk only when it asked (stream_options.include_usage),
# which the harness's requests do not: for AiHub alone, 53 events (all but that chunk) pass the check.
sed -i 's/\[ "\$n" = 54 \] ||/{ [ "$n" = 54 ] || { [ "$URL" = "${TARGET_URL:-}" ] \&\& [ "$n" = 53 ]; }; } ||/' "$peers/run.sh"
grep -q '"$n" = 53' "$peers/run.sh" || { log "ERROR: the harness's stream check changed; look at $peers/run.sh"; exit 1; }
ensure_node_clients "$peers"

log "building AiHub (Release)"
dotnet publish src/AiHub -c Release -o "$work/gateway-app" -v quiet -nologo >/dev/null

# --- database -----------------------------------------------------------------------------------------------------
run=$(mktemp -d "$work/gateway.XXXXXX")
pg_db=""
aihub_pid=""
pg_field() { tr ';' '\n' <<<"$1" | awk -v k="$2" '{ i = index($0, "="); if (tolower(substr($0, 1, i - 1)) == tolower(k)) print substr($0, i + 1) }'; }
pg_psql() {
  PGHOST=$(pg_field "$postgres" Host) PGPORT=$(pg_field "$postgres" Port) PGUSER=$(pg_field "$postgres" Username) \
    PGPASSWORD=$(pg_field "$postgres" Password) psql -v ON_ERROR_STOP=1 -qAt -d postgres "$@"
}
stop_aihub() {
  [[ -n $aihub_pid ]] || return 0
  kill "$aihub_pid" 2>/dev/null && wait "$aihub_pid" 2>/dev/null || true
  aihub_pid=""
}
cleanup() {
  stop_aihub
  if [[ ${KEEP:-0} == 1 ]]; then log "kept: $run${pg_db:+ and database $pg_db}"; return; fi
  [[ -n $pg_db ]] && pg_psql -c "DROP DATABASE IF EXISTS \"$pg_db\" WITH (FORCE)" >/dev/null 2>&1 || true
  rm -rf "$run"
}
trap cleanup EXIT

export AIHUB_DataProtection__KeyEncryptionKey
AIHUB_DataProtection__KeyEncryptionKey=$(head -c 32 /dev/urandom | base64)
if [[ -n $postgres ]]; then
  command -v psql >/dev/null || ensure_apt_packages postgresql-client
  pg_db="aihub_gateway_bench_$(date +%s)"
  pg_psql -c "CREATE DATABASE \"$pg_db\"" >/dev/null
  export AIHUB_Database__Provider=Postgres AIHUB_Database__MigrateOnStart=true
  AIHUB_Database__ConnectionString="$(tr ';' '\n' <<<"$postgres" | grep -vi '^database=' | grep -v '^$' | paste -sd ';');Database=$pg_db"
  export AIHUB_Database__ConnectionString
  database="PostgreSQL ($pg_db)"
else
  export AIHUB_Database__ConnectionString="Data Source=$run/aihub.db"
  database="SQLite ($run/aihub.db)"
fi

# --- AiHub ----------------------------------------------------------------------------------------------------------
port=${AIHUB_PORT:-$(free_port)}
base="http://127.0.0.1:$port"
email=gateway-bench@example.com
password="Bench-$(head -c 12 /dev/urandom | base64 | tr -dc 'A-Za-z0-9')-1a"
pin_cmd=()
[[ $pin == 1 && $(nproc) -ge 2 ]] && pin_cmd=(taskset -c 0)   # the core the harness gives the gateway under test
(
  # From its output folder, so its appsettings.json applies; what it writes goes to the temporary directory.
  cd "$work/gateway-app"
  export ASPNETCORE_URLS=$base
  export AIHUB_Email__PickupDirectory="$run/mail"
  export AIHUB_Bootstrap__AdminEmail=$email
  export AIHUB_Telemetry__PrometheusEnabled=true   # the count of answered requests that the usage records are checked against
  export AIHUB_Providers__0__Name=openai AIHUB_Providers__0__Kind=OpenAI AIHUB_Providers__0__ApiKey=sk-mock
  export AIHUB_Providers__0__BaseUrl="http://127.0.0.1:$mock_port/v1"
  export AIHUB_Providers__0__Models__0=gpt-4o-mini AIHUB_Providers__0__Models__1="gpt-4o-mini-${pace_ms}ms"
  export AIHUB_Providers__0__DefaultPrice__InputPerMillion=0.15 AIHUB_Providers__0__DefaultPrice__OutputPerMillion=0.6
  exec ${pin_cmd[@]+"${pin_cmd[@]}"} dotnet AiHub.dll
) >"$run/aihub.log" 2>&1 &
aihub_pid=$!
deadline=$((SECONDS + 120))
until curl -sf "$base/health/ready" >/dev/null; do
  if ! kill -0 "$aihub_pid" 2>/dev/null || ((SECONDS > deadline)); then
    log "ERROR: AiHub did not become ready; its log ends with:"
    tail -n 20 "$run/aihub.log" >&2
    exit 1
  fi
  sleep 0.5
done
log "AiHub on $base (pid $aihub_pid${pin_cmd[*]:+, ${pin_cmd[*]}}), $database"

# --- set-up through the HTTP API ------------------------------------------------------------------------------------
token=""
api() { # METHOD PATH [JSON]: the answer's body; fails on a non-2xx status
  local out status
  out=$(mktemp)
  status=$(curl -s -o "$out" -w '%{http_code}' -X "$1" "$base$2" -H 'content-type: application/json' \
    ${token:+-H "authorization: Bearer $token"} ${3:+--data "$3"})
  if [[ $status != 2* ]]; then log "ERROR: $1 $2 answered $status: $(head -c 400 "$out")"; rm -f "$out"; return 1; fi
  cat "$out"; rm -f "$out"
}
sign_in() { token=$(api POST /api/auth/login "$(jq -nc --arg e "$email" --arg p "$password" '{email: $e, password: $p}')" | jq -r .accessToken); }

api POST /api/auth/register "$(jq -nc --arg e "$email" --arg p "$password" '{email: $e, password: $p, displayName: "Gateway benchmark"}')" >/dev/null
code=""
for _ in $(seq 1 300); do
  code=$(cat "$run"/mail/*.eml 2>/dev/null | grep -oE '\b[0-9]{6}\b' | head -n 1 || true)
  [[ -n $code ]] && break
  sleep 0.1
done
[[ -n $code ]] || { log "ERROR: no verification code arrived in $run/mail"; exit 1; }
api POST /api/auth/verify-email "$(jq -nc --arg e "$email" --arg c "$code" '{email: $e, code: $c}')" >/dev/null
sign_in
org=$(api POST /api/orgs '{"name":"Gateway benchmark"}' | jq -r .id)
# No question quota: the gateway counts each call against the plan's chat questions.
api PUT "/api/admin/orgs/$org/plan" '{"code":"ENTERPRISE"}' >/dev/null
account=$(api GET "/api/orgs/$org/credits/balance" | jq -r .accountId)
api POST /api/admin/credits/adjust "$(jq -nc --arg a "$account" --argjson n "$grant" '{accountId: $a, amount: $n, reason: "gateway benchmark"}')" >/dev/null
key_json=$(api POST "/api/orgs/$org/api-keys" "$(jq -nc --argjson r "$rate_limit" --argjson b "$budget" \
  '{name: "gateway benchmark", permissions: ["chat:use"], rateLimitPerMinute: $r, monthlyBudgetCredits: $b}')")
key_id=$(jq -r .key.id <<<"$key_json")
secret=$(jq -r .secret <<<"$key_json")
log "org $org funded with $grant credits; key $key_id: $rate_limit requests a minute, budget $budget credits a month"

# --- the harness ------------------------------------------------------------------------------------------------
started=$(date -u +%H:%M:%S)
log "load before the run: $(uptime)"
set +e
(
  cd "$peers"
  TARGET_NAME=aihub TARGET_PID=$aihub_pid TARGET_URL="$base/v1/chat/completions" \
    TARGET_HEADERS="Authorization: Bearer $secret" ./run.sh $targets
) | tee "$run/harness.out"
harness_rc=${PIPESTATUS[0]}
set -e
log "load after the run: $(uptime)"
out=$(sed -n 's/^results in //p' "$run/harness.out" | tail -n 1)
if [[ -n $out ]]; then out="$peers/$out"; else out="$peers/results/failed-$(date +%Y%m%d-%H%M%S)"; mkdir -p "$out"; fi
((harness_rc == 0)) || log "the harness failed (exit $harness_rc); checking the money anyway"

# --- the money ------------------------------------------------------------------------------------------------------
sign_in
# Usage records and settlements may be written in batches and leases closed when idle: wait until they are still.
previous=""
for _ in $(seq 1 60); do
  usage=$(api GET "/api/orgs/$org/api-keys/$key_id/usage")
  balance=$(api GET "/api/orgs/$org/credits/balance")
  now="$(jq -c .total <<<"$usage") $(jq -c '[.balanceMicros, .reservedMicros]' <<<"$balance")"
  [[ $now == "$previous" && $(jq .reservedMicros <<<"$balance") == 0 ]] && break
  previous=$now
  sleep 2
done
# Every request the route handled, by status, as ASP.NET Core counted them: the independent count of calls.
curl -sf "$base/metrics" | grep '^http_server_request_duration_seconds_count{' | grep 'http_route="/v1/chat/completions"' >"$out/aihub-requests.txt" || true
by_status=$(sed -n 's/.*http_response_status_code="\([0-9]*\)".* \([0-9][0-9]*\)$/\1 \2/p' "$out/aihub-requests.txt" | awk '{ n[$1] += $2 } END { for (s in n) printf "%s:%d ", s, n[s] }')
# A 200 has one record (Succeeded; Incomplete when the stream was cut; Cancelled when the client left after the first
# event), a 5xx after the hold one (Failed); a 499 (the client left first) one only when its call was under way; a 4xx
# refusal none. So: every answer is recorded (answers <= records) and no record lacks a request (records <= requests).
status_counts=$(sed -n 's/.*http_response_status_code="\([0-9]*\)".* \([0-9][0-9]*\)$/\1 \2/p' "$out/aihub-requests.txt")
answers=$(awk '$1 == 200 || $1 ~ /^5/ { n += $2 } END { printf "%d\n", n }' <<<"$status_counts")
requests=$(awk '$1 == 200 || $1 ~ /^5/ || $1 == 499 { n += $2 } END { printf "%d\n", n }' <<<"$status_counts")
reserved=$(jq .reservedMicros <<<"$balance")
spent=$(($(jq -n --argjson g "$grant" '$g * 1000000') - $(jq .balanceMicros <<<"$balance")))
stop_aihub
verify_rc=0
(cd "$work/gateway-app" && dotnet AiHub.dll ledger verify) >"$run/ledger-verify.txt" 2>&1 || verify_rc=$?
# The records themselves, read after the process stopped (so nothing is left in a batch): by status, and how many calls they name.
sql="SELECT status, COUNT(*), COUNT(DISTINCT idempotency_key), COALESCE(SUM(cost_micros), 0) FROM usage_records GROUP BY status ORDER BY status"   # the database is this run's own
if [[ -n $postgres ]]; then
  records_by_status=$(pg_psql -d "$pg_db" -F ' ' -c "$sql")
else
  records_by_status=$(sqlite3 -separator ' ' "$run/aihub.db" "$sql")
fi
records=$(awk '{ n += $2 } END { printf "%d\n", n }' <<<"$records_by_status")
distinct=$(awk '{ n += $3 } END { printf "%d\n", n }' <<<"$records_by_status")
cost=$(awk '{ n += $4 } END { printf "%d\n", n }' <<<"$records_by_status")
cp "$run/aihub.log" "$out/aihub-process.log" 2>/dev/null || true

verdict=pass
report="$run/money.txt"
check() { # NAME DETAIL STATUS
  printf -- '- %s: %s (%s)\n' "$1" "$([[ $3 == 0 ]] && echo ok || echo FAILED)" "$2" >>"$report"
  [[ $3 == 0 ]] || verdict=FAILED
}
echo "== money check, $database, run started $started UTC" >"$report"
check "one usage record per call" "$records records for $answers answers and $requests requests past the key ($(tr '\n' ',' <<<"$records_by_status" | sed 's/,$//; s/,/; /g'): status, records, calls, micro-credits; requests by status: ${by_status% })" \
  "$([[ $answers -gt 0 && $answers -le $records && $records -le $requests && $records == "$distinct" ]]; echo $?)"
check "credits spent = cost of the records" "spent $spent, records cost $cost micro-credits" "$([[ $spent == "$cost" ]]; echo $?)"
check "no hold left open" "reserved $reserved micro-credits" "$([[ $reserved == 0 ]]; echo $?)"
check "ledger verify" "$(tail -n 1 "$run/ledger-verify.txt")" "$verify_rc"
echo "money check: $verdict" >>"$report"
tee -a "$out/notes.txt" <"$report"
log "results in $out"
[[ $verdict == pass && $harness_rc == 0 ]]
