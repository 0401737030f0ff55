// Command benchtable is `make bench`: it measures cardbatch side by side with
// the tools a user would pick instead (a hand-written Go client, Python
// asyncio + aiohttp, GNU parallel + curl) against the simulator, and prints
// one Markdown table with the targets of issue 6 beside each figure.
//
// Every tool and every simulator runs as its own subprocess, so the wall
// time, CPU seconds (user + system, from wait4's rusage) and peak RSS of a
// tool are its own; the simulator's are reported apart. Figures are medians
// of -runs repetitions; ratios are computed repetition by repetition, then
// their median is taken.
//
// Run it from the module root after `make build` and building the hand
// client to bin/handclient (the Makefile's bench target does both):
//
//	go run ./tools/bench/cmd/benchtable -runs 3            # the full table
//	go run ./tools/bench/cmd/benchtable -quick             # small sizes, one run
//	go run ./tools/bench/cmd/benchtable -only a,b          # some scenarios only
//
// Scenarios: a (unlimited rate, no latency, 20,000 cards, all tools),
// b (--rate 200 against 100 ms latency), c (--rate 200 against a simulator
// limited to 120/s), d (1,000,000-row CSV and 200,000-row XLSX end to end),
// e (resuming the finished 1,000,000-row run; runs d's CSV first).
package main

import (
	"bufio"
	"bytes"
	"encoding/json"
	"flag"
	"fmt"
	"math/rand/v2"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"slices"
	"sort"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/xuri/excelize/v2"

	"cardbatch/cardapi/sim"
)

// sizes of the scenarios' inputs.
type sizes struct {
	unlimited int // (a) cards for cardbatch, the Go client and aiohttp
	parallel  int // (a) cards for parallel+curl (it is slow)
	rate      int // (b) cards at --rate 200 with 100 ms latency
	limit     int // (c) cards at --rate 200 against a 120/s limit
	csv       int // (d, e) rows of the large CSV
	xlsx      int // (d) rows of the XLSX
}

var fullSizes = sizes{unlimited: 20_000, parallel: 1_000, rate: 6_000, limit: 6_000, csv: 1_000_000, xlsx: 200_000}
var quickSizes = sizes{unlimited: 2_000, parallel: 200, rate: 1_000, limit: 1_200, csv: 50_000, xlsx: 10_000}

const (
	token      = "bench"
	inflight   = 64  // concurrency of every tool at unlimited rate
	benchRate  = 200 // --rate of scenarios b and c
	limitRate  = 120 // the simulator's own limit in scenario c
	defBurst   = 1   // cardbatch's default --burst, which b and c keep
	latencyB   = "100ms"
	cardSeed   = 42
	simSeed    = "1"
	ledgerPath = "/_sim/ledger"
)

type bench struct {
	runs     int
	sz       sizes
	only     map[string]bool
	bin      string // bin/cardbatch
	hand     string // bin/handclient
	pyClt    string // tools/bench/aiohttp_client.py
	parSh    string // tools/bench/parallel_curl.sh
	python   string // interpreter with aiohttp, "" when none
	pyVer    string
	parVer   string // "" when GNU parallel or curl is missing
	work     string // temporary folder
	env      []string
	res      results
	notes    []string
	cmds     []string // the commands measured, for the report
	verbose  bool
	load0    string // /proc/loadavg at the start
	launcher string // tools/bench/cmd/launch, built into the temporary folder
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
	only := flag.String("only", "", "comma-separated scenarios to run: a,b,c,d,e (default: all)")
	out := flag.String("out", "tools/bench/results/latest.md", "also write the report to `FILE` (\"\" = stdout only)")
	bin := flag.String("bin", "bin/cardbatch", "the cardbatch binary")
	hand := flag.String("handclient", "bin/handclient", "the hand-written Go client binary")
	keep := flag.Bool("keep", false, "keep the temporary folder (inputs, outputs, stderr of every run)")
	verbose := flag.Bool("v", false, "print each run's figures on stderr as they come")
	flag.Parse()

	b := &bench{runs: *runs, sz: fullSizes, bin: *bin, hand: *hand, res: results{}, verbose: *verbose,
		pyClt: "tools/bench/aiohttp_client.py", parSh: "tools/bench/parallel_curl.sh"}
	if *quick {
		b.sz = quickSizes
		runsSet := false
		flag.Visit(func(f *flag.Flag) { runsSet = runsSet || f.Name == "runs" })
		if !runsSet {
			b.runs = 1
		}
	}
	if b.runs < 1 {
		fatalf("-runs must be at least 1")
	}
	b.only = map[string]bool{}
	for _, s := range strings.Split(*only, ",") {
		if s = strings.TrimSpace(strings.ToLower(s)); s != "" {
			if !strings.Contains("abcde", s) || len(s) != 1 {
				fatalf("-only takes scenario letters a, b, c, d, e; got %q", s)
			}
			b.only[s] = true
		}
	}
	for _, p := range []*string{&b.bin, &b.hand, &b.pyClt, &b.parSh} {
		if _, err := os.Stat(*p); err != nil {
			fatalf("%v (run from the module root, after `make build` and `go build -o bin/handclient ./tools/bench/handclient`; `make bench` does both)", err)
		}
		abs, err := filepath.Abs(*p) // the tools run in their own folders
		if err != nil {
			fatalf("%v", err)
		}
		*p = abs
	}
	b.env = append(os.Environ(), "ACEDATA_TOKEN="+token)
	b.python, b.pyVer = findPython()
	b.parVer = findParallel()

	work, err := os.MkdirTemp("", "cardbatch-bench-")
	if err != nil {
		fatalf("%v", err)
	}
	b.work = work
	if b.launcher, err = buildLauncher(work); err != nil {
		os.RemoveAll(work)
		fatalf("%v", err)
	}
	// Snapshot the binaries: a `make build` elsewhere in the work tree
	// during the benchmark must not swap them between runs.
	for _, p := range []*string{&b.bin, &b.hand} {
		cp := filepath.Join(work, filepath.Base(*p))
		if err := copyFile(*p, cp); err != nil {
			os.RemoveAll(work)
			fatalf("%v", err)
		}
		*p = cp
	}
	if *keep {
		logf("keeping the temporary folder %s", work)
	} else {
		defer os.RemoveAll(work)
	}

	b.load0 = loadAvg()
	start := time.Now()
	if err := b.run(); err != nil {
		if !*keep {
			os.RemoveAll(work)
		}
		fatalf("%v", err)
	}
	report := b.report(time.Since(start))
	fmt.Print(report)
	if *out != "" {
		err := os.MkdirAll(filepath.Dir(*out), 0o755)
		if err == nil {
			err = os.WriteFile(*out, []byte(report), 0o644)
		}
		if err != nil {
			logf("could not write %s: %v", *out, err)
		} else {
			logf("report written to %s", *out)
		}
	}
}

