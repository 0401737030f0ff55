# cardbatch — the two commands of the README are `make run` and `make test`.
#
#   make build       bin/cardbatch for this machine
#   make test        go vet, then every test with the race detector
#   make fuzz        every fuzz target of the repository in turn, FUZZTIME each
#   make lint        staticcheck over the whole module
#   make portable    type-checks the product for Windows and macOS (go vet, no cgo)
#   make release     static Linux amd64/arm64, Windows amd64 (.exe), SHA256SUMS in dist/
#   make wine-check  the Windows binary under wine must write the Linux binary's output, byte for byte
#   make bench       the side-by-side benchmark (tools/bench; about 10 minutes)
GO      ?= go
BIN     := bin/cardbatch
VERSION := $(shell git describe --tags --always --dirty 2>/dev/null || echo dev)
export CGO_ENABLED := 1

# -buildvcs=auto records the commit (vcs.revision, vcs.modified) for
# `cardbatch version` even where the environment sets GOFLAGS=-buildvcs=false.
GOBUILD := $(GO) build -buildvcs=auto

.PHONY: all build run test vet race bench fuzz fuzz-list lint portable release wine-check soak mutate clean FORCE

all: build

build:
	$(GOBUILD) -ldflags "-X main.version=$(VERSION)" -o $(BIN) .

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

# The black-box tests (e2e/) run after the others, on their own: they measure
# the busiest second of --rate at the simulator, which a machine busy with
# other test packages would blur.
test: vet
	$(GO) test -race -count=1 -timeout 20m $$($(GO) list ./... | grep -v '/e2e$$')
	$(GO) test -race -count=1 -timeout 20m ./e2e/

# Every fuzz target of the repository (each `func FuzzXxx` of a _test.go
# file, found afresh each time) in turn for FUZZTIME; seed corpora in each
# package's testdata/fuzz/<Name>/, where a failure is also written.
FUZZTIME ?= 20s
fuzz:
	GO=$(GO) tools/fuzz-all.sh $(FUZZTIME)

fuzz-list:
	@GO=$(GO) tools/fuzz-all.sh -list

# staticcheck pinned to a release that knows Go 1.26 (2026.2.2); installed
# by .ci/run, or by hand: go install honnef.co/go/tools/cmd/staticcheck@v0.8.2
STATICCHECK ?= $(shell $(GO) env GOPATH)/bin/staticcheck
lint:
	$(STATICCHECK) ./...

# The product (not the Linux-only benchmark rig in tools/) must build for
# Windows and macOS: go vet type-checks it for each, without cgo (go-sqlite3
# then compiles its stub; its C is checked by make release's cross builds).
# It also refuses, in the product's non-test code, `unsafe` and reads of
# /proc (which macOS and Windows lack): neither is caught by type-checking.
PRODUCT_PKGS = $(shell $(GO) list ./... | grep -v '^cardbatch/tools/')
portable:
	@! grep -rn --include='*.go' --exclude='*_test.go' --exclude-dir=tools --exclude-dir=.git \
	    -e '"unsafe"' -e '"/proc' . || { echo "portable: the lines above are not portable (no unsafe, no /proc)" >&2; exit 1; }
	GOOS=windows GOARCH=amd64 CGO_ENABLED=0 $(GO) vet $(PRODUCT_PKGS)
	GOOS=darwin  GOARCH=arm64 CGO_ENABLED=0 $(GO) vet $(PRODUCT_PKGS)
	GOOS=darwin  GOARCH=amd64 CGO_ENABLED=0 $(GO) vet $(PRODUCT_PKGS)

