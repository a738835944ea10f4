#!/usr/bin/env bash
# Retrieval quality: starts the test embedding server (Universal Sentence Encoder lite, tests/fixtures/embed-server),
# then runs `aihub eval retrieval` over bench/retrieval (ten short guides, forty questions) with that model declared as
# an OpenAI-compatible provider, and stops the server. The evaluation uses a temporary database of its own.
#   bench/retrieval.sh                      # the shipped set
#   bench/retrieval.sh --docs DIR --questions FILE.jsonl
set -euo pipefail

root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$root"
source scripts/lib/common.sh
source scripts/lib/embed.sh

log "building (Release)"
dotnet build -c Release src/AiHub -v quiet -nologo >/dev/null

run=$(mktemp -d)
stop() {
  embed_stop
  rm -rf "$run"
}
trap stop EXIT
embed_start "$run"

args=("$@")
if [ ${#args[@]} -eq 0 ]; then
  args=(--docs "$root/bench/retrieval/docs" --questions "$root/bench/retrieval/questions.jsonl")
fi
cd "$run"
AIHUB_Providers__0__Name=local AIHUB_Providers__0__Kind=OpenAICompatible AIHUB_Providers__0__BaseUrl="$AIHUB_TEST_EMBEDDINGS" \
AIHUB_Providers__0__EmbeddingModels__0=use-lite AIHUB_Providers__0__DefaultPrice__InputPerMillion=0 \
AIHUB_Providers__0__DefaultPrice__OutputPerMillion=0 AIHUB_Database__ConnectionString="Data Source=$run/aihub.db" \
AIHUB_Logging__LogLevel__Default=Warning \
  dotnet "$root/src/AiHub/bin/Release/net10.0/AiHub.dll" eval retrieval "${args[@]}"