func (b *bench) want(s string) bool { return len(b.only) == 0 || b.only[s] }

func (b *bench) run() error {
	need := 0
	for s, n := range map[string]int{"a": max(b.sz.unlimited, b.sz.parallel), "b": b.sz.rate, "c": b.sz.limit, "d": max(b.sz.csv, b.sz.xlsx), "e": b.sz.csv} {
		if b.want(s) {
			need = max(need, n)
		}
	}
	logf("generating %d card numbers", need)
	cards := sim.GenerateCards(cardSeed, need)

	if b.want("a") {
		if err := b.scenarioA(cards); err != nil {
			return fmt.Errorf("scenario a: %w", err)
		}
	}
	if b.want("b") {
		if err := b.scenarioB(cards); err != nil {
			return fmt.Errorf("scenario b: %w", err)
		}
	}
	if b.want("c") {
		if err := b.scenarioC(cards); err != nil {
			return fmt.Errorf("scenario c: %w", err)
		}
	}
	if b.want("d") || b.want("e") {
		if err := b.scenarioCSV(cards); err != nil {
			return fmt.Errorf("scenario d/e (CSV): %w", err)
		}
	}
	if b.want("d") {
		if err := b.scenarioXLSX(cards); err != nil {
			return fmt.Errorf("scenario d (XLSX): %w", err)
		}
	}
	return nil
}

// ---------------------------------------------------------------- scenarios

// tools of scenario a, in the order they run in each repetition.
var toolsA = []string{"cardbatch", "hand", "aiohttp", "parallel"}

func (b *bench) scenarioA(cards []string) error {
	dir := filepath.Join(b.work, "a")
	in := filepath.Join(dir, "cards.csv")
	inPar := filepath.Join(dir, "cards-parallel.csv")
	if err := writeCSV(in, cards[:b.sz.unlimited]); err != nil {
		return err
	}
	if err := writeCSV(inPar, cards[:b.sz.parallel]); err != nil {
		return err
	}
	b.cmds = append(b.cmds,
		"a: cardbatch run --input cards.csv --output out.csv --column card_no --endpoint http://127.0.0.1:PORT --rate 0 --concurrency 64 --no-progress",
		"a: bin/handclient --input cards.csv --output out.csv --column card_no --endpoint http://127.0.0.1:PORT --workers 64",
		"a: "+b.pythonName()+" tools/bench/aiohttp_client.py --input cards.csv --output out.csv --column card_no --endpoint http://127.0.0.1:PORT --workers 64",
		"a: sh tools/bench/parallel_curl.sh cards.csv out.txt http://127.0.0.1:PORT 64 3   (GNU parallel -j64 + curl)",
		"a: simulator: cardbatch simulate --addr 127.0.0.1:PORT --seed 1   (a fresh one per tool and repetition)")
	for rep := 1; rep <= b.runs; rep++ {
		cps := map[string]float64{}
		for _, tool := range toolsA {
			if (tool == "aiohttp" && b.python == "") || (tool == "parallel" && b.parVer == "") {
				continue
			}
			rdir := filepath.Join(dir, fmt.Sprintf("%s-%d", tool, rep))
			if err := os.MkdirAll(rdir, 0o755); err != nil {
				return err
			}
			s, err := b.startSim(rdir)
			if err != nil {
				return err
			}
			ep := "http://" + s.addr
			n := b.sz.unlimited
			var argv []string
			switch tool {
			case "cardbatch":
				argv = []string{b.bin, "run", "--input", in, "--output", filepath.Join(rdir, "out.csv"), "--column", "card_no",
					"--endpoint", ep, "--rate", "0", "--concurrency", strconv.Itoa(inflight), "--no-progress"}
			case "hand":
				argv = []string{b.hand, "--input", in, "--output", filepath.Join(rdir, "out.csv"), "--column", "card_no",
					"--endpoint", ep, "--workers", strconv.Itoa(inflight)}
			case "aiohttp":
				argv = []string{b.python, b.pyClt, "--input", in, "--output", filepath.Join(rdir, "out.csv"), "--column", "card_no",
					"--endpoint", ep, "--workers", strconv.Itoa(inflight)}
			case "parallel":
				n = b.sz.parallel
				argv = []string{"sh", b.parSh, inPar, filepath.Join(rdir, "out.txt"), ep, strconv.Itoa(inflight), "3"}
			}
			m, err := b.runTool(rdir, tool, argv)
			led, lerr := s.ledger()
			sm := s.stop()
			if err != nil {
				return err
			}
			if lerr != nil {
				return lerr
			}
			if m.exit != 0 {
				b.note(fmt.Sprintf("a, run %d: %s exited %d (%s)", rep, tool, m.exit, m.tail))
			}
			calls := float64(led.Calls)
			if led.Calls != int64(n) {
				b.note(fmt.Sprintf("a, run %d: %s sent %d calls for %d cards (by status %v)", rep, tool, led.Calls, n, led.ByStatus))
			}
			if ok := led.ByStatus["200"]; ok != led.Calls {
				b.note(fmt.Sprintf("a, run %d: %s got %d non-200 answers (by status %v)", rep, tool, led.Calls-ok, led.ByStatus))
			}
			b.others(m, sm.cpu())
			c := calls / m.wall.Seconds()
			cps[tool] = c
			b.res.add("a."+tool+".cps", c)
			b.res.add("a."+tool+".wall", m.wall.Seconds())
			if span := led.span(); span > 0 {
				b.res.add("a."+tool+".cps_flight", (calls-1)/span.Seconds())
			}
			b.res.add("a."+tool+".cpu1k", m.cpu()/(calls/1000))
			b.res.add("a."+tool+".simcpu1k", sm.cpu()/(calls/1000))
			b.res.add("a."+tool+".rss", m.rssMB())
			b.res.add("a."+tool+".cards", float64(n))
			b.progress("a", rep, tool, "%d calls in %.2fs = %.0f calls/s, CPU %.2fs (sim %.2fs), peak RSS %.0f MB",
				led.Calls, m.wall.Seconds(), c, m.cpu(), sm.cpu(), m.rssMB())
		}
		if cb, ok := cps["cardbatch"]; ok {
			for _, tool := range toolsA[1:] {
				if c, ok := cps[tool]; ok && c > 0 {
					b.res.add("a.ratio."+tool, cb/c)
				}
			}
		}
	}
	return nil
}

