#!/usr/bin/env bash
# Embedding throughput: starts the test embedding server (Universal Sentence Encoder lite, tests/fixtures/embed-server)
# on a free loopback port, runs the embedding driver against it (SQLite in a temporary folder), then stops the server.
# Arguments go to the driver, e.g.
#   bench/embed.sh --texts 256 --batch 64 --words 34 --rounds 5
set -euo pipefail

root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$root"
source scripts/lib/common.sh
source scripts/lib/embed.sh

log "building (Release)"
dotnet build -c Release bench/AiHub.Benchmarks -v quiet -nologo >/dev/null

run=$(mktemp -d)
stop() {
  embed_stop
  rm -rf "$run"
}
trap stop EXIT
embed_start "$run"

dotnet bench/AiHub.Benchmarks/bin/Release/net10.0/AiHub.Benchmarks.dll embed --endpoint "$AIHUB_TEST_EMBEDDINGS" "$@"
