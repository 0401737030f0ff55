package main

import (
	"bufio"
	"fmt"
	"maps"
	"os"
	"os/exec"
	"runtime"
	"slices"
	"sort"
	"strconv"
	"strings"
	"time"
)

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

func atMost(x float64) func(float64) bool  { return func(v float64) bool { return v <= x } }
func atLeast(x float64) func(float64) bool { return func(v float64) bool { return v >= x } }

func (b *bench) report(elapsed time.Duration) string {
	var o strings.Builder
	b.header(&o, elapsed)
	o.WriteString(b.table())
	if b.sz != fullSizes {
		o.WriteString("\n**Sizes other than the issue's (-quick or -hold): a smoke test, not the benchmark.**\n")
	}
	if len(b.notes) > 0 {
		o.WriteString("\nNotes:\n\n")
		for _, s := range b.notes {
			fmt.Fprintf(&o, "- %s\n", s)
		}
	}
	o.WriteString("\nCommands measured (PORT: a free loopback port; ACEDATA_TOKEN=bench; the inputs hold distinct valid cards, a third of them typed with spaces, a third with dashes):\n\n```\n")
	for _, c := range b.cmds {
		fmt.Fprintf(&o, "%s\n", c)
	}
	o.WriteString("```\n")
	o.WriteString(b.details())
	return o.String()
}

func (b *bench) header(o *strings.Builder, elapsed time.Duration) {
	p := func(format string, args ...any) { fmt.Fprintf(o, format, args...) }
	p("## `make bench` — cardbatch side by side with a hand-written Go client (issue 12)\n\n")
	p("- date: %s; took %s\n", time.Now().Format("2006-01-02 15:04 MST"), elapsed.Round(time.Second))
	p("- command: `go run ./tools/bench/cmd/benchtable %s` (what `make bench` runs, after building bin/cardbatch and bin/handclient)\n", strings.Join(os.Args[1:], " "))
	p("- machine: %d cores (nproc), %s, %s, %s/%s; load average (1, 5, 15 min) at the start %s, at the end %s\n",
		runtime.NumCPU(), cpuModel(), memTotal(), runtime.GOOS, runtime.GOARCH, b.load0, loadAvg())
	p("- go: %s; cardbatch: %s\n", runtime.Version(), b.version())
	if v, ok := b.res.median("noise.cores"); ok {
		p("- other processes kept %.2f cores busy during the median measured run (%.2f at most) out of %d\n",
			v, slices.Max(b.res["noise.cores"]), runtime.NumCPU())
		if v > 0.2 {
			p("- **the machine was not idle: absolute figures are pessimistic; the side-by-side ratios, measured run by run, are the more robust**\n")
		}
	}
	p("- every figure is the median of %d run(s); ratios are computed run by run, then the median taken; "+
		"each tool and each simulator is its own process: CPU = user+sys of the tool's process from wait4's rusage (not the simulator's), "+
		"peak RSS = its ru_maxrss, measured through a small launcher whose own %.1f MB are the floor; "+
		"cardbatch runs with its defaults otherwise (--concurrency 32, its answer cache in a fresh XDG_CACHE_HOME per run); MB = 10^6 bytes\n\n",
		b.runs, float64(b.floorKiB)*1024/1e6)
}

