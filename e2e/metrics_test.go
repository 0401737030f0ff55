package e2e

import (
	"bufio"
	"bytes"
	"encoding/json"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"
)

// program returns the path of a Debian program the test needs, or fails
// naming the package to install.
func program(t *testing.T, name, debianPackage string) string {
	t.Helper()
	path, err := exec.LookPath(name)
	if err != nil {
		t.Fatalf("%s not found: install Debian's %s package (apt-get install -y %s)", name, debianPackage, debianPackage)
	}
	return path
}

// startPushgateway runs Debian's Pushgateway on a free loopback port until
// the test ends and returns its base URL. It keeps nothing on disk (Debian's
// default would share /var/lib/prometheus/pushgateway.data between runs).
func startPushgateway(t *testing.T) string {
	t.Helper()
	bin := program(t, "prometheus-pushgateway", "prometheus-pushgateway")
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := l.Addr().String()
	l.Close()
	out := &lockedBuffer{}
	cmd := exec.Command(bin, "--web.listen-address="+addr, "--persistence.file=")
	cmd.Stdout, cmd.Stderr = out, out
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	exited := make(chan error, 1)
	go func() { exited <- cmd.Wait() }()
	t.Cleanup(func() {
		_ = cmd.Process.Kill()
		<-exited
	})
	base := "http://" + addr
	for deadline := time.Now().Add(procTimeout); ; time.Sleep(20 * time.Millisecond) {
		select {
		case err := <-exited:
			t.Fatalf("prometheus-pushgateway exited (%v):\n%s", err, out)
		default:
		}
		if resp, err := http.Get(base + "/-/ready"); err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return base
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("prometheus-pushgateway not ready on %s:\n%s", addr, out)
		}
	}
}

// pushedGroup is one group of the Pushgateway's API (GET /api/v1/metrics):
// its grouping labels and its metric families by name.
type pushedGroup struct {
	labels   map[string]string
	families map[string]pushedFamily
}

type pushedFamily struct {
	Type    string `json:"type"`
	Metrics []struct {
		Labels map[string]string `json:"labels"`
		Value  string            `json:"value"`
	} `json:"metrics"`
}

// pushedGroups reads every group the Pushgateway holds through its API.
func pushedGroups(t *testing.T, base string) []pushedGroup {
	t.Helper()
	resp, err := http.Get(base + "/api/v1/metrics")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var body struct {
		Status string                       `json:"status"`
		Data   []map[string]json.RawMessage `json:"data"`
	}
	if err := json.NewDecoder(resp.Body).Decode(&body); err != nil || body.Status != "success" {
		t.Fatalf("GET %s/api/v1/metrics: status %q, %v", base, body.Status, err)
	}
	var groups []pushedGroup
	for _, d := range body.Data {
		g := pushedGroup{families: map[string]pushedFamily{}}
		for k, raw := range d {
			switch {
			case k == "labels":
				_ = json.Unmarshal(raw, &g.labels)
			case strings.HasPrefix(k, "cardbatch_"):
				var f pushedFamily
				if err := json.Unmarshal(raw, &f); err != nil {
					t.Fatalf("%s: %v", k, err)
				}
				g.families[k] = f
			}
		}
		groups = append(groups, g)
	}
	return groups
}

// value returns the one series of name whose labels include want.
func (g pushedGroup) value(t *testing.T, name string, want map[string]string) float64 {
	t.Helper()
	var found []string
	for _, m := range g.families[name].Metrics {
		ok := true
		for k, v := range want {
			ok = ok && m.Labels[k] == v
		}
		if ok {
			found = append(found, m.Value)
		}
	}
	if len(found) != 1 {
		t.Fatalf("%s%v: %d series in the Pushgateway, want 1", name, want, len(found))
	}
	v, err := strconv.ParseFloat(found[0], 64)
	if err != nil {
		t.Fatalf("%s%v = %q: %v", name, want, found[0], err)
	}
	return v
}

// fileValue returns the value of the series line that starts with prefix
// in a Prometheus text file.
func fileValue(t *testing.T, text, prefix string) float64 {
	t.Helper()
	sc := bufio.NewScanner(strings.NewReader(text))
	for sc.Scan() {
		if rest, ok := strings.CutPrefix(sc.Text(), prefix+" "); ok {
			v, err := strconv.ParseFloat(rest, 64)
			if err != nil {
				t.Fatalf("%s: %v", sc.Text(), err)
			}
			return v
		}
	}
	t.Fatalf("the metrics file has no series %s:\n%s", prefix, text)
	return 0
}

