// Command benchtable is `make bench`: it measures the figures issue 12 asks
// for, cardbatch side by side with a hand-written Go client (plain net/http
// and encoding/json, tools/bench/handclient) against the simulator, and
// prints one Markdown table with the target beside each figure:
//
//  1. CPU seconds per 1,000 calls at --rate 60 against 50 ms of latency,
//     cardbatch ÷ the hand client paced at the same rate (target ≤ 1.1×);
//  2. seconds from the process's start to the first call (the simulator
//     ledger's first_call) on a 1,000,000-row CSV and a 200,000-row XLSX at
//     --rate 60 (target ≤ 1 s);
//  3. the peak RSS of those two runs, each interrupted with SIGINT after
//     -hold (30 s) (≤ 150 MB);
//  4. calls/s at --rate 0 with 64 calls in flight, cardbatch ÷ the hand
//     client (a regression floor of 0.6×);
//  5. the product's lines of Go now and before the redesign (4cd3de9);
//
// and issue 6's rate fidelity (b: --rate 200, 100 ms latency) and 429
// convergence (c: --rate 200 against a simulator limited to 120/s).
//
// Every tool and every simulator runs as its own subprocess (the tools
// through a small launcher, tools/bench/cmd/launch), so the CPU seconds
// (user + sys from wait4's rusage) and peak RSS (ru_maxrss) of a tool are
// its own. Figures are medians of -runs repetitions; ratios are computed
// repetition by repetition, then their median is taken. The inputs are
// written once into -cache and reused.
//
// Run it from the module root after `make build` and building the hand
// client to bin/handclient (the Makefile's bench target does both):
//
//	go run ./tools/bench/cmd/benchtable -runs 3            # the full table
//	go run ./tools/bench/cmd/benchtable -quick             # small sizes, one run
//	go run ./tools/bench/cmd/benchtable -only paced,start  # some scenarios only
//	go run ./tools/bench/cmd/benchtable -cpuprofile DIR    # cardbatch runs write CPU profiles
package main

import (
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"time"
)

// sizes of the scenarios' inputs.
type sizes struct {
	paced     int           // (1) cards at --rate 60 with 50 ms latency
	csv       int           // (2, 3) rows of the large CSV
	xlsx      int           // (2, 3) rows of the XLSX
	hold      time.Duration // (2, 3) how long those runs go on before SIGINT
	unlimited int           // (4) cards at --rate 0
	rate      int           // (b) cards at --rate 200 with 100 ms latency
	limit     int           // (c) cards at --rate 200 against a 120/s limit
}

var fullSizes = sizes{paced: 1_200, csv: 1_000_000, xlsx: 200_000, hold: 30 * time.Second, unlimited: 20_000, rate: 4_000, limit: 3_600}
var quickSizes = sizes{paced: 300, csv: 50_000, xlsx: 10_000, hold: 5 * time.Second, unlimited: 2_000, rate: 600, limit: 600}

const (
	token                = "bench"
	pacedRate            = 60     // --rate of figures 1 to 3
	pacedLatency         = "50ms" // the simulator's latency in figures 1 to 3
	cardbatchConcurrency = 32     // cardbatch's default --concurrency, given to the paced hand client too
	inflight             = 64     // calls in flight at --rate 0 (figure 4)
	fastRate             = 200    // --rate of b and c
	limitRate            = 120    // the simulator's own limit in c
	defBurst             = 1      // cardbatch's default --burst, which b and c keep
	cardSeed             = 42     // the inputs' cards
	simSeed              = "1"    // the simulator's answers
	ledgerPath           = "/_sim/ledger"
)

type bench struct {
	runs       int
	sz         sizes
	only       map[string]bool
	bin        string // bin/cardbatch (a snapshot in the temporary folder)
	hand       string // bin/handclient (likewise)
	cache      string // the inputs, written once
	work       string // temporary folder
	env        []string
	res        results
	loc        []goLines // figure 5: now, before
	notes      []string
	cmds       []string // the commands measured, for the report
	load0      string   // /proc/loadavg at the start
	launcher   string   // tools/bench/cmd/launch, built into the temporary folder
	cpuprofile bool     // cardbatch runs write CPU profiles into profiles
	profiles   string
	// floorKiB is the largest peak RSS of a launcher: no tool's peak RSS
	// is measured below it.
	floorKiB int64
}

// results holds every figure of every repetition, by metric id.
type results map[string][]float64

func (r results) add(id string, v float64) { r[id] = append(r[id], v) }

// median returns the median of metric id, and false when it was not measured.
func (r results) median(id string) (float64, bool) {
	v := r[id]
	if len(v) == 0 {
		return 0, false
	}
	s := slices.Clone(v)
	sort.Float64s(s)
	n := len(s)
	if n%2 == 1 {
		return s[n/2], true
	}
	return (s[n/2-1] + s[n/2]) / 2, true
}