func (b *bench) scenarioB(cards []string) error {
	dir := filepath.Join(b.work, "b")
	in := filepath.Join(dir, "cards.csv")
	if err := writeCSV(in, cards[:b.sz.rate]); err != nil {
		return err
	}
	b.cmds = append(b.cmds,
		"b: cardbatch simulate --addr 127.0.0.1:PORT --seed 1 --latency 100ms",
		"b: cardbatch run --input cards.csv --output out.csv --column card_no --endpoint http://127.0.0.1:PORT --rate 200 --no-progress   (default --concurrency and --burst)")
	for rep := 1; rep <= b.runs; rep++ {
		m, led, err := b.rateRun(dir, in, "b", rep, "--latency", latencyB)
		if err != nil {
			return err
		}
		span := led.span()
		if span <= 0 {
			return fmt.Errorf("run %d: the ledger has no first/last call", rep)
		}
		achieved := float64(led.Calls-1) / span.Seconds()
		b.res.add("b.achieved", achieved)
		b.res.add("b.ratio", achieved/benchRate)
		b.res.add("b.wallratio", float64(led.Calls)/m.wall.Seconds()/benchRate)
		b.res.add("b.maxwin", float64(led.MaxCallsPerSecond))
		b.res.add("b.calls", float64(led.Calls))
		b.res.add("b.wall", m.wall.Seconds())
		b.progress("b", rep, "cardbatch", "%d calls over %.2fs (first..last call) = %.1f/s (%.3f of %d), max %d in 1 s, wall %.2fs",
			led.Calls, span.Seconds(), achieved, achieved/benchRate, benchRate, led.MaxCallsPerSecond, m.wall.Seconds())
	}
	return nil
}

// rateRun is one repetition of scenarios b and c: cardbatch at --rate
// benchRate, with its defaults otherwise, against a fresh simulator started
// with simArgs; it returns cardbatch's measure and the simulator's ledger.
func (b *bench) rateRun(dir, in, scenario string, rep int, simArgs ...string) (measure, ledgerJSON, error) {
	rdir := filepath.Join(dir, fmt.Sprintf("run-%d", rep))
	if err := os.MkdirAll(rdir, 0o755); err != nil {
		return measure{}, ledgerJSON{}, err
	}
	s, err := b.startSim(rdir, simArgs...)
	if err != nil {
		return measure{}, ledgerJSON{}, err
	}
	m, err := b.runTool(rdir, "cardbatch", []string{b.bin, "run", "--input", in, "--output", filepath.Join(rdir, "out.csv"),
		"--column", "card_no", "--endpoint", "http://" + s.addr, "--rate", strconv.Itoa(benchRate), "--no-progress"})
	led, lerr := s.ledger()
	sm := s.stop()
	if err != nil {
		return measure{}, ledgerJSON{}, err
	}
	if lerr != nil {
		return measure{}, ledgerJSON{}, lerr
	}
	b.others(m, sm.cpu())
	if m.exit != 0 {
		b.note(fmt.Sprintf("%s, run %d: cardbatch exited %d (%s)", scenario, rep, m.exit, m.tail))
	}
	return m, led, nil
}

func (b *bench) scenarioC(cards []string) error {
	dir := filepath.Join(b.work, "c")
	in := filepath.Join(dir, "cards.csv")
	if err := writeCSV(in, cards[:b.sz.limit]); err != nil {
		return err
	}
	b.cmds = append(b.cmds,
		"c: cardbatch simulate --addr 127.0.0.1:PORT --seed 1 --rate-limit 120   (bucket of one second's worth)",
		"c: cardbatch run --input cards.csv --output out.csv --column card_no --endpoint http://127.0.0.1:PORT --rate 200 --no-progress   (default --concurrency, --burst, --retries)")
	for rep := 1; rep <= b.runs; rep++ {
		m, led, err := b.rateRun(dir, in, "c", rep, "--rate-limit", strconv.Itoa(limitRate))
		if err != nil {
			return err
		}
		span := led.span()
		if span <= 0 || led.Calls == 0 {
			return fmt.Errorf("run %d: the ledger has no calls", rep)
		}
		n429 := led.ByStatus["429"]
		accepted := led.Calls - n429
		achieved := float64(accepted-1) / span.Seconds()
		b.res.add("c.achieved", achieved)
		b.res.add("c.ratio", achieved/limitRate)
		b.res.add("c.wallratio", float64(len(cards[:b.sz.limit]))/m.wall.Seconds()/limitRate)
		b.res.add("c.share429", float64(n429)/float64(led.Calls))
		b.res.add("c.calls", float64(led.Calls))
		b.res.add("c.n429", float64(n429))
		b.res.add("c.maxwin", float64(led.MaxCallsPerSecond))
		b.res.add("c.wall", m.wall.Seconds())
		b.progress("c", rep, "cardbatch", "%d calls (%d answered 429 = %.2f%%), %d accepted over %.2fs = %.1f/s (%.3f of %d), max %d in 1 s, wall %.2fs",
			led.Calls, n429, 100*float64(n429)/float64(led.Calls), accepted, span.Seconds(), achieved, achieved/limitRate, limitRate,
			led.MaxCallsPerSecond, m.wall.Seconds())
	}
	return nil
}

