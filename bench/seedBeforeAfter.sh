#!/usr/bin/env bash
# bench/seedBeforeAfter.sh <base-ref> [rounds] — `npm run seed` here against <base-ref>, in one run.
#
# Checks <base-ref> out beside this tree (a git worktree sharing node_modules), then alternates the
# two trees round by round, each seeding $BENCH_SEED_LEADS leads (default 2000, seed 7) into a
# fresh store: SQLite (a new data directory), and PostgreSQL when BENCH_SEED_POSTGRES=1 (a new
# schema of DATABASE_URL, default postgres://postgres@127.0.0.1:5432/test, dropped afterwards).
# Prints every round, the medians and the ratio this tree / base of the events written per second,
# and the seconds the read models took to catch up after the last write (this tree prints them;
# for the base they are its total minus its generation time). Shared machines are noisy: trust the
# medians of several rounds, never one run.
set -euo pipefail
base_ref=${1:?usage: bench/seedBeforeAfter.sh <base-ref> [rounds]}
rounds=${2:-3}
leads=${BENCH_SEED_LEADS:-2000}
database_url=${DATABASE_URL:-postgres://postgres@127.0.0.1:5432/test}
here=$(git rev-parse --show-toplevel)
work=$(mktemp -d /tmp/crm-seed-before-after.XXXXXX)
trap 'git -C "$here" worktree remove --force "$work/base" >/dev/null 2>&1 || true; rm -rf "$work"' EXIT
git -C "$here" worktree add --detach "$work/base" "$base_ref" >/dev/null 2>&1
ln -s "$here/node_modules" "$work/base/node_modules"

drop_schema() {
  (cd "$here" && node -e 'const pg = require("pg"); const c = new pg.Client(process.argv[1]);
    c.connect().then(() => c.query(`DROP SCHEMA IF EXISTS ${process.argv[2]} CASCADE`)).finally(() => c.end());' "$database_url" "$1")
}

# Prints "<events per second> <catch-up seconds>" for one fresh seed of tree $1 on store $2.
seed_once() {
  local tree=$1 store=$2 data schema line
  data=$(mktemp -d "$work/data.XXXXXX")
  schema="seed_ab_$RANDOM$RANDOM"
  if [ "$store" = postgres ]; then
    line=$(cd "$tree" && CRM_EVENT_STORE=postgres CRM_READ_STORE=postgres DATABASE_URL=$database_url CRM_PG_SCHEMA=$schema \
      CRM_DATA_DIR=$data npm run --silent seed -- --leads "$leads" --seed 7 2>/dev/null | tail -1)
    drop_schema "$schema"
  else
    line=$(cd "$tree" && CRM_DATA_DIR=$data npm run --silent seed -- --leads "$leads" --seed 7 2>/dev/null | tail -1)
  fi
  rm -rf "$data"
  node -e 'const r = JSON.parse(process.argv[1]);
    console.log(r.eventsPerSecond ?? Math.round(r.events / r.generateSeconds), (r.catchUpSeconds ?? r.totalSeconds - r.generateSeconds).toFixed(1));' "$line"
}

median() { printf '%s\n' "$@" | sort -n | awk '{a[NR]=$1} END {print (NR%2 ? a[(NR+1)/2] : (a[NR/2]+a[NR/2+1])/2)}'; }

stores=(sqlite)
[ "${BENCH_SEED_POSTGRES:-0}" = 1 ] && stores+=(postgres)
for store in "${stores[@]}"; do
  declare -a rb=() rt=() cb=() ct=()
  for round in $(seq 1 "$rounds"); do
    read -r rate catch <<<"$(seed_once "$work/base" "$store")"; rb+=("$rate"); cb+=("$catch")
    read -r rate catch <<<"$(seed_once "$here" "$store")"; rt+=("$rate"); ct+=("$catch")
    echo "$store round $round: events/s base ${rb[-1]} this ${rt[-1]}; catch-up s base ${cb[-1]} this ${ct[-1]}"
  done
  mb=$(median "${rb[@]}"); mt=$(median "${rt[@]}")
  echo "$store median events/s ($leads leads): base $mb, this $mt, ratio $(awk -v a="$mt" -v b="$mb" 'BEGIN {printf "%.2f", a/b}');" \
    "median catch-up s: base $(median "${cb[@]}"), this $(median "${ct[@]}")"
done
