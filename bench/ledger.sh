#!/usr/bin/env bash
# Reserve+settle throughput of the credit ledger on a durable PostgreSQL (fsync and synchronous commit on, unlike
# the test cluster), started here on loopback and removed afterwards. Extra arguments go to the run, e.g.
#   bench/ledger.sh --spenders 1,16,200 --accounts 1,1000 --seconds 10
# --path gate drives what a chat call pays by (CreditGate hold then settle, org members on a funded pool) instead of
# the ledger's reserve and settle; --variants plain,capped picks the pool only, or a capped member calling with a
# budgeted API key ("accounts" is then the number of orgs).
set -euo pipefail

root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$root"
source scripts/lib/common.sh
source scripts/lib/postgres.sh

ensure_postgres_with_pgvector
trap pg_stop EXIT
pg_start "$root/.bench-run"
_pg_psql -d postgres -c "ALTER SYSTEM SET fsync = on" -c "ALTER SYSTEM SET synchronous_commit = on" \
  -c "ALTER SYSTEM SET full_page_writes = on" -c "SELECT pg_reload_conf()" >/dev/null
log "durability: fsync=$(_pg_psql -d postgres -Atc 'SHOW fsync'), synchronous_commit=$(_pg_psql -d postgres -Atc 'SHOW synchronous_commit')"

dotnet run -c Release --project bench/AiHub.Benchmarks -- ledger --connection "$AIHUB_TEST_POSTGRES" "$@"