// scenarioCSV runs the large CSV end to end (d) and then the same command
// again, which must resume and send nothing (e).
func (b *bench) scenarioCSV(cards []string) error {
	dir := filepath.Join(b.work, "d-csv")
	in := filepath.Join(dir, "cards.csv")
	logf("writing the %d-row CSV", b.sz.csv)
	if err := writeCSV(in, cards[:b.sz.csv]); err != nil {
		return err
	}
	b.cmds = append(b.cmds,
		fmt.Sprintf("d: cardbatch run --input cards-%d.csv --output out.csv --column card_no --endpoint http://127.0.0.1:PORT --rate 0 --concurrency 64 --no-progress", b.sz.csv),
		"e: the same command again, against the same simulator (the ledger's call count before and after gives the calls sent)")
	for rep := 1; rep <= b.runs; rep++ {
		rdir := filepath.Join(dir, fmt.Sprintf("run-%d", rep))
		if err := os.MkdirAll(rdir, 0o755); err != nil {
			return err
		}
		s, err := b.startSim(rdir)
		if err != nil {
			return err
		}
		argv := []string{b.bin, "run", "--input", in, "--output", filepath.Join(rdir, "out.csv"), "--column", "card_no",
			"--endpoint", "http://" + s.addr, "--rate", "0", "--concurrency", strconv.Itoa(inflight), "--no-progress"}
		m, err := b.runTool(rdir, "cardbatch", argv)
		if err != nil {
			s.stop()
			return err
		}
		led1, err := s.ledger()
		if err != nil {
			s.stop()
			return err
		}
		if m.exit != 0 {
			b.note(fmt.Sprintf("d, run %d: cardbatch exited %d on the %d-row CSV (%s)", rep, m.exit, b.sz.csv, m.tail))
		}
		b.others(m, s.cpuSoFar())
		b.res.add("d.csv.rps", float64(b.sz.csv)/m.wall.Seconds())
		b.res.add("d.csv.rss", m.rssMB())
		b.res.add("d.csv.wall", m.wall.Seconds())
		b.res.add("d.csv.cpu1k", m.cpu()/(float64(b.sz.csv)/1000))
		b.res.add("d.csv.calls", float64(led1.Calls))
		b.progress("d", rep, "cardbatch CSV", "%d rows in %.2fs = %.0f rows/s, %d calls, CPU %.1fs, peak RSS %.0f MB",
			b.sz.csv, m.wall.Seconds(), float64(b.sz.csv)/m.wall.Seconds(), led1.Calls, m.cpu(), m.rssMB())
		if !b.want("e") {
			s.stop()
			continue
		}
		m2, err := b.runTool(rdir, "cardbatch-resume", argv)
		led2, lerr := s.ledger()
		s.stop()
		if err != nil {
			return err
		}
		if lerr != nil {
			return lerr
		}
		if m2.exit != 0 {
			b.note(fmt.Sprintf("e, run %d: the resume exited %d (%s)", rep, m2.exit, m2.tail))
		}
		sent := led2.Calls - led1.Calls
		b.res.add("e.wall", m2.wall.Seconds())
		b.res.add("e.calls", float64(sent))
		b.res.add("e.ratio", m2.wall.Seconds()/m.wall.Seconds())
		b.res.add("e.rss", m2.rssMB())
		b.progress("e", rep, "cardbatch resume", "%.2fs (%.1f%% of the first run), %d calls sent, peak RSS %.0f MB",
			m2.wall.Seconds(), 100*m2.wall.Seconds()/m.wall.Seconds(), sent, m2.rssMB())
	}
	return nil
}

func (b *bench) scenarioXLSX(cards []string) error {
	dir := filepath.Join(b.work, "d-xlsx")
	in := filepath.Join(dir, "cards.xlsx")
	logf("writing the %d-row XLSX", b.sz.xlsx)
	if err := writeXLSX(in, cards[:b.sz.xlsx]); err != nil {
		return err
	}
	b.cmds = append(b.cmds,
		fmt.Sprintf("d: cardbatch run --input cards-%d.xlsx --output out.xlsx --column card_no --endpoint http://127.0.0.1:PORT --rate 0 --concurrency 64 --no-progress   (card column: text cells)", b.sz.xlsx))
	for rep := 1; rep <= b.runs; rep++ {
		rdir := filepath.Join(dir, fmt.Sprintf("run-%d", rep))
		if err := os.MkdirAll(rdir, 0o755); err != nil {
			return err
		}
		s, err := b.startSim(rdir)
		if err != nil {
			return err
		}
		m, err := b.runTool(rdir, "cardbatch", []string{b.bin, "run", "--input", in, "--output", filepath.Join(rdir, "out.xlsx"),
			"--column", "card_no", "--endpoint", "http://" + s.addr, "--rate", "0", "--concurrency", strconv.Itoa(inflight), "--no-progress"})
		led, lerr := s.ledger()
		sm := s.stop()
		if err != nil {
			return err
		}
		if lerr != nil {
			return lerr
		}
		b.others(m, sm.cpu())
		if m.exit != 0 {
			b.note(fmt.Sprintf("d, run %d: cardbatch exited %d on the %d-row XLSX (%s)", rep, m.exit, b.sz.xlsx, m.tail))
		}
		if led.Calls != int64(b.sz.xlsx) {
			b.note(fmt.Sprintf("d, run %d: %d calls for %d XLSX rows", rep, led.Calls, b.sz.xlsx))
		}
		b.res.add("d.xlsx.rps", float64(b.sz.xlsx)/m.wall.Seconds())
		b.res.add("d.xlsx.rss", m.rssMB())
		b.res.add("d.xlsx.wall", m.wall.Seconds())
		b.res.add("d.xlsx.cpu1k", m.cpu()/(float64(b.sz.xlsx)/1000))
		b.progress("d", rep, "cardbatch XLSX", "%d rows in %.2fs = %.0f rows/s, %d calls, CPU %.1fs, peak RSS %.0f MB",
			b.sz.xlsx, m.wall.Seconds(), float64(b.sz.xlsx)/m.wall.Seconds(), led.Calls, m.cpu(), m.rssMB())
	}
	return nil
}

// ---------------------------------------------------------------- processes

// measure is what one finished subprocess cost.
type measure struct {
	wall      time.Duration
	user, sys time.Duration
	maxrssKiB int64
	busy      float64 // CPU seconds the whole machine spent meanwhile (/proc/stat)
	exit      int
	tail      string // the end of its stderr, when it failed
}

func (m measure) cpu() float64   { return (m.user + m.sys).Seconds() }
func (m measure) rssMB() float64 { return float64(m.maxrssKiB) * 1024 / 1e6 }

func fromState(ps *os.ProcessState, wall time.Duration) measure {
	m := measure{wall: wall, user: ps.UserTime(), sys: ps.SystemTime(), exit: ps.ExitCode()}
	if ru, ok := ps.SysUsage().(*syscall.Rusage); ok {
		m.maxrssKiB = ru.Maxrss // KiB on Linux
	}
	return m
}

// launchResult is what tools/bench/cmd/launch writes (its Result).
type launchResult struct {
	WallNS      int64  `json:"wall_ns"`
	UserNS      int64  `json:"user_ns"`
	SysNS       int64  `json:"sys_ns"`
	MaxRSSKiB   int64  `json:"maxrss_kib"`
	Exit        int    `json:"exit"`
	LauncherKiB int64  `json:"launcher_hwm_kib"`
	Err         string `json:"error,omitempty"`
}

