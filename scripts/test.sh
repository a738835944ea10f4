#!/usr/bin/env bash
# The whole suite, from a fresh Debian machine or a warm one: installs what is missing, starts PostgreSQL
# (with pgvector), Redis, an S3-compatible server and the test embedding server on loopback, runs the unit, integration and
# end-to-end tests, and stops what it started.
set -euo pipefail

root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$root"
# shellcheck source=lib/common.sh
source scripts/lib/common.sh
# shellcheck source=lib/postgres.sh
source scripts/lib/postgres.sh
# shellcheck source=lib/redis.sh
source scripts/lib/redis.sh
# shellcheck source=lib/embed.sh
source scripts/lib/embed.sh
# shellcheck source=lib/s3.sh
source scripts/lib/s3.sh

configuration=${AIHUB_TEST_CONFIGURATION:-Release}
run_dir="$root/.test-run"
results="$root/artifacts/test-results"
export AIHUB_TEST_ARTIFACTS="$root/artifacts/e2e"
export AIHUB_TEST_NODE="$root/tests/fixtures/node"
export DOTNET_CLI_TELEMETRY_OPTOUT=1 DOTNET_NOLOGO=1 DOTNET_SKIP_FIRST_TIME_EXPERIENCE=1

stop_services() {
  embed_stop
  s3_stop
  redis_stop
  pg_stop
}
trap stop_services EXIT

started=$SECONDS
log "installing what is missing (apt: Chromium, fonts, aiosmtpd, ffmpeg, pocketsphinx, flite, PostgreSQL 15, pgvector 0.8, Redis, Node.js test clients, the embedding model)"
ensure_apt_packages ca-certificates curl jq python3 python3-aiosmtpd chromium fonts-liberation ffmpeg pocketsphinx pocketsphinx-en-us flite
ensure_postgres_with_pgvector
ensure_redis
ensure_node_clients tests/fixtures/node

rm -rf "$results" "$AIHUB_TEST_ARTIFACTS"
mkdir -p "$run_dir" "$results" "$AIHUB_TEST_ARTIFACTS"
pg_start "$run_dir"
redis_start "$run_dir"
embed_start "$run_dir"
s3_start "$run_dir"
log "services ready after $((SECONDS - started)) s"

log "building ($configuration)"
dotnet build AiHub.slnx -c "$configuration" -warnaserror -nologo -clp:ErrorsOnly

projects=(AiHub.Tests AiHub.IntegrationTests AiHub.EndToEndTests)
status=0
for project in "${projects[@]}"; do
  log "running $project"
  dotnet test "tests/$project/$project.csproj" -c "$configuration" --no-build --nologo \
    --logger "trx;LogFileName=$project.trx" --logger "console;verbosity=normal" \
    --results-directory "$results" || status=1
done

log "screenshots and other artifacts: ${AIHUB_TEST_ARTIFACTS#"$root"/}; test results: ${results#"$root"/}"
log "whole run: $((SECONDS - started)) s"
# One closing line over every project, from the result files themselves.
python3 - "$results" "$status" "${#projects[@]}" <<'PY'
import glob, sys, xml.etree.ElementTree as ET
ns = "{http://microsoft.com/schemas/VisualStudio/TeamTest/2010}"
passed = failed = skipped = files = 0
for path in glob.glob(sys.argv[1] + "/*.trx"):
    counters = ET.parse(path).getroot().find(f"{ns}ResultSummary/{ns}Counters")
    files += 1
    passed += int(counters.get("passed", 0))
    failed += int(counters.get("failed", 0)) + int(counters.get("error", 0)) + int(counters.get("timeout", 0)) + int(counters.get("aborted", 0))
    skipped += int(counters.get("notExecuted", 0)) + int(counters.get("inconclusive", 0))
if files < int(sys.argv[3]) and failed == 0:
    failed = 1  # a test project that crashed before writing its results is a failure, not a silence
print(f"{passed} passed, {failed} failed, {skipped} skipped")
sys.exit(1 if failed or sys.argv[2] != "0" else 0)
PY
