#!/usr/bin/env bash
# bench/beforeAfter.sh <base-ref> [rounds] — what a change costs, measured in one run.
#
# Checks <base-ref> out beside this tree (a git worktree sharing node_modules), then alternates,
# round by round, the two trees on the same machine at the same time of day:
#   - `npm run bench -- --only captureLead` (HTTP, 50 connections; BENCH_DURATION, default 10 s);
#   - `npm run replay` on a data set each tree generated itself with the same seed
#     (`npm run seed -- --leads $BENCH_REPLAY_LEADS`, default 3000).
# Prints every round and the medians, and the ratio this tree / base. Shared machines are noisy:
# trust the medians of several rounds, never one run.
set -euo pipefail
base_ref=${1:?usage: bench/beforeAfter.sh <base-ref> [rounds]}
rounds=${2:-3}
leads=${BENCH_REPLAY_LEADS:-3000}
here=$(git rev-parse --show-toplevel)
work=$(mktemp -d /tmp/crm-before-after.XXXXXX)
trap 'git -C "$here" worktree remove --force "$work/base" >/dev/null 2>&1 || true; rm -rf "$work"' EXIT
git -C "$here" worktree add --detach "$work/base" "$base_ref" >/dev/null 2>&1
ln -s "$here/node_modules" "$work/base/node_modules"

seed() { (cd "$1" && CRM_DATA_DIR="$2" npm run --silent seed -- --leads "$leads" --seed 7 >/dev/null 2>&1); }
capture_rate() {
  (cd "$1" && npm run --silent bench -- --only captureLead >/dev/null 2>&1 &&
    node -e 'console.log(require("./bench/results/latest.json").results.captureLead.requestsPerSec.toFixed(0))')
}
replay_rate() { (cd "$1" && CRM_DATA_DIR="$2" npm run --silent replay 2>&1) | grep -Eo '\(([0-9,]+) events/s\)' | tr -d '(),' | awk '{print $1}'; }

echo "seeding $leads leads in each tree..." >&2
seed "$work/base" "$work/data-base"
seed "$here" "$work/data-this"

declare -a cb ct rb rt
for round in $(seq 1 "$rounds"); do
  cb+=("$(capture_rate "$work/base")"); ct+=("$(capture_rate "$here")")
  rb+=("$(replay_rate "$work/base" "$work/data-base")"); rt+=("$(replay_rate "$here" "$work/data-this")")
  echo "round $round: captureLead req/s base ${cb[-1]} this ${ct[-1]}; replay events/s base ${rb[-1]} this ${rt[-1]}"
done
median() { printf '%s\n' "$@" | sort -n | awk '{a[NR]=$1} END {print (NR%2 ? a[(NR+1)/2] : (a[NR/2]+a[NR/2+1])/2)}'; }
mcb=$(median "${cb[@]}"); mct=$(median "${ct[@]}"); mrb=$(median "${rb[@]}"); mrt=$(median "${rt[@]}")
echo "median captureLead req/s: base $mcb, this $mct, ratio $(awk -v a="$mct" -v b="$mcb" 'BEGIN {printf "%.3f", a/b}')"
echo "median replay events/s:   base $mrb, this $mrt, ratio $(awk -v a="$mrt" -v b="$mrb" 'BEGIN {printf "%.3f", a/b}')"
