#!/usr/bin/env bash
# run-shards.sh: cardbatch over N API tokens with GNU parallel, on local
# slots or on several hosts (--sshlogin), then one merged output and bill.
#
#   run-shards.sh N INPUT WORKDIR [cardbatch run flags...]
#
# Shard K (0 <= K < N) runs `cardbatch run --shard K/N` with its own token,
# read from $TOKEN_DIR/token-K (mode 0600), its own checkpoint and output in
# WORKDIR/shard-K/, and the run flags given (for instance --rate 20, each
# token's rate). Then `cardbatch merge` writes WORKDIR/merged.csv (or
# $MERGED) and its summary.
#
# Environment:
#   CARDBATCH_HMAC_KEY  required: the row key, the same for every shard
#   TOKEN_DIR           the folder of token-0 ... token-(N-1) (default WORKDIR/tokens)
#   SSHLOGIN            parallel's --sshlogin list, e.g. "host1,host2" or "2/host1,2/host2"
#                       (default ":", this machine); INPUT, WORKDIR and TOKEN_DIR must
#                       then be at the same path on every host (a shared file system)
#   CARDBATCH           the cardbatch program (default: cardbatch on PATH)
#   MERGED              the merged output (default WORKDIR/merged.csv)
#
# Each shard's exit is in WORKDIR/joblog. Run the script again after a
# failure: shards that finished are not run again (--resume-failed), the
# others resume from their checkpoints without paying twice.
set -euo pipefail

if [ $# -lt 3 ]; then
	sed -n '2,12p' "$0" >&2
	exit 2
fi
n=$1 input=$2 work=$3
shift 3
case $n in '' | *[!0-9]* | 0)
	echo "run-shards.sh: N must be a positive number, not '$n'" >&2
	exit 2
	;;
esac
if [ -z "${CARDBATCH_HMAC_KEY:-}" ]; then
	echo "run-shards.sh: set CARDBATCH_HMAC_KEY (the same on every shard), e.g. export CARDBATCH_HMAC_KEY=\$(openssl rand -hex 32), and keep it for resumes" >&2
	exit 2
fi
export CARDBATCH_HMAC_KEY
cardbatch=${CARDBATCH:-cardbatch}
tokens=${TOKEN_DIR:-$work/tokens}
merged=${MERGED:-$work/merged.csv}
for ((k = 0; k < n; k++)); do
	if [ ! -r "$tokens/token-$k" ]; then
		echo "run-shards.sh: no token for shard $k: put it in $tokens/token-$k (chmod 600)" >&2
		exit 2
	fi
	mkdir -p "$work/shard-$k"
done

# One job per shard; -j N runs every shard at once on each host (a shard's
# speed is its token's rate, not the host's CPU). --env passes the key to
# remote hosts; -q passes each argument as it is. {} is the shard number.
status=0
seq 0 $((n - 1)) | parallel --will-cite -q --sshlogin "${SSHLOGIN:-:}" -j "$n" --env CARDBATCH_HMAC_KEY \
	--joblog "$work/joblog" --resume-failed --tagstring 'shard {}' --line-buffer \
	"$cardbatch" run --input "$input" --output "$work/shard-{}/out.csv" --shard "{}/$n" \
	--token-file "$tokens/token-{}" --no-progress "$@" || status=$?
if [ "$status" -ne 0 ]; then
	echo "run-shards.sh: $status shard(s) did not finish (exit codes in $work/joblog); run this script again to resume them" >&2
	exit 1
fi

checkpoints=()
for ((k = 0; k < n; k++)); do
	checkpoints+=("$work/shard-$k/out.csv.checkpoint.db")
done
exec "$cardbatch" merge --input "$input" --output "$merged" "${checkpoints[@]}"
