package main

import (
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"
)

// job is one measured run of one tool against a fresh simulator.
type job struct {
	scenario string   // for folders and notes
	tool     string   // "cardbatch" or "hand"
	rep      int      // 1-based repetition
	input    string   // the input file
	rate     float64  // --rate (0 = unlimited)
	conc     int      // --concurrency / --workers (0: cardbatch's default, which the hand client also gets)
	simArgs  []string // extra `cardbatch simulate` flags
	stop     time.Duration
}

// do runs j: a fresh simulator, the tool through the launcher, the
// simulator's ledger. A tool that fails is noted (not an error); an
// interrupted cardbatch is expected to exit 130.
func (b *bench) do(j job) (measure, ledgerJSON, error) {
	rdir := filepath.Join(b.work, j.scenario, fmt.Sprintf("%s-%d", j.tool, j.rep))
	if err := os.MkdirAll(rdir, 0o755); err != nil {
		return measure{}, ledgerJSON{}, err
	}
	s, err := b.startSim(rdir, j.simArgs...)
	if err != nil {
		return measure{}, ledgerJSON{}, err
	}
	m, err := b.runTool(rdir, j.tool, b.argv(j, "http://"+s.addr, rdir), j.stop)
	if err != nil {
		s.stop()
		return measure{}, ledgerJSON{}, err
	}
	led, err := b.finish(s, m)
	if err != nil {
		return measure{}, ledgerJSON{}, err
	}
	if m.exit != 0 && (m.stopped == 0 || m.exit != 130) {
		b.note(fmt.Sprintf("%s, run %d: %s exited %d (%s)", j.scenario, j.rep, j.tool, m.exit, m.tail))
	}
	if bad := led.Calls - led.ByStatus["200"]; bad > 0 && j.scenario != "limit" {
		b.note(fmt.Sprintf("%s, run %d: %s got %d answers other than HTTP 200 (by status %v)", j.scenario, j.rep, j.tool, bad, led.ByStatus))
	}
	return m, led, nil
}

// argv is the command line of j's tool (the commands measured are listed
// in the report).
func (b *bench) argv(j job, endpoint, rdir string) []string {
	rate := strconv.FormatFloat(j.rate, 'f', -1, 64)
	conc := j.conc
	if j.tool == "hand" {
		if conc == 0 {
			conc = cardbatchConcurrency
		}
		return []string{b.hand, "--input", j.input, "--output", filepath.Join(rdir, "out.csv"), "--column", "card_no",
			"--endpoint", endpoint, "--rate", rate, "--workers", strconv.Itoa(conc)}
	}
	out := "out" + filepath.Ext(j.input)
	a := []string{b.bin, "run", "--input", j.input, "--output", filepath.Join(rdir, out), "--column", "card_no",
		"--endpoint", endpoint, "--rate", rate, "--no-progress"}
	if conc > 0 {
		a = append(a, "--concurrency", strconv.Itoa(conc))
	}
	if b.cpuprofile {
		a = append(a, "--cpuprofile", filepath.Join(b.profiles, fmt.Sprintf("%s-%d.pprof", j.scenario, j.rep)))
	}
	return a
}

// bothTools runs cardbatch and the hand client on the same job, in turn
// (which one goes first alternates with the repetition, so that a change
// in the machine's load does not always favour the same tool).
func (b *bench) bothTools(j job, each func(tool string, m measure, led ledgerJSON)) error {
	order := []string{"cardbatch", "hand"}
	if j.rep%2 == 0 {
		order = []string{"hand", "cardbatch"}
	}
	for _, tool := range order {
		j.tool = tool
		m, led, err := b.do(j)
		if err != nil {
			return err
		}
		each(tool, m, led)
	}
	return nil
}