// copyFile copies an executable.
func copyFile(from, to string) error {
	bs, err := os.ReadFile(from)
	if err != nil {
		return err
	}
	return os.WriteFile(to, bs, 0o755)
}

// buildLauncher builds tools/bench/cmd/launch into the temporary folder. Every
// tool runs through it: on Linux a child's ru_maxrss is at least the peak
// RSS of the process that spawned it, and this program holds a million
// card numbers; the small launcher's ~2 MB are the floor of the measure.
func buildLauncher(work string) (string, error) {
	goBin, err := exec.LookPath("go")
	if err != nil {
		return "", fmt.Errorf("build the launcher: %w (put the go command on PATH)", err)
	}
	out := filepath.Join(work, "launch")
	cmd := exec.Command(goBin, "build", "-o", out, "./tools/bench/cmd/launch")
	cmd.Stdout, cmd.Stderr = os.Stderr, os.Stderr
	if err := cmd.Run(); err != nil {
		return "", fmt.Errorf("build the launcher (go build ./tools/bench/cmd/launch): %w", err)
	}
	return out, nil
}

// runTool runs argv to completion in dir, through the launcher (see
// buildLauncher), with stdout and stderr in files. A non-zero exit is not an
// error (it is reported); failing to start is.
func (b *bench) runTool(dir, name string, argv []string) (measure, error) {
	stdout, err := os.Create(filepath.Join(dir, name+".stdout"))
	if err != nil {
		return measure{}, err
	}
	defer stdout.Close()
	errPath := filepath.Join(dir, name+".stderr")
	stderr, err := os.Create(errPath)
	if err != nil {
		return measure{}, err
	}
	defer stderr.Close()
	resPath := filepath.Join(dir, name+".rusage.json")
	cmd := exec.Command(b.launcher, append([]string{resPath}, argv...)...)
	cmd.Dir = dir
	// cardbatch's answer cache lives in the user's cache folder: give each
	// run folder its own, so that no run answers from an earlier one and the
	// benchmark leaves nothing in the user's real cache.
	cmd.Env = append(slices.Clone(b.env), "XDG_CACHE_HOME="+filepath.Join(dir, "xdg-cache"))
	cmd.Stdout, cmd.Stderr = stdout, stderr
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	busy0 := machineBusy()
	if err := cmd.Run(); err != nil {
		return measure{}, fmt.Errorf("%s (launcher): %w", name, err)
	}
	busy := machineBusy() - busy0
	var r launchResult
	if bs, err := os.ReadFile(resPath); err != nil {
		return measure{}, err
	} else if err := json.Unmarshal(bs, &r); err != nil {
		return measure{}, fmt.Errorf("%s: %w", resPath, err)
	}
	if r.Err != "" {
		return measure{}, fmt.Errorf("%s: %s", name, r.Err)
	}
	m := measure{wall: time.Duration(r.WallNS), user: time.Duration(r.UserNS), sys: time.Duration(r.SysNS),
		maxrssKiB: r.MaxRSSKiB, exit: r.Exit, busy: busy}
	b.floorKiB = max(b.floorKiB, r.LauncherKiB)
	if m.exit != 0 {
		m.tail = tailOf(errPath, 300)
	}
	return m, nil
}

// machineBusy returns the CPU seconds all cores have spent busy since boot
// (/proc/stat: user, nice, system, irq, softirq, steal), or 0 when unknown.
func machineBusy() float64 {
	bs, err := os.ReadFile("/proc/stat")
	if err != nil {
		return 0
	}
	f := strings.Fields(firstLine(bs))
	if len(f) < 9 || f[0] != "cpu" {
		return 0
	}
	var j float64
	for _, i := range []int{1, 2, 3, 6, 7, 8} {
		v, _ := strconv.ParseFloat(f[i], 64)
		j += v
	}
	return j / 100 // USER_HZ is 100 on Linux
}

// others records how many cores processes other than the measured tool and
// its simulator kept busy during a run: the benchmark's noise.
func (b *bench) others(m measure, sim float64) {
	if m.busy > 0 && m.wall > 0 {
		b.res.add("noise.cores", max(0, (m.busy-m.cpu()-sim)/m.wall.Seconds()))
	}
}

func tailOf(path string, n int) string {
	bs, _ := os.ReadFile(path)
	s := strings.TrimSpace(string(bs))
	if len(s) > n {
		s = "…" + s[len(s)-n:]
	}
	return strings.Join(strings.Fields(s), " ")
}

// simProc is one `cardbatch simulate` subprocess.
type simProc struct {
	cmd   *exec.Cmd
	addr  string
	start time.Time
	done  bool
	m     measure
}