// A run with --metrics-file and --metrics-push against the simulator and a
// real Pushgateway: promtool accepts the file; the Pushgateway holds the
// run's series under its job and grouping key, with the ledger's charged
// calls, the output's ok rows, and a last-success time inside the run.
func TestMetricsThroughTheCLI(t *testing.T) {
	t.Parallel()
	promtool := program(t, "promtool", "prometheus")
	gw := startPushgateway(t)
	s := startSim(t, "--seed", "94", "--busy-prob", "0.05", "--notexist-prob", "0.1")
	dir := t.TempDir()
	cards := makeCards(94, 120)
	in, out := writeCSV(t, dir, append(cards, cards[:7]...)), filepath.Join(dir, "out.csv")
	file := filepath.Join(dir, "cardbatch.prom")
	before := time.Now()
	r := run(t, dir, runArgs(s, in, out, "--no-cache", "--rate", "0", "--retries", "10", "--metrics-file", file,
		"--metrics-push", gw, "--metrics-job", "nightly", "--metrics-label", "input=cards")...)
	after := time.Now()
	if r.code != 0 {
		t.Fatalf("exit %d\n%s", r.code, r.stderr)
	}
	text, err := os.ReadFile(file)
	if err != nil {
		t.Fatal(err)
	}
	check := exec.Command(promtool, "check", "metrics")
	check.Stdin = bytes.NewReader(text)
	if msg, err := check.CombinedOutput(); err != nil {
		t.Fatalf("promtool check metrics: %v\n%s\n%s", err, msg, text)
	}
	l, tb := s.ledger(t), readTable(t, out)
	ok := tb.count(t, "status")["ok"]
	if ok == 0 || l.Charged == 0 {
		t.Fatalf("nothing to measure: %d ok rows, ledger %+v", ok, l)
	}
	if got := fileValue(t, string(text), `cardbatch_charged_calls_total{input="cards"}`); got != float64(l.Charged) {
		t.Errorf("file: cardbatch_charged_calls_total %v, ledger charged %d", got, l.Charged)
	}

	groups := pushedGroups(t, gw)
	if len(groups) != 1 || groups[0].labels["job"] != "nightly" || groups[0].labels["input"] != "cards" {
		t.Fatalf("Pushgateway groups %+v, want one with job=nightly, input=cards", groups)
	}
	g := groups[0]
	if got := g.value(t, "cardbatch_charged_calls_total", nil); got != float64(l.Charged) {
		t.Errorf("pushed cardbatch_charged_calls_total %v, ledger charged %d", got, l.Charged)
	}
	if got := g.value(t, "cardbatch_rows", map[string]string{"status": "ok"}); got != float64(ok) {
		t.Errorf(`pushed cardbatch_rows{status="ok"} %v, output has %d ok rows`, got, ok)
	}
	if got := g.value(t, "cardbatch_rows", map[string]string{"status": "duplicate"}); got != 7 {
		t.Errorf(`pushed cardbatch_rows{status="duplicate"} %v, want the input's 7 repeats`, got)
	}
	last := g.value(t, "cardbatch_last_success_timestamp_seconds", nil)
	if last < float64(before.Unix()) || last > float64(after.Unix()+1) {
		t.Errorf("pushed cardbatch_last_success_timestamp_seconds %v, want within the run [%d, %d]", last, before.Unix(), after.Unix())
	}
	t.Logf("the Pushgateway's scrape of the pushed series:\n%s", scrapeText(t, gw))
}

// scrapeText is the Pushgateway's /metrics as Prometheus scrapes it, only
// the cardbatch_ families.
func scrapeText(t *testing.T, base string) string {
	t.Helper()
	resp, err := http.Get(base + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	var keep []string
	for _, line := range strings.Split(string(b), "\n") {
		if strings.HasPrefix(line, "cardbatch_") || strings.HasPrefix(line, "# HELP cardbatch_") || strings.HasPrefix(line, "# TYPE cardbatch_") {
			keep = append(keep, line)
		}
	}
	return strings.Join(keep, "\n")
}