// scenarioPaced is figure 1: CPU per 1,000 calls at --rate 60 against 50 ms
// of latency, cardbatch and the hand client side by side.
func (b *bench) scenarioPaced() error {
	in, err := b.input("csv", b.sz.paced)
	if err != nil {
		return err
	}
	b.cmds = append(b.cmds,
		fmt.Sprintf("1: cardbatch simulate --addr 127.0.0.1:PORT --seed 1 --latency %s", pacedLatency),
		fmt.Sprintf("1: cardbatch run --input %s --output out.csv --column card_no --endpoint http://127.0.0.1:PORT --rate %d --no-progress", filepath.Base(in), pacedRate),
		fmt.Sprintf("1: handclient --input %s --output out.csv --column card_no --endpoint http://127.0.0.1:PORT --rate %d --workers %d", filepath.Base(in), pacedRate, cardbatchConcurrency))
	for rep := 1; rep <= b.runs; rep++ {
		cpu := map[string]float64{}
		err := b.bothTools(job{scenario: "paced", rep: rep, input: in, rate: pacedRate, simArgs: []string{"--latency", pacedLatency}},
			func(tool string, m measure, led ledgerJSON) {
				cpu[tool] = m.cpu() / (float64(led.Calls) / 1000)
				b.res.add("paced."+tool+".cpu1k", cpu[tool])
				b.res.add("paced."+tool+".achieved", led.achieved())
				b.res.add("paced."+tool+".rss", m.rssMB())
				b.progress("paced", rep, tool, "%d calls at %.1f/s, CPU %.3fs (user %.3f, sys %.3f) = %.3f s per 1,000 calls, wall %.1fs, peak RSS %.0f MB",
					led.Calls, led.achieved(), m.cpu(), m.user.Seconds(), m.sys.Seconds(), cpu[tool], m.wall.Seconds(), m.rssMB())
			})
		if err != nil {
			return err
		}
		b.res.add("paced.ratio", cpu["cardbatch"]/cpu["hand"])
	}
	return nil
}

// scenarioStart is figures 2 and 3: the large CSV and XLSX at --rate 60,
// interrupted after b.sz.hold; seconds from the process's start to the
// simulator's first call, and the peak RSS of the whole run.
func (b *bench) scenarioStart() error {
	for _, k := range []struct {
		kind string
		rows int
	}{{"csv", b.sz.csv}, {"xlsx", b.sz.xlsx}} {
		in, err := b.input(k.kind, k.rows)
		if err != nil {
			return err
		}
		b.cmds = append(b.cmds, fmt.Sprintf("2,3: cardbatch run --input %s --output out.%s --column card_no --endpoint http://127.0.0.1:PORT --rate %d --no-progress   (SIGINT after %s; simulator --latency %s)",
			filepath.Base(in), k.kind, pacedRate, b.sz.hold, pacedLatency))
		for rep := 1; rep <= b.runs; rep++ {
			m, led, err := b.do(job{scenario: "start-" + k.kind, tool: "cardbatch", rep: rep, input: in, rate: pacedRate,
				simArgs: []string{"--latency", pacedLatency}, stop: b.sz.hold})
			if err != nil {
				return err
			}
			if led.FirstCall.IsZero() {
				b.note(fmt.Sprintf("start-%s, run %d: no call within %s", k.kind, rep, b.sz.hold))
			} else {
				b.res.add("start."+k.kind+".first", led.FirstCall.Sub(m.start).Seconds())
			}
			b.res.add("start."+k.kind+".rss", m.rssMB())
			b.res.add("start."+k.kind+".stop", m.stopped.Seconds())
			b.res.add("start."+k.kind+".calls", float64(led.Calls))
			b.progress("start-"+k.kind, rep, "cardbatch", "first call %.3fs after start, %d calls, exit %d %.1fs after SIGINT, peak RSS %.0f MB, CPU %.1fs",
				led.FirstCall.Sub(m.start).Seconds(), led.Calls, m.exit, m.stopped.Seconds(), m.rssMB(), m.cpu())
		}
	}
	return nil
}

// scenarioUnlimited is figure 4: calls per second at --rate 0 with 64 calls
// in flight, cardbatch ÷ the hand client.
func (b *bench) scenarioUnlimited() error {
	in, err := b.input("csv", b.sz.unlimited)
	if err != nil {
		return err
	}
	b.cmds = append(b.cmds,
		"4: cardbatch simulate --addr 127.0.0.1:PORT --seed 1   (no latency)",
		fmt.Sprintf("4: cardbatch run --input %s --output out.csv --column card_no --endpoint http://127.0.0.1:PORT --rate 0 --concurrency %d --no-progress", filepath.Base(in), inflight),
		fmt.Sprintf("4: handclient --input %s --output out.csv --column card_no --endpoint http://127.0.0.1:PORT --rate 0 --workers %d", filepath.Base(in), inflight))
	for rep := 1; rep <= b.runs; rep++ {
		cps := map[string]float64{}
		err := b.bothTools(job{scenario: "unlimited", rep: rep, input: in, rate: 0, conc: inflight},
			func(tool string, m measure, led ledgerJSON) {
				cps[tool] = float64(led.Calls) / m.wall.Seconds()
				b.res.add("unlimited."+tool+".cps", cps[tool])
				b.res.add("unlimited."+tool+".cpu1k", m.cpu()/(float64(led.Calls)/1000))
				b.res.add("unlimited."+tool+".rss", m.rssMB())
				b.progress("unlimited", rep, tool, "%d calls in %.2fs = %.0f calls/s (%.0f/s first..last call), CPU %.2fs, peak RSS %.0f MB",
					led.Calls, m.wall.Seconds(), cps[tool], led.achieved(), m.cpu(), m.rssMB())
			})
		if err != nil {
			return err
		}
		b.res.add("unlimited.ratio", cps["cardbatch"]/cps["hand"])
	}
	return nil
}