// startSim starts a simulator on a free loopback port and waits until its
// ledger answers.
func (b *bench) startSim(dir string, extra ...string) (*simProc, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, err
	}
	addr := ln.Addr().String()
	ln.Close()
	args := append([]string{"simulate", "--addr", addr, "--seed", simSeed}, extra...)
	cmd := exec.Command(b.bin, args...)
	cmd.Dir = dir
	logFile, err := os.Create(filepath.Join(dir, "simulator.stderr"))
	if err != nil {
		return nil, err
	}
	defer logFile.Close() // the child keeps its own descriptor
	cmd.Stdout, cmd.Stderr = logFile, logFile
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	s := &simProc{cmd: cmd, addr: addr, start: time.Now()}
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("start the simulator: %w", err)
	}
	deadline := time.Now().Add(15 * time.Second)
	for {
		if _, err := s.ledger(); err == nil {
			return s, nil
		}
		if time.Now().After(deadline) {
			s.stop()
			return nil, fmt.Errorf("the simulator on %s did not answer within 15 s: %s", addr, tailOf(filepath.Join(dir, "simulator.stderr"), 300))
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// ledgerJSON is the simulator's GET /_sim/ledger.
type ledgerJSON struct {
	Calls             int64            `json:"calls"`
	Charged           int64            `json:"charged"`
	ByResult          map[string]int64 `json:"by_result"`
	ByStatus          map[string]int64 `json:"by_status"`
	MaxCallsPerSecond int64            `json:"max_calls_per_second"`
	FirstCall         time.Time        `json:"first_call"`
	LastCall          time.Time        `json:"last_call"`
}

// span is the time from the first to the latest call (0 when unknown).
func (l ledgerJSON) span() time.Duration {
	if l.FirstCall.IsZero() || l.LastCall.IsZero() {
		return 0
	}
	return l.LastCall.Sub(l.FirstCall)
}

var ledgerClient = &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{DisableKeepAlives: true}}

func (s *simProc) ledger() (ledgerJSON, error) {
	var l ledgerJSON
	resp, err := ledgerClient.Get("http://" + s.addr + ledgerPath)
	if err != nil {
		return l, err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return l, fmt.Errorf("ledger: HTTP %d", resp.StatusCode)
	}
	return l, json.NewDecoder(resp.Body).Decode(&l)
}

// cpuSoFar returns the CPU seconds the running simulator has used so far
// (/proc/PID/stat utime+stime), or its total once stopped.
func (s *simProc) cpuSoFar() float64 {
	if s.done {
		return s.m.cpu()
	}
	bs, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", s.cmd.Process.Pid))
	if err != nil {
		return 0
	}
	_, rest, ok := bytes.Cut(bs, []byte(") ")) // the command name may hold spaces
	if !ok {
		return 0
	}
	f := strings.Fields(string(rest))
	if len(f) < 13 {
		return 0
	}
	u, _ := strconv.ParseFloat(f[11], 64)
	st, _ := strconv.ParseFloat(f[12], 64)
	return (u + st) / 100
}

// stop interrupts the simulator (it shuts down gracefully), waits for it,
// and returns what it cost. It is idempotent.
func (s *simProc) stop() measure {
	if s.done {
		return s.m
	}
	s.done = true
	_ = s.cmd.Process.Signal(os.Interrupt)
	waited := make(chan error, 1)
	go func() { waited <- s.cmd.Wait() }()
	select {
	case <-waited:
	case <-time.After(10 * time.Second):
		_ = s.cmd.Process.Kill()
		<-waited
	}
	s.m = fromState(s.cmd.ProcessState, time.Since(s.start))
	return s.m
}

// findPython returns the first python3 that can import aiohttp (Debian's
// /usr/bin/python3 first, where python3-aiohttp installs), with its version.
func findPython() (string, string) {
	cands := []string{"/usr/bin/python3"}
	if p, err := exec.LookPath("python3"); err == nil {
		cands = append(cands, p)
	}
	for _, p := range cands {
		out, err := exec.Command(p, "-c", "import sys, aiohttp; print('Python %d.%d.%d' % sys.version_info[:3], 'aiohttp', aiohttp.__version__)").Output()
		if err == nil {
			return p, strings.TrimSpace(string(out))
		}
	}
	return "", ""
}

// findParallel returns GNU parallel's and curl's versions, or "" when
// either is missing (moreutils' parallel is not GNU parallel).
func findParallel() string {
	if _, err := exec.LookPath("curl"); err != nil {
		return ""
	}
	if _, err := exec.LookPath("parallel"); err != nil {
		return ""
	}
	out, err := exec.Command("parallel", "--version").Output()
	if err != nil || !bytes.Contains(out, []byte("GNU parallel")) {
		return ""
	}
	pv := firstLine(out)
	cv, _ := exec.Command("curl", "--version").Output()
	return pv + ", " + strings.Join(strings.Fields(firstLine(cv))[:2], " ")
}

func (b *bench) pythonName() string {
	if b.python == "" {
		return "python3"
	}
	return b.python
}

// ---------------------------------------------------------------- inputs

var givenNames = []string{"Wang Wei", "Li Na", "Zhang Min", "Liu Yang", "Chen Jing", "Yang Fan", "Huang Lei", "Zhao Li",
	"Wu Hao", "Zhou Xin", "Xu Ming", "Sun Yu", "Ma Lin", "Zhu Hong", "Hu Jun", "Guo Qiang"}

// writeCSV writes name,amount,card_no rows, one per card.
func writeCSV(path string, cards []string) error {
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		return err
	}
	f, err := os.Create(path)
	if err != nil {
		return err
	}
	w := bufio.NewWriterSize(f, 1<<20)
	rng := rand.New(rand.NewPCG(7, 7))
	w.WriteString("name,amount,card_no\n")
	for _, c := range cards {
		fmt.Fprintf(w, "%s,%d.%02d,%s\n", givenNames[rng.IntN(len(givenNames))], rng.IntN(50000), rng.IntN(100), c)
	}
	if err := w.Flush(); err != nil {
		f.Close()
		return err
	}
	return f.Close()
}

// writeXLSX writes the same table to one sheet, streamed, with the card
// column as text cells (a text-formatted column, as the README asks users
// to keep it) and the amount as numbers.
func writeXLSX(path string, cards []string) error {
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		return err
	}
	f := excelize.NewFile()
	defer f.Close()
	sheet := f.GetSheetName(0)
	text, err := f.NewStyle(&excelize.Style{NumFmt: 49}) // "@": text
	if err != nil {
		return err
	}
	sw, err := f.NewStreamWriter(sheet)
	if err != nil {
		return err
	}
	if err := sw.SetColStyle(3, 3, text); err != nil {
		return err
	}
	if err := sw.SetRow("A1", []any{"name", "amount", "card_no"}); err != nil {
		return err
	}
	rng := rand.New(rand.NewPCG(7, 7))
	for i, c := range cards {
		cell, _ := excelize.CoordinatesToCellName(1, i+2)
		amount := float64(rng.IntN(5_000_000)) / 100
		row := []any{givenNames[rng.IntN(len(givenNames))], amount, excelize.Cell{StyleID: text, Value: c}}
		if err := sw.SetRow(cell, row); err != nil {
			return err
		}
	}
	if err := sw.Flush(); err != nil {
		return err
	}
	return f.SaveAs(path)
}

// ---------------------------------------------------------------- report

func (b *bench) note(s string) {
	b.notes = append(b.notes, s)
	logf("note: %s", s)
}

func (b *bench) progress(scn string, rep int, tool, format string, args ...any) {
	logf("[%s %d/%d] %s: %s", scn, rep, b.runs, tool, fmt.Sprintf(format, args...))
}

// cell formats the median of id with format, or "—" when not measured; an
// optional scale multiplies it first (100 for a percentage).
func (b *bench) cell(id, format string, scale ...float64) string {
	v, ok := b.res.median(id)
	if !ok {
		return "—"
	}
	for _, k := range scale {
		v *= k
	}
	return fmt.Sprintf(format, v)
}

