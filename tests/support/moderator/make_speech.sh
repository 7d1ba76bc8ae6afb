#!/bin/sh
# Regenerates speech.ogg (committed: 21 s, ~64 KB), the moderator's speech fixture.
# Needs espeak-ng and ffmpeg (with libopus); output differs slightly across versions.
set -eu
here=$(dirname "$0")
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
espeak-ng -v en-us -s 165 -g 2 -w "$tmp/speech.wav" \
  "Good morning everyone, and thank you for joining the quarterly review. Today I will walk you through the numbers for the last three months, then we will look at the plans for the next quarter. Sales grew in every region, and the new product line did better than we expected. Please hold your questions until the end of the talk."
ffmpeg -hide_banner -loglevel error -y -i "$tmp/speech.wav" -c:a libopus -b:a 24k -ac 1 \
  "$here/speech.ogg"