// scenarioRate keeps issue 6's rate fidelity: --rate 200 against 100 ms of
// latency, cardbatch's defaults otherwise.
func (b *bench) scenarioRate() error {
	in, err := b.input("csv", b.sz.rate)
	if err != nil {
		return err
	}
	b.cmds = append(b.cmds,
		"b: cardbatch simulate --addr 127.0.0.1:PORT --seed 1 --latency 100ms",
		fmt.Sprintf("b: cardbatch run --input %s --output out.csv --column card_no --endpoint http://127.0.0.1:PORT --rate %d --no-progress   (default --concurrency, --burst)", filepath.Base(in), fastRate))
	for rep := 1; rep <= b.runs; rep++ {
		_, led, err := b.do(job{scenario: "rate", tool: "cardbatch", rep: rep, input: in, rate: fastRate, simArgs: []string{"--latency", "100ms"}})
		if err != nil {
			return err
		}
		b.res.add("rate.ratio", led.achieved()/fastRate)
		b.res.add("rate.maxwin", float64(led.MaxCallsPerSecond))
		b.progress("rate", rep, "cardbatch", "%d calls at %.1f/s (%.3f of %d), max %d in 1 s",
			led.Calls, led.achieved(), led.achieved()/fastRate, fastRate, led.MaxCallsPerSecond)
	}
	return nil
}

// scenarioLimit keeps issue 6's 429 convergence: --rate 200 against a
// simulator that allows 120/s.
func (b *bench) scenarioLimit() error {
	in, err := b.input("csv", b.sz.limit)
	if err != nil {
		return err
	}
	b.cmds = append(b.cmds,
		fmt.Sprintf("c: cardbatch simulate --addr 127.0.0.1:PORT --seed 1 --rate-limit %d   (bucket of one second's worth)", limitRate),
		fmt.Sprintf("c: cardbatch run --input %s --output out.csv --column card_no --endpoint http://127.0.0.1:PORT --rate %d --no-progress", filepath.Base(in), fastRate))
	for rep := 1; rep <= b.runs; rep++ {
		_, led, err := b.do(job{scenario: "limit", tool: "cardbatch", rep: rep, input: in, rate: fastRate,
			simArgs: []string{"--rate-limit", strconv.Itoa(limitRate)}})
		if err != nil {
			return err
		}
		n429 := led.ByStatus["429"]
		accepted := led.Calls - n429
		var achieved float64
		if s := led.span(); s > 0 {
			achieved = float64(accepted-1) / s.Seconds()
		}
		b.res.add("limit.ratio", achieved/limitRate)
		b.res.add("limit.share429", float64(n429)/float64(max(led.Calls, 1)))
		b.progress("limit", rep, "cardbatch", "%d calls (%d answered 429), %d accepted at %.1f/s (%.3f of %d)",
			led.Calls, n429, accepted, achieved, achieved/limitRate, limitRate)
	}
	return nil
}

// scenarioNames are the scenarios -only accepts, in the order they run.
var scenarioNames = []string{"paced", "start", "unlimited", "rate", "limit", "lines"}

func (b *bench) run() error {
	steps := map[string]func() error{
		"paced": b.scenarioPaced, "start": b.scenarioStart, "unlimited": b.scenarioUnlimited,
		"rate": b.scenarioRate, "limit": b.scenarioLimit, "lines": b.lines,
	}
	for _, name := range scenarioNames {
		if !b.want(name) {
			continue
		}
		if err := steps[name](); err != nil {
			return fmt.Errorf("%s: %w", name, err)
		}
	}
	return nil
}

func (b *bench) want(s string) bool { return len(b.only) == 0 || b.only[s] }

func parseOnly(s string) (map[string]bool, error) {
	only := map[string]bool{}
	for _, f := range strings.Split(s, ",") {
		if f = strings.TrimSpace(strings.ToLower(f)); f == "" {
			continue
		}
		known := false
		for _, n := range scenarioNames {
			known = known || n == f
		}
		if !known {
			return nil, fmt.Errorf("-only takes %s; got %q", strings.Join(scenarioNames, ", "), f)
		}
		only[f] = true
	}
	return only, nil
}