// verdict is "yes" or "**no**" for the median of id against ok, or "—".
func (b *bench) verdict(id string, ok func(float64) bool) string {
	v, has := b.res.median(id)
	if !has {
		return "—"
	}
	if ok(v) {
		return "yes"
	}
	return "**no**"
}

func (b *bench) report(elapsed time.Duration) string {
	var o strings.Builder
	p := func(format string, args ...any) { fmt.Fprintf(&o, format, args...) }
	n := func(x int) string { return groupDigits(x) }

	p("## `make bench` — cardbatch side by side (issue 6)\n\n")
	p("- date: %s; took %s\n", time.Now().Format("2006-01-02 15:04 MST"), elapsed.Round(time.Second))
	p("- command: `go run ./tools/bench/cmd/benchtable %s` (what `make bench` runs, after building bin/cardbatch and bin/handclient)\n", strings.Join(os.Args[1:], " "))
	p("- machine: %d cores (nproc), %s, %s, %s/%s\n", runtime.NumCPU(), cpuModel(), memTotal(), runtime.GOOS, runtime.GOARCH)
	p("- go: %s; cardbatch: %s\n", runtime.Version(), b.version())
	py := "not installed (apt-get install python3-aiohttp)"
	if b.python != "" {
		py = b.pyVer + " (" + b.python + ")"
	}
	par := "not installed (apt-get install parallel curl)"
	if b.parVer != "" {
		par = b.parVer
	}
	p("- aiohttp: %s; parallel+curl: %s\n", py, par)
	if v, ok := b.res.median("noise.cores"); ok {
		mx := slices.Max(b.res["noise.cores"])
		p("- other processes on the machine kept %.2f cores busy during the median measured run (%.2f at most) out of %d; load average at start %s, at the end %s\n",
			v, mx, runtime.NumCPU(), b.load0, loadAvg())
		if v > 0.2 {
			p("- **the machine was not idle: absolute figures are pessimistic; the side-by-side ratios, measured run by run, are the more robust**\n")
		}
	}
	p("- every figure is the median of %d run(s); ratios are computed run by run, then the median taken; "+
		"each tool and each simulator is its own process (CPU = user+sys from wait4, peak RSS = ru_maxrss); "+
		"peak RSS is measured through a small launcher process (tools/bench/cmd/launch), whose own %.1f MB are its floor; "+
		"every tool keeps 64 calls in flight; cardbatch runs with its defaults otherwise "+
		"(its answer cache on, in a fresh XDG_CACHE_HOME per run, so nothing is answered from an earlier run); MB = 10^6 bytes\n\n", b.runs, float64(b.floorKiB)*1024/1e6)

	notInst := func(tool string) bool {
		return (tool == "aiohttp" && b.python == "") || (tool == "parallel" && b.parVer == "")
	}
	toolCell := func(tool, id, format string) string {
		if notInst(tool) {
			return "not installed"
		}
		return b.cell(id, format)
	}
	ratioVerdict := func(tool string, min float64) string {
		if notInst(tool) {
			return "—"
		}
		return b.verdict("a.ratio."+tool, func(v float64) bool { return v >= min })
	}

	p("| measure | cardbatch | hand-written Go | Python aiohttp | GNU parallel + curl | target | met |\n")
	p("|---|---:|---:|---:|---:|---|---|\n")
	if b.want("a") {
		p("| **a. unlimited rate, no latency** — cards per run | %s | %s | %s | %s | | |\n",
			n(b.sz.unlimited), n(b.sz.unlimited), n(b.sz.unlimited), n(b.sz.parallel)+" (slow: smaller slice)")
		p("| calls/s (calls ÷ wall time, end to end) | %s | %s | %s | %s | | |\n",
			b.cell("a.cardbatch.cps", "%.0f"), b.cell("a.hand.cps", "%.0f"), toolCell("aiohttp", "a.aiohttp.cps", "%.0f"), toolCell("parallel", "a.parallel.cps", "%.0f"))
		p("| calls/s while calling (ledger first → last call) | %s | %s | %s | %s | | |\n",
			b.cell("a.cardbatch.cps_flight", "%.0f"), b.cell("a.hand.cps_flight", "%.0f"), toolCell("aiohttp", "a.aiohttp.cps_flight", "%.0f"), toolCell("parallel", "a.parallel.cps_flight", "%.0f"))
		p("| wall time, s | %s | %s | %s | %s | | |\n",
			b.cell("a.cardbatch.wall", "%.2f"), b.cell("a.hand.wall", "%.2f"), toolCell("aiohttp", "a.aiohttp.wall", "%.2f"), toolCell("parallel", "a.parallel.wall", "%.2f"))
		p("| cardbatch ÷ this tool, calls/s | — | %s | %s | %s | ≥ 0.9× / ≥ 4× / ≥ 60× | %s / %s / %s |\n",
			b.cell("a.ratio.hand", "%.2f×"), toolCell("aiohttp", "a.ratio.aiohttp", "%.2f×"), toolCell("parallel", "a.ratio.parallel", "%.1f×"),
			ratioVerdict("hand", 0.9), ratioVerdict("aiohttp", 4), ratioVerdict("parallel", 60))
		p("| CPU s per 1,000 cards, the tool | %s | %s | %s | %s | | |\n",
			b.cell("a.cardbatch.cpu1k", "%.3f"), b.cell("a.hand.cpu1k", "%.3f"), toolCell("aiohttp", "a.aiohttp.cpu1k", "%.3f"), toolCell("parallel", "a.parallel.cpu1k", "%.3f"))
		p("| CPU s per 1,000 cards, the simulator serving it | %s | %s | %s | %s | | |\n",
			b.cell("a.cardbatch.simcpu1k", "%.3f"), b.cell("a.hand.simcpu1k", "%.3f"), toolCell("aiohttp", "a.aiohttp.simcpu1k", "%.3f"), toolCell("parallel", "a.parallel.simcpu1k", "%.3f"))
		p("| peak RSS, MB | %s | %s | %s | %s | | |\n",
			b.cell("a.cardbatch.rss", "%.0f"), b.cell("a.hand.rss", "%.0f"), toolCell("aiohttp", "a.aiohttp.rss", "%.0f"), toolCell("parallel", "a.parallel.rss", "%.0f"))
	}
	if b.want("b") {
		p("| **b. --rate 200, 100 ms latency** (%s cards): achieved ÷ --rate (calls ÷ ledger first → last call) | %s | | | | ≥ 0.98 | %s |\n",
			n(b.sz.rate), b.cell("b.ratio", "%.3f"), b.verdict("b.ratio", func(v float64) bool { return v >= 0.98 }))
		p("| same, cards ÷ wall time ÷ 200 (start-up and output included) | %s | | | | | |\n", b.cell("b.wallratio", "%.3f"))
		p("| most calls in any 1-s window (ledger) | %s | | | | ≤ %d (rate + burst %d) | %s |\n",
			b.cell("b.maxwin", "%.0f"), benchRate+defBurst, defBurst, b.verdict("b.maxwin", func(v float64) bool { return v <= benchRate+defBurst }))
	}
	if b.want("c") {
		p("| **c. --rate 200 vs a simulator limited to 120/s** (%s cards): accepted calls/s ÷ 120 | %s | | | | ≥ 0.90 | %s |\n",
			n(b.sz.limit), b.cell("c.ratio", "%.3f"), b.verdict("c.ratio", func(v float64) bool { return v >= 0.90 }))
		p("| same, cards ÷ wall time ÷ 120 | %s | | | | | |\n", b.cell("c.wallratio", "%.3f"))
		p("| share of calls answered 429 | %s | | | | ≤ 3%% | %s |\n",
			b.cell("c.share429", "%.2f%%", 100), b.verdict("c.share429", func(v float64) bool { return v <= 0.03 }))
		p("| calls sent (429s included) | %s | | | | | |\n", b.cell("c.calls", "%.0f"))
	}
	if b.want("d") || b.want("e") {
		p("| **d. %s-row CSV end to end** (rate 0, 64 in flight): rows/s | %s | | | | | |\n", n(b.sz.csv), b.cell("d.csv.rps", "%.0f"))
		p("| wall time, s | %s | | | | | |\n", b.cell("d.csv.wall", "%.1f"))
		p("| CPU s per 1,000 rows | %s | | | | | |\n", b.cell("d.csv.cpu1k", "%.3f"))
		p("| peak RSS, MB | %s | | | | ≤ 150 | %s |\n", b.cell("d.csv.rss", "%.0f"), b.verdict("d.csv.rss", func(v float64) bool { return v <= 150 }))
	}
	if b.want("d") {
		p("| **d. %s-row XLSX end to end** (rate 0, 64 in flight): rows/s | %s | | | | | |\n", n(b.sz.xlsx), b.cell("d.xlsx.rps", "%.0f"))
		p("| wall time, s | %s | | | | | |\n", b.cell("d.xlsx.wall", "%.1f"))
		p("| CPU s per 1,000 rows | %s | | | | | |\n", b.cell("d.xlsx.cpu1k", "%.3f"))
		p("| peak RSS, MB | %s | | | | ≤ 250 | %s |\n", b.cell("d.xlsx.rss", "%.0f"), b.verdict("d.xlsx.rss", func(v float64) bool { return v <= 250 }))
	}
	if b.want("e") {
		p("| **e. resuming the finished %s-row run**: seconds | %s | | | | | |\n", n(b.sz.csv), b.cell("e.wall", "%.2f"))
		p("| calls sent (ledger delta) | %s | | | | 0 | %s |\n", b.cell("e.calls", "%.0f"), b.verdict("e.calls", func(v float64) bool { return v == 0 }))
		p("| time ÷ the first run's | %s | | | | ≤ 10%% | %s |\n", b.cell("e.ratio", "%.1f%%", 100), b.verdict("e.ratio", func(v float64) bool { return v <= 0.10 }))
		p("| peak RSS, MB | %s | | | | | |\n", b.cell("e.rss", "%.0f"))
	}
	if b.sz != fullSizes {
		p("\n**-quick: sizes below the issue's; the figures are a smoke test, not the benchmark.**\n")
	}

	if len(b.notes) > 0 {
		p("\nNotes:\n\n")
		for _, s := range b.notes {
			p("- %s\n", s)
		}
	}
	p("\nCommands measured (PORT: a free loopback port; ACEDATA_TOKEN=bench):\n\n```\n")
	for _, c := range b.cmds {
		p("%s\n", c)
	}
	p("```\n")

	p("\n<details><summary>Every run's figures</summary>\n\n```\n")
	ids := make([]string, 0, len(b.res))
	for id := range b.res {
		ids = append(ids, id)
	}
	sort.Strings(ids)
	for _, id := range ids {
		vs := make([]string, len(b.res[id]))
		for i, v := range b.res[id] {
			vs[i] = strconv.FormatFloat(v, 'g', 5, 64)
		}
		p("%-24s %s\n", id, strings.Join(vs, "  "))
	}
	p("```\n\n</details>\n")
	return o.String()
}

