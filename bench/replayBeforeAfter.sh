#!/usr/bin/env bash
# bench/replayBeforeAfter.sh <base-ref> [rounds] — `npm run replay` of this tree against <base-ref>,
# on SQLite and on PostgreSQL (events and read models both), in alternating rounds of one run.
#
# Each store gets one data set (`npm run seed -- --leads $BENCH_REPLAY_LEADS --seed 7`, default
# 3000 leads), which both trees rebuild in place in turn: a rebuild resets every read model, and
# the log is the same for both. Reuse data sets with BENCH_REPLAY_SQLITE_DIR (a data directory)
# and BENCH_REPLAY_PG_DIR plus BENCH_REPLAY_PG_SCHEMA (the schema it was seeded into, with
# DATABASE_URL, default postgres://postgres@127.0.0.1:5432/test).
# Prints every round, then the medians: rebuild events/s of each tree, this / base, and this
# tree's rebuild rate as a share of the raw read-and-parse rate it measured in the same run.
set -euo pipefail
base_ref=${1:?usage: bench/replayBeforeAfter.sh <base-ref> [rounds]}
rounds=${2:-3}
leads=${BENCH_REPLAY_LEADS:-3000}
database_url=${DATABASE_URL:-postgres://postgres@127.0.0.1:5432/test}
here=$(git rev-parse --show-toplevel)
work=$(mktemp -d /tmp/crm-replay-before-after.XXXXXX)
trap 'git -C "$here" worktree remove --force "$work/base" >/dev/null 2>&1 || true; rm -rf "$work"' EXIT
git -C "$here" worktree add --detach "$work/base" "$base_ref" >/dev/null 2>&1
ln -s "$here/node_modules" "$work/base/node_modules"

sqlite_dir=${BENCH_REPLAY_SQLITE_DIR:-}
pg_dir=${BENCH_REPLAY_PG_DIR:-}
pg_schema=${BENCH_REPLAY_PG_SCHEMA:-}
pg_env() { echo "CRM_DATA_DIR=$pg_dir CRM_EVENT_STORE=postgres CRM_READ_STORE=postgres DATABASE_URL=$database_url CRM_PG_SCHEMA=$pg_schema"; }
if [ -z "$sqlite_dir" ]; then
  sqlite_dir="$work/data-sqlite"
  echo "seeding $leads leads on SQLite..." >&2
  (cd "$here" && CRM_DATA_DIR="$sqlite_dir" npm run --silent seed -- --leads "$leads" --seed 7 >/dev/null 2>&1)
fi
if [ -z "$pg_dir" ]; then
  pg_dir="$work/data-pg"
  pg_schema="replay_bench_$$"
  echo "seeding $leads leads on PostgreSQL (schema $pg_schema, dropped at the end)..." >&2
  trap 'psql "$database_url" -qc "DROP SCHEMA IF EXISTS $pg_schema CASCADE" >/dev/null 2>&1 || true; git -C "$here" worktree remove --force "$work/base" >/dev/null 2>&1 || true; rm -rf "$work"' EXIT
  (cd "$here" && env $(pg_env) npm run --silent seed -- --leads "$leads" --seed 7 >/dev/null 2>&1)
fi

# One replay: prints "<rebuild events/s> <raw read events/s or ->".
replay() {
  local output
  output=$(cd "$1" && env $2 npm run --silent replay 2>&1 | tr '\r' '\n')
  local rebuilt raw
  rebuilt=$(grep -Eo '\(([0-9,]+) events/s\)' <<<"$output" | tail -1 | tr -d '(),' | awk '{print $1}')
  raw=$(grep -Eo 'read and parsed the log in [0-9.]+ s, [0-9,]+ events/s' <<<"$output" | awk '{print $9}' | tr -d ',')
  echo "$rebuilt ${raw:--}"
}

median() { printf '%s\n' "$@" | sort -g | awk '{a[NR]=$1} END {print (NR%2 ? a[(NR+1)/2] : (a[NR/2]+a[NR/2+1])/2)}'; }

for store in sqlite postgres; do
  if [ "$store" = sqlite ]; then env_of="CRM_DATA_DIR=$sqlite_dir"; else env_of=$(pg_env); fi
  declare -a base=() this=() share=()
  for round in $(seq 1 "$rounds"); do
    read -r b _ <<<"$(replay "$work/base" "$env_of")"
    read -r t raw <<<"$(replay "$here" "$env_of")"
    base+=("$b"); this+=("$t")
    [ "$raw" != - ] && share+=("$(awk -v t="$t" -v r="$raw" 'BEGIN {printf "%.3f", t/r}')")
    echo "$store round $round: rebuild events/s base $b, this $t (raw read $raw, this/raw ${share[-1]:-?})"
  done
  mb=$(median "${base[@]}"); mt=$(median "${this[@]}")
  echo "$store median rebuild events/s: base $mb, this $mt, this/base $(awk -v a="$mt" -v b="$mb" 'BEGIN {printf "%.2f", a/b}'); this/raw read median $(median "${share[@]}")"
done
