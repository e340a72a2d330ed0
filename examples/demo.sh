#!/usr/bin/env bash
# The Palisade demo (`make demo`, after the build): every scenario in this folder runs as a
# simulated cluster in network namespaces (`palisade sandbox`): one namespace per node with a
# `palisade agent` enforcing the policies, one per pod and per outside host. For each scenario it
# prints what the policy means, then the reachability matrix measured with real packets; the
# sandbox compares that matrix with `palisade analyze` and fails on any difference.
#
# Each scenario's first lines say what to show:   # demo: <one sentence>
#                                                  # demo-args: <palisade sandbox options>
# Extra arguments are passed to every run (e.g. `examples/demo.sh --no-agents`).
# Exit status: 0 when every scenario ran and matched, 1 otherwise, 2 when it cannot run here.
set -uo pipefail
here=$(cd "$(dirname "$0")" && pwd)
root=$(dirname "$here")
palisade="$root/bin/palisade"

if [ "$(id -u)" != 0 ]; then
  echo "the demo builds network namespaces and iptables rules inside them: run \`sudo make demo\`" >&2
  exit 2
fi
if [ ! -f "$root/dist/agent/cli/main.js" ]; then
  echo "palisade is not built: run \`make build\` (or \`make demo\`, which builds first)" >&2
  exit 2
fi

bold=$'\e[1m' reset=$'\e[0m'
if [ ! -t 1 ] || [ -n "${NO_COLOR:-}" ]; then bold='' reset=''; fi

failed=()
count=0
start=$SECONDS
for scenario in "$here"/[0-9][0-9]-*.yaml; do
  name=$(basename "$scenario" .yaml)
  sentence=$(sed -n 's/^# demo: //p' "$scenario")
  read -r -a args <<<"$(sed -n 's/^# demo-args: //p' "$scenario")"
  printf '\n%s== %s%s\n%s\n\n' "$bold" "$name" "$reset" "$sentence"
  count=$((count + 1))
  if ! "$palisade" sandbox "$scenario" --quiet "${args[@]}" "$@"; then
    failed+=("$name")
  fi
done

printf '\n%d scenarios in %d s' "$count" $((SECONDS - start))
if [ ${#failed[@]} -gt 0 ]; then
  printf ', %d failed: %s\n' ${#failed[@]} "${failed[*]}"
  exit 1
fi
case " $* " in
*" --no-agents "*) printf ', all ran (--no-agents: nothing enforced)\n' ;;
*) printf ', all enforced exactly as `palisade analyze` computes\n' ;;
esac
