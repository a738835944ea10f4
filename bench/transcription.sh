#!/usr/bin/env bash
# Offline transcription speed against real time: speaks about 60 s of sentences with flite (voice awb), then times the
# pocketsphinx transcriber with one process, the whole run pinned to one core with taskset. Extra arguments go to the
# driver, e.g. bench/transcription.sh --runs 7
set -euo pipefail

root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$root"
source scripts/lib/common.sh

for tool in flite ffmpeg pocketsphinx_continuous taskset; do
  command -v "$tool" >/dev/null || { echo "$tool is missing: install ffmpeg, flite, pocketsphinx and pocketsphinx-en-us" >&2; exit 1; }
done

log "building (Release)"
dotnet build -c Release bench/AiHub.Benchmarks -v quiet -nologo >/dev/null

run=$(mktemp -d)
trap 'rm -rf "$run"' EXIT

sentences=(
  "The weather is nice today and the sun is warm."
  "Please open the door and close the window."
  "We will meet at the train station tomorrow morning."
  "My sister likes to read books about history."
  "The children are playing in the park after school."
  "He bought some bread and milk at the store."
  "It is going to rain later this afternoon."
  "They moved to a new house near the river last year."
  "Can you tell me the way to the library."
  "The meeting will start at nine in the morning."
  "She walked her dog along the beach at night."
  "We had a good dinner with our friends on Friday."
)
ffmpeg -hide_banner -loglevel error -f lavfi -i anullsrc=r=16000:cl=mono -t 2 -c:a pcm_s16le "$run/pause.wav"
: >"$run/list.txt"
for i in "${!sentences[@]}"; do
  flite -voice awb -t "${sentences[$i]}" -o "$run/s$i.raw.wav"
  ffmpeg -hide_banner -loglevel error -i "$run/s$i.raw.wav" -ac 1 -ar 16000 -c:a pcm_s16le "$run/s$i.wav"
  printf "file '%s'\nfile '%s'\n" "$run/s$i.wav" "$run/pause.wav" >>"$run/list.txt"
done
ffmpeg -hide_banner -loglevel error -f concat -safe 0 -i "$run/list.txt" -ac 1 -ar 16000 -c:a pcm_s16le "$run/speech.wav"
log "speech: $(ffprobe -v error -show_entries format=duration -of csv=p=0 "$run/speech.wav") s"

uptime
taskset -c 0 dotnet bench/AiHub.Benchmarks/bin/Release/net10.0/AiHub.Benchmarks.dll transcribe --wav "$run/speech.wav" --clock-ticks "$(getconf CLK_TCK)" "$@"