func main() {
	runs := flag.Int("runs", 3, "repetitions of each scenario (medians are reported)")
	quick := flag.Bool("quick", false, "small sizes for a smoke run (and -runs 1 unless -runs is given)")
	only := flag.String("only", "", "comma-separated scenarios to run: paced,start,unlimited,rate,limit,lines (default: all)")
	hold := flag.Duration("hold", 0, "how long the large-input runs go on before SIGINT (default 30s, 5s with -quick)")
	out := flag.String("out", "tools/bench/results/latest.md", "also write the report to `FILE` (\"\" = stdout only)")
	cache := flag.String("cache", "tools/bench/cache", "`DIR` of the generated inputs (written once, reused)")
	bin := flag.String("bin", "bin/cardbatch", "the cardbatch binary")
	hand := flag.String("handclient", "bin/handclient", "the hand-written Go client binary")
	profiles := flag.String("cpuprofile", "", "cardbatch runs write CPU profiles (--cpuprofile) into `DIR`")
	keep := flag.Bool("keep", false, "keep the temporary folder (outputs, stderr of every run)")
	flag.Parse()

	b := &bench{runs: *runs, sz: fullSizes, bin: *bin, hand: *hand, cache: *cache, res: results{},
		cpuprofile: *profiles != "", profiles: *profiles}
	if *quick {
		b.sz = quickSizes
		runsSet := false
		flag.Visit(func(f *flag.Flag) { runsSet = runsSet || f.Name == "runs" })
		if !runsSet {
			b.runs = 1
		}
	}
	if *hold > 0 {
		b.sz.hold = *hold
	}
	if b.runs < 1 {
		fatalf("-runs must be at least 1")
	}
	var err error
	if b.only, err = parseOnly(*only); err != nil {
		fatalf("%v", err)
	}
	if err := b.setup(); err != nil {
		fatalf("%v", err)
	}
	if *keep {
		logf("keeping the temporary folder %s", b.work)
	} else {
		defer os.RemoveAll(b.work)
	}

	b.load0 = loadAvg()
	start := time.Now()
	if err := b.run(); err != nil {
		if !*keep {
			os.RemoveAll(b.work)
		}
		fatalf("%v", err)
	}
	report := b.report(time.Since(start))
	fmt.Print(report)
	if *out != "" {
		if err := writeReport(*out, report); err != nil {
			logf("could not write %s: %v", *out, err)
		} else {
			logf("report written to %s", *out)
		}
	}
}

// setup checks the binaries, makes the paths absolute (the tools run in
// their own folders), builds the launcher and snapshots the binaries into
// a temporary folder: a `make build` elsewhere in the work tree during the
// benchmark must not swap them between runs.
func (b *bench) setup() error {
	for _, p := range []*string{&b.bin, &b.hand, &b.cache, &b.profiles} {
		if *p == "" {
			continue
		}
		if p == &b.bin || p == &b.hand {
			if _, err := os.Stat(*p); err != nil {
				return fmt.Errorf("%w (run from the module root, after `make build` and `go build -o bin/handclient ./tools/bench/handclient`; `make bench` does both)", err)
			}
		}
		abs, err := filepath.Abs(*p)
		if err != nil {
			return err
		}
		*p = abs
	}
	if b.cpuprofile {
		if err := os.MkdirAll(b.profiles, 0o755); err != nil {
			return err
		}
	}
	b.env = append(os.Environ(), "ACEDATA_TOKEN="+token)
	work, err := os.MkdirTemp("", "cardbatch-bench-")
	if err != nil {
		return err
	}
	b.work = work
	if b.launcher, err = buildLauncher(work); err != nil {
		os.RemoveAll(work)
		return err
	}
	for _, p := range []*string{&b.bin, &b.hand} {
		cp := filepath.Join(work, filepath.Base(*p))
		if err := copyFile(*p, cp); err != nil {
			os.RemoveAll(work)
			return err
		}
		*p = cp
	}
	return nil
}

func writeReport(path, report string) error {
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		return err
	}
	return os.WriteFile(path, []byte(report), 0o644)
}

func (b *bench) note(s string) {
	b.notes = append(b.notes, s)
	logf("note: %s", s)
}

func (b *bench) progress(scn string, rep int, tool, format string, args ...any) {
	logf("[%s %d/%d] %s: %s", scn, rep, b.runs, tool, fmt.Sprintf(format, args...))
}

func logf(format string, args ...any) {
	fmt.Fprintf(os.Stderr, "benchtable: "+format+"\n", args...)
}

func fatalf(format string, args ...any) {
	logf(format, args...)
	os.Exit(1)
}
