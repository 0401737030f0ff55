#!/bin/sh
# Baseline of `make bench`: GNU parallel + curl, one curl process per card,
# the shell one-liner a user writes. Answers go to OUTPUT as "card<TAB>json".
#
#   ACEDATA_TOKEN=... sh tools/bench/parallel_curl.sh INPUT.csv OUTPUT ENDPOINT JOBS COLUMN
#
# INPUT.csv has a header row and no quoted commas; COLUMN is the card
# column's 1-based index. GNU parallel and curl come from Debian:
# apt-get install parallel curl.
set -eu
input=$1 output=$2 endpoint=$3 jobs=$4 column=$5
tail -n +2 "$input" | cut -d, -f"$column" |
	parallel -j"$jobs" --will-cite --tag -q \
		curl -sS -X POST "$endpoint/identity/bankcard/check-1e" \
		-H "authorization: Bearer $ACEDATA_TOKEN" \
		-H 'content-type: application/json' \
		-d '{"bank_card":"{}"}' -w '\n' >"$output"
