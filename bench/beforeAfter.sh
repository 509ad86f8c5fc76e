#!/usr/bin/env bash
# bench/beforeAfter.sh <base-ref> [rounds] — what a change costs, measured in one run.
#
# Checks <base-ref> out beside this tree (a git worktree sharing node_modules), then alternates,
# round by round, the two trees on the same machine at the same time of day:
#   - `npm run bench -- --only $BENCH_CAPTURE_PART` (captureLead, the default, or
#     captureLeadPostgres; HTTP, 50 connections; BENCH_DURATION, default 10 s): req/s and the
#     server's CPU time per request. On PostgreSQL each run starts after a CHECKPOINT and a 5 s
#     pause: the run before it leaves its dropped schema for the server to write out, and the
#     second run of a round was the slower one whichever tree it was;
#   - unless BENCH_REPLAY=off, `npm run replay` on a data set each tree generated itself with the
#     same seed (`npm run seed -- --leads $BENCH_REPLAY_LEADS`, default 3000).
# Prints every round and the medians, the ratio this tree / base of the medians, and the median of
# the ratios within each round. Shared machines are noisy:
# trust the medians of several rounds, never one run.
set -euo pipefail
base_ref=${1:?usage: bench/beforeAfter.sh <base-ref> [rounds]}
rounds=${2:-3}
leads=${BENCH_REPLAY_LEADS:-3000}
part=${BENCH_CAPTURE_PART:-captureLead}
replay=${BENCH_REPLAY:-on}
here=$(git rev-parse --show-toplevel)
work=$(mktemp -d /tmp/crm-before-after.XXXXXX)
trap 'git -C "$here" worktree remove --force "$work/base" >/dev/null 2>&1 || true; rm -rf "$work"' EXIT
git -C "$here" worktree add --detach "$work/base" "$base_ref" >/dev/null 2>&1
ln -s "$here/node_modules" "$work/base/node_modules"

seed() { (cd "$1" && CRM_DATA_DIR="$2" npm run --silent seed -- --leads "$leads" --seed 7 >/dev/null 2>&1); }
settle_postgres() {
  [[ $part == captureLeadPostgres ]] || return 0
  # Best effort: CHECKPOINT wants a superuser (or pg_checkpoint); the pause is what matters most.
  node -e 'const { Client } = require("pg");
    const client = new Client({ connectionString: process.env.DATABASE_URL ?? "postgres://postgres@127.0.0.1:5432/test" });
    client.connect().then(() => client.query("CHECKPOINT")).catch(() => undefined).finally(() => client.end())' || true
  sleep 5
}
capture_rate() {
  # Prints "req/s server-CPU-ms-per-request" of one run of the capture part.
  settle_postgres
  (cd "$1" && npm run --silent bench -- --only "$part" >/dev/null 2>&1 &&
    node -e 'const r = require("./bench/results/latest.json").results[process.argv[1]];
      console.log(r.requestsPerSec.toFixed(0), (r.serverCpuMsPerRequest ?? NaN).toFixed(3))' "$part")
}
replay_rate() {
  # Off: a placeholder keeps the rounds' arrays in step; nothing prints it.
  if [[ $replay == off ]]; then echo 1; return; fi
  (cd "$1" && CRM_DATA_DIR="$2" npm run --silent replay 2>&1) | grep -Eo '\(([0-9,]+) events/s\)' | tr -d '(),' | awk '{print $1}'
}

if [[ $replay != off ]]; then
  echo "seeding $leads leads in each tree..." >&2
  seed "$work/base" "$work/data-base"
  seed "$here" "$work/data-this"
fi

declare -a cb ct ub ut rb rt pc pu pr
for round in $(seq 1 "$rounds"); do
  # Who goes first alternates: a machine warming up or slowing down within a round favours neither.
  if (( round % 2 )); then
    read -r c u < <(capture_rate "$work/base"); cb+=("$c"); ub+=("$u")
    read -r c u < <(capture_rate "$here"); ct+=("$c"); ut+=("$u")
    rb+=("$(replay_rate "$work/base" "$work/data-base")"); rt+=("$(replay_rate "$here" "$work/data-this")")
  else
    read -r c u < <(capture_rate "$here"); ct+=("$c"); ut+=("$u")
    read -r c u < <(capture_rate "$work/base"); cb+=("$c"); ub+=("$u")
    rt+=("$(replay_rate "$here" "$work/data-this")"); rb+=("$(replay_rate "$work/base" "$work/data-base")")
  fi
  # Ratios within a round: the two trees ran minutes apart, so a drift in the machine's load
  # over the whole run weighs less on them than on the ratio of medians.
  pc+=("$(awk -v a="${ct[-1]}" -v b="${cb[-1]}" 'BEGIN {printf "%.3f", a/b}')")
  pu+=("$(awk -v a="${ut[-1]}" -v b="${ub[-1]}" 'BEGIN {printf "%.3f", a/b}')")
  pr+=("$(awk -v a="${rt[-1]}" -v b="${rb[-1]}" 'BEGIN {printf "%.3f", a/b}')")
  replayed=""
  [[ $replay == off ]] || replayed="; replay events/s base ${rb[-1]} this ${rt[-1]} (${pr[-1]})"
  echo "round $round: $part req/s base ${cb[-1]} this ${ct[-1]} (${pc[-1]}), server CPU ms/req base ${ub[-1]} this ${ut[-1]} (${pu[-1]})$replayed"
done
median() { printf '%s\n' "$@" | sort -g | awk '{a[NR]=$1} END {print (NR%2 ? a[(NR+1)/2] : (a[NR/2]+a[NR/2+1])/2)}'; }
ratio() { awk -v a="$1" -v b="$2" 'BEGIN {printf "%.3f", a/b}'; }
mcb=$(median "${cb[@]}"); mct=$(median "${ct[@]}"); mub=$(median "${ub[@]}"); mut=$(median "${ut[@]}")
mrb=$(median "${rb[@]}"); mrt=$(median "${rt[@]}")
echo "median $part req/s:          base $mcb, this $mct, ratio $(ratio "$mct" "$mcb"), median of round ratios $(median "${pc[@]}")"
echo "median server CPU ms per request:  base $mub, this $mut, ratio $(ratio "$mut" "$mub"), median of round ratios $(median "${pu[@]}")"
[[ $replay == off ]] || echo "median replay events/s:            base $mrb, this $mrt, ratio $(ratio "$mrt" "$mrb"), median of round ratios $(median "${pr[@]}")"
