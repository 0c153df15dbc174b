#!/usr/bin/env bash
# Measures what installing effect-kv costs a new user: time and size of a fresh `npm install` of a packed tarball into
# an empty project, with an empty npm cache (every package downloaded, every native addon built as a user's machine
# would). Usage: scripts/install-cost.sh <effect-kv tarball> <label> [extra packages...]
# Prints one line: "<label>: <seconds> s, <MB> MB in node_modules, <N> packages".
set -euo pipefail
tarball=$(realpath "$1"); label=$2; shift 2
dir=$(mktemp -d); cache=$(mktemp -d)
trap 'rm -rf "$dir" "$cache"' EXIT
cd "$dir"
echo '{ "name": "fresh-user", "version": "1.0.0", "private": true, "type": "module" }' > package.json
start=$(date +%s.%N)
npm install --no-audit --no-fund --cache "$cache" "$tarball" "$@" >install.log 2>&1 || { cat install.log; exit 1; }
end=$(date +%s.%N)
mb=$(du -sm node_modules | cut -f1)
count=$(npm ls --all --parseable 2>/dev/null | sort -u | wc -l)
printf '%s: %.0f s, %s MB in node_modules, %s packages\n' "$label" "$(echo "$end - $start" | bc)" "$mb" "$count"