func (b *bench) version() string {
	out, err := exec.Command(b.bin, "version").Output()
	if err != nil {
		return "unknown"
	}
	return strings.TrimSpace(strings.TrimPrefix(string(out), "cardbatch "))
}

func cpuModel() string {
	f, err := os.Open("/proc/cpuinfo")
	if err != nil {
		return runtime.GOARCH
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		if k, v, ok := strings.Cut(sc.Text(), ":"); ok && strings.TrimSpace(k) == "model name" {
			return strings.TrimSpace(v)
		}
	}
	return runtime.GOARCH
}

// loadAvg returns the 1, 5 and 15-minute load averages.
func loadAvg() string {
	bs, err := os.ReadFile("/proc/loadavg")
	if err != nil {
		return "unknown"
	}
	f := strings.Fields(string(bs))
	if len(f) < 3 {
		return "unknown"
	}
	return strings.Join(f[:3], " ")
}

func memTotal() string {
	bs, err := os.ReadFile("/proc/meminfo")
	if err != nil {
		return "memory unknown"
	}
	for _, l := range strings.Split(string(bs), "\n") {
		if f := strings.Fields(l); len(f) >= 2 && f[0] == "MemTotal:" {
			kb, _ := strconv.ParseFloat(f[1], 64)
			return fmt.Sprintf("%.1f GiB RAM", kb/(1<<20))
		}
	}
	return "memory unknown"
}

func groupDigits(x int) string {
	s := strconv.Itoa(x)
	for i := len(s) - 3; i > 0; i -= 3 {
		s = s[:i] + "," + s[i:]
	}
	return s
}

func firstLine(b []byte) string {
	s, _, _ := strings.Cut(string(b), "\n")
	return strings.TrimSpace(s)
}

func logf(format string, args ...any) {
	fmt.Fprintf(os.Stderr, "benchtable: "+format+"\n", args...)
}

func fatalf(format string, args ...any) {
	logf(format, args...)
	os.Exit(1)
}
