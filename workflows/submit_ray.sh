#!/usr/bin/env bash
# Workflow 3: run workflow 1 or 2 as a Ray job (`ntscale submit`).
#
#   workflows/submit_ray.sh embed|score            # a private one-node Ray cluster on this
#                                                  # machine, started and stopped here
#   RAY_ADDRESS=http://HEAD:8265 workflows/submit_ray.sh embed|score   # an existing cluster
#
# The job is the same `ntscale embed|score --config workflows/...yaml` command line as a local
# run; `ntscale submit` ships this checkout (--working-dir .) and adds `--ray auto`, so the
# command's Ray executor puts one model actor per CPU slot (per GPU on a GPU cluster).
# On a real cluster, inputs must be at the same path on every node and the output store on
# shared storage (s3://..., gs://..., or a shared file system): see cluster/README.md.
set -euo pipefail
cd "$(dirname "$0")/.."
job="${1:-embed}"
# The job runs in an uploaded copy of this checkout: relative input paths resolve there, but
# the output must outlive the job. OUT: a store on shared storage (default: this checkout's
# out/ folder, by absolute path; right for the private local cluster only).
out="${OUT:-$PWD/out/workflows/$job-ray.zarr}"
case "$job" in
  embed) cmd=(embed --config workflows/embed_genome.yaml --out "$out") ;;
  score) cmd=(score --config workflows/score_variants.yaml --out "$out"
              --vcf-out "${out%.zarr}.vcf.gz" --table-out "${out%.zarr}.tsv") ;;
  *) echo "usage: $0 embed|score" >&2; exit 2 ;;
esac
export RAY_USAGE_STATS_ENABLED=0
extra=()

if [[ -z "${RAY_ADDRESS:-}" ]]; then
  # A private head on loopback with its own ports and temp dir. `ray start --block` stays in
  # the foreground of its subshell and stops the processes it started when it is killed,
  # so this script never touches another Ray on the machine (unlike `ray stop`).
  port=$(python -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
  dash=$(python -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
  tmp=$(mktemp -d /tmp/ntwf.XXXXXX)   # short: Ray's socket paths are length-limited
  mkdir -p out/workflows
  ray start --head --block --node-ip-address 127.0.0.1 --port "$port" \
    --dashboard-host 127.0.0.1 --dashboard-port "$dash" --num-cpus "${NUM_CPUS:-2}" \
    --temp-dir "$tmp" --disable-usage-stats >"$tmp/head.log" 2>&1 &
  head_pid=$!
  stop_head() {
    kill "$head_pid" 2>/dev/null || true   # --block: stops the processes it started
    wait "$head_pid" 2>/dev/null || true
    rm -rf "$tmp"
  }
  trap 'rc=$?; stop_head; exit $rc' EXIT
  export RAY_ADDRESS="http://127.0.0.1:$dash"
  extra=(--env JAX_PLATFORMS=cpu)   # the laptop's CPU; on a GPU cluster JAX finds the GPUs
  for _ in $(seq 120); do
    ntscale jobs list >/dev/null 2>&1 && break
    kill -0 "$head_pid" 2>/dev/null || { cat "$tmp/head.log" >&2; exit 1; }
    sleep 1
  done
fi

echo "submitting to $RAY_ADDRESS: ntscale ${cmd[*]}"
ntscale submit --working-dir . "${extra[@]}" -- "${cmd[@]}"
echo "store: $out"