func (b *bench) table() string {
	var o strings.Builder
	row := func(cells ...string) { o.WriteString("| " + strings.Join(cells, " | ") + " |\n") }
	n := groupDigits
	row("#", "figure", "cardbatch", "hand-written Go client", "cardbatch ÷ hand client", "target", "met")
	row("---", "---", "---:", "---:", "---:", "---", "---")
	if b.want("paced") {
		row("1", fmt.Sprintf("CPU s per 1,000 calls, --rate %d, %s latency (%s cards)", pacedRate, pacedLatency, n(b.sz.paced)),
			b.cell("paced.cardbatch.cpu1k", "%.3f"), b.cell("paced.hand.cpu1k", "%.3f"), b.cell("paced.ratio", "%.2f×"),
			"≤ 1.1×", b.verdict("paced.ratio", atMost(1.1)))
		row("", "calls/s achieved (ledger, first → last call)", b.cell("paced.cardbatch.achieved", "%.1f"), b.cell("paced.hand.achieved", "%.1f"), "", "", "")
		row("", "peak RSS, MB", b.cell("paced.cardbatch.rss", "%.0f"), b.cell("paced.hand.rss", "%.0f"), "", "", "")
	}
	if b.want("start") {
		for _, k := range []struct{ kind, what string }{{"csv", n(b.sz.csv) + "-row CSV"}, {"xlsx", n(b.sz.xlsx) + "-row XLSX"}} {
			row("2", fmt.Sprintf("seconds from process start to the first call, %s, --rate %d", k.what, pacedRate),
				b.cell("start."+k.kind+".first", "%.2f"), "", "", "≤ 1 s", b.verdict("start."+k.kind+".first", atMost(1)))
		}
		for _, k := range []struct{ kind, what string }{{"csv", n(b.sz.csv) + "-row CSV"}, {"xlsx", n(b.sz.xlsx) + "-row XLSX"}} {
			row("3", fmt.Sprintf("peak RSS, MB, %s: %s at --rate %d, then SIGINT", k.what, b.sz.hold, pacedRate),
				b.cell("start."+k.kind+".rss", "%.0f"), "", "", "≤ 150 MB", b.verdict("start."+k.kind+".rss", atMost(150)))
		}
		row("", "seconds from SIGINT to exit, CSV / XLSX", b.cell("start.csv.stop", "%.1f")+" / "+b.cell("start.xlsx.stop", "%.1f"), "", "", "", "")
	}
	if b.want("unlimited") {
		row("4", fmt.Sprintf("calls/s, --rate 0, %d in flight, no latency (%s cards; calls ÷ wall time)", inflight, n(b.sz.unlimited)),
			b.cell("unlimited.cardbatch.cps", "%.0f"), b.cell("unlimited.hand.cps", "%.0f"), b.cell("unlimited.ratio", "%.2f×"),
			"≥ 0.6× (floor)", b.verdict("unlimited.ratio", atLeast(0.6)))
		row("", "CPU s per 1,000 calls at --rate 0", b.cell("unlimited.cardbatch.cpu1k", "%.3f"), b.cell("unlimited.hand.cpu1k", "%.3f"), "", "", "")
	}
	if b.want("lines") && len(b.loc) == 2 {
		now, before := b.loc[0], b.loc[1]
		row("5", "product lines of Go (non-test .go files; tools/, bench/, e2e/, samples/ excluded)",
			fmt.Sprintf("%s now (%s, %d files)", n(now.lines), now.commit, now.files), "",
			fmt.Sprintf("now ÷ before: %.2f×", float64(now.lines)/float64(before.lines)),
			fmt.Sprintf("before the redesign: %s at %s (%d files)", n(before.lines), before.commit, before.files), "—")
	}
	if b.want("rate") {
		row("b", fmt.Sprintf("--rate %d, 100 ms latency (%s cards): achieved ÷ --rate (ledger, first → last call)", fastRate, n(b.sz.rate)),
			b.cell("rate.ratio", "%.3f"), "", "", "≥ 0.98", b.verdict("rate.ratio", atLeast(0.98)))
		row("b", "most calls in any 1-s window (ledger)", b.cell("rate.maxwin", "%.0f"), "", "",
			fmt.Sprintf("≤ %d (rate + burst)", fastRate+defBurst), b.verdict("rate.maxwin", atMost(fastRate+defBurst)))
	}
	if b.want("limit") {
		row("c", fmt.Sprintf("--rate %d against a simulator limited to %d/s (%s cards): accepted calls/s ÷ %d", fastRate, limitRate, n(b.sz.limit), limitRate),
			b.cell("limit.ratio", "%.3f"), "", "", "≥ 0.90", b.verdict("limit.ratio", atLeast(0.90)))
		row("c", "share of calls answered 429", b.cell("limit.share429", "%.2f%%", 100), "", "", "≤ 3%", b.verdict("limit.share429", atMost(0.03)))
	}
	return o.String()
}

// details lists every run's figures and the lines of Go by folder.
func (b *bench) details() string {
	var o strings.Builder
	o.WriteString("\n<details><summary>Every run's figures</summary>\n\n```\n")
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
		fmt.Fprintf(&o, "%-28s %s\n", id, strings.Join(vs, "  "))
	}
	o.WriteString("```\n\n</details>\n")
	if len(b.loc) == 2 {
		o.WriteString("\n<details><summary>Product lines of Go by top-level folder</summary>\n\n")
		fmt.Fprintf(&o, "| folder | %s (now) | %s (before) |\n|---|---:|---:|\n", b.loc[0].commit, b.loc[1].commit)
		dirs := map[string]bool{}
		for _, g := range b.loc {
			for d := range g.byDir {
				dirs[d] = true
			}
		}
		for _, d := range slices.Sorted(maps.Keys(dirs)) {
			fmt.Fprintf(&o, "| %s | %d | %d |\n", d, b.loc[0].byDir[d], b.loc[1].byDir[d])
		}
		o.WriteString("\n</details>\n")
	}
	return o.String()
}

func (b *bench) version() string {
	out, err := exec.Command(b.bin, "version").Output()
	if err != nil {
		return "unknown"
	}
	return strings.TrimSpace(strings.TrimPrefix(firstLine(out), "cardbatch "))
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