# Release binaries, each stamped with VERSION and its commit, built with cgo
# (go-sqlite3) by Debian's cross compilers:
#   apt-get install gcc gcc-aarch64-linux-gnu libc6-dev-arm64-cross gcc-mingw-w64-x86-64
# The Linux ones are static (glibc's static libraries; netgo and osusergo keep
# glibc's resolver and user lookup, which need shared libraries, out; no
# SQLite extension loading, which needs dlopen); the Windows one links
# libgcc statically, so it needs only the DLLs Windows ships.
DIST          := dist
RELEASE_FLAGS := -trimpath -tags netgo,osusergo,sqlite_omit_load_extension
RELEASE_LD    := -s -w -X main.version=$(VERSION)
STATIC_LD     := $(RELEASE_LD) -linkmode external -extldflags '-static'
RELEASES      := $(DIST)/cardbatch-linux-amd64 $(DIST)/cardbatch-linux-arm64 $(DIST)/cardbatch-windows-amd64.exe

release: $(RELEASES)
	@for f in $(filter %-linux-amd64 %-linux-arm64,$(RELEASES)); do \
	  file $$f | grep -q 'statically linked' || { echo "release: $$f is not statically linked" >&2; exit 1; }; done
	cd $(DIST) && sha256sum $(notdir $(RELEASES)) > SHA256SUMS
	@cat $(DIST)/SHA256SUMS

# FORCE: always ask go build, which relinks only what changed.
$(DIST)/cardbatch-linux-amd64: FORCE
	@mkdir -p $(DIST)
	GOOS=linux GOARCH=amd64 CC=gcc $(GOBUILD) $(RELEASE_FLAGS) -ldflags "$(STATIC_LD)" -o $@ .

$(DIST)/cardbatch-linux-arm64: FORCE
	@mkdir -p $(DIST)
	GOOS=linux GOARCH=arm64 CC=aarch64-linux-gnu-gcc $(GOBUILD) $(RELEASE_FLAGS) -ldflags "$(STATIC_LD)" -o $@ .

$(DIST)/cardbatch-windows-amd64.exe: FORCE
	@mkdir -p $(DIST)
	GOOS=windows GOARCH=amd64 CC=x86_64-w64-mingw32-gcc $(GOBUILD) $(RELEASE_FLAGS) -ldflags "$(STATIC_LD)" -o $@ .

# Runs the Windows binary under wine (apt-get install wine wine64) and the
# Linux one on samples/cards.csv with the simulator; fails on any difference.
wine-check: $(DIST)/cardbatch-linux-amd64 $(DIST)/cardbatch-windows-amd64.exe
	tools/wine-check.sh $(DIST)/cardbatch-linux-amd64 $(DIST)/cardbatch-windows-amd64.exe

clean:
	rm -rf bin out $(DIST)

# The side-by-side benchmark of issue 6: builds cardbatch and the hand-written
# client, runs every scenario BENCH_RUNS times, prints one Markdown table and
# writes it to tools/bench/results/latest.md. BENCH_FLAGS=-quick is a smoke run;
# BENCH_FLAGS="-only a,b" runs some scenarios only. Python aiohttp and GNU
# parallel + curl are measured when installed (apt-get install python3-aiohttp parallel curl).
BENCH_RUNS  ?= 3
BENCH_FLAGS ?=
bench: build
	$(GO) build -o bin/handclient ./tools/bench/handclient
	$(GO) run ./tools/bench/cmd/benchtable -runs $(BENCH_RUNS) $(BENCH_FLAGS)

# 100 random SIGKILLs over a run against the simulator with faults (busy,
# 429, 500, drops, charged drops), each resumed; checks the output against
# an uninterrupted run's and the ledger against the summary (extra charges
# <= in_doubt). Takes a few minutes; not part of `make test`.
soak:
	$(GO) run ./tools/soak

# Each source mutation of tools/mutate/mutations.txt applied to a copy of the
# tree, its test packages run: every mutation must be killed (about 20
# minutes; not part of CI). MUTATE_FLAGS="-only id1,id2" runs some.
MUTATE_FLAGS ?=
mutate:
	$(GO) run ./tools/mutate $(MUTATE_FLAGS)
