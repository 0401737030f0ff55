# cardbatch — the two commands of the README are `make run` and `make test`.
GO      ?= go
BIN     := bin/cardbatch
VERSION := $(shell git describe --tags --always --dirty 2>/dev/null || echo dev)
export CGO_ENABLED := 1

.PHONY: all build run test vet race bench fuzz clean

all: build

build:
	$(GO) build -ldflags "-X main.version=$(VERSION)" -o $(BIN) .

# Enrich the sample file on the built-in simulator (no token, no network).
# Running it twice shows a resume: the second run sends nothing.
run: build
	@mkdir -p out
	$(BIN) run --simulate --simulate-faults busy-prob=0.05,429-prob=0.02,500-prob=0.01 --retry-base 200ms \
		--input samples/cards.csv --output out/enriched.csv --rate 100 --no-progress
	@echo
	@echo "output:  out/enriched.csv (first rows below)"
	@head -n 6 out/enriched.csv
	@echo "summary: out/enriched.csv.summary.json"

vet:
	$(GO) vet ./...

test: vet
	$(GO) test -race -count=1 -timeout 20m ./...

# Each fuzz target in turn for FUZZTIME (seed corpora in each package's
# testdata/fuzz/<Name>/; a failure is written there and fails the target).
FUZZTIME ?= 20s
fuzz:
	$(GO) test -run '^$$' -fuzz '^FuzzCSV$$' -fuzztime $(FUZZTIME) ./sources/
	$(GO) test -run '^$$' -fuzz '^FuzzNormalize$$' -fuzztime $(FUZZTIME) ./cardnum/
	$(GO) test -run '^$$' -fuzz '^FuzzDecode$$' -fuzztime $(FUZZTIME) ./cardapi/
	$(GO) test -run '^$$' -fuzz '^FuzzScanAnswer$$' -fuzztime $(FUZZTIME) ./cardapi/

clean:
	rm -rf bin out

# The side-by-side benchmark of issue 6: builds cardbatch and the hand-written
# client, runs every scenario BENCH_RUNS times, prints one Markdown table and
# writes it to bench/results/latest.md. BENCH_FLAGS=-quick is a smoke run;
# BENCH_FLAGS="-only a,b" runs some scenarios only. Python aiohttp and GNU
# parallel + curl are measured when installed (apt-get install python3-aiohttp parallel curl).
BENCH_RUNS  ?= 3
BENCH_FLAGS ?=
bench: build
	$(GO) build -o bin/handclient ./bench/handclient
	$(GO) run ./bench/cmd/benchtable -runs $(BENCH_RUNS) $(BENCH_FLAGS)

# 100 random SIGKILLs over a run against the simulator with faults (busy,
# 429, 500, drops, charged drops), each resumed; checks the output against
# an uninterrupted run's and the ledger against the summary (extra charges
# <= in_doubt). Takes a few minutes; not part of `make test`.
soak:
	$(GO) run ./tools/soak
