package metrics

import (
	"bytes"
	"io"
	"net"
	"net/http"
	"os/exec"
	"strings"
	"testing"
	"time"

	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"
)

// Night 1, 2 and 3 of a nightly job: 02:00 UTC on 1, 2 and 3 March 2026.
var (
	night1 = time.Date(2026, 3, 1, 2, 0, 0, 0, time.UTC) // Unix 1772330400
	night2 = time.Date(2026, 3, 2, 2, 0, 0, 0, time.UTC) // Unix 1772416800
	night3 = time.Date(2026, 3, 3, 2, 0, 0, 0, time.UTC) // Unix 1772503200
)

// fullSnapshot is a finished run of 1,000 rows (the CLI document's summary
// example) that ran 52.5 s from night1.
func fullSnapshot() Snapshot {
	return Snapshot{
		CallsByResult:  map[string]int64{"0": 650, "-1": 50, "-2": 200, "-3": 30, "http_429": 7, "no_answer": 2},
		CallsByBilling: map[string]int64{"charged": 700, "free": 237, "none": 2},
		RowsByStatus:   map[string]int64{"ok": 650, "not_found": 50, "card_not_exist": 30, "invalid": 20, "duplicate": 50, "cached": 200},
		RetriesByCause: map[string]int64{"busy": 200, "http_429": 7, "network": 2},
		InDoubt:        1,
		ChargedCalls:   700,
		EstimatedCost:  35.5,
		RateLimit:      20,
		AchievedRate:   17.88,
		Start:          night1,
		Now:            night1.Add(52500 * time.Millisecond),
		Success:        true,
	}
}

// expectation is one series' value; labels are matched as a subset.
type expectation struct {
	name   string
	labels map[string]string
	want   float64
}

// fullExpected are fullSnapshot's series as the package doc defines them.
func fullExpected() []expectation {
	l := func(k, v string) map[string]string { return map[string]string{k: v} }
	return []expectation{
		{"cardbatch_calls_total", l("result", "0"), 650},
		{"cardbatch_calls_total", l("result", "-1"), 50},
		{"cardbatch_calls_total", l("result", "-2"), 200},
		{"cardbatch_calls_total", l("result", "-3"), 30},
		{"cardbatch_calls_total", l("result", "http_429"), 7},
		{"cardbatch_calls_total", l("result", "http_4xx"), 0},
		{"cardbatch_calls_total", l("result", "http_5xx"), 0},
		{"cardbatch_calls_total", l("result", "no_answer"), 2},
		{"cardbatch_calls_by_billing_total", l("billing", "charged"), 700},
		{"cardbatch_calls_by_billing_total", l("billing", "free"), 237},
		{"cardbatch_calls_by_billing_total", l("billing", "unknown"), 0},
		{"cardbatch_calls_by_billing_total", l("billing", "none"), 2},
		{"cardbatch_rows", l("status", "ok"), 650},
		{"cardbatch_rows", l("status", "not_found"), 50},
		{"cardbatch_rows", l("status", "card_not_exist"), 30},
		{"cardbatch_rows", l("status", "busy"), 0},
		{"cardbatch_rows", l("status", "invalid"), 20},
		{"cardbatch_rows", l("status", "duplicate"), 50},
		{"cardbatch_rows", l("status", "cached"), 200},
		{"cardbatch_rows", l("status", "failed"), 0},
		{"cardbatch_rows", l("status", "skipped"), 0},
		{"cardbatch_retries_total", l("cause", "busy"), 200},
		{"cardbatch_retries_total", l("cause", "http_429"), 7},
		{"cardbatch_retries_total", l("cause", "http_5xx"), 0},
		{"cardbatch_retries_total", l("cause", "network"), 2},
		{"cardbatch_in_doubt_calls", nil, 1},
		{"cardbatch_charged_calls_total", nil, 700},
		{"cardbatch_estimated_cost", nil, 35.5},
		{"cardbatch_run_start_timestamp_seconds", nil, 1772330400},
		{"cardbatch_run_duration_seconds", nil, 52.5},
		{"cardbatch_last_success_timestamp_seconds", nil, 1772330452.5},
		{"cardbatch_rate_limit_per_second", nil, 20},
		{"cardbatch_achieved_rate_per_second", nil, 17.88},
	}
}

// wantTypes are the series' types as the package doc defines them.
func wantTypes() map[string]dto.MetricType {
	c, g := dto.MetricType_COUNTER, dto.MetricType_GAUGE
	return map[string]dto.MetricType{
		"cardbatch_calls_total": c, "cardbatch_calls_by_billing_total": c, "cardbatch_charged_calls_total": c,
		"cardbatch_retries_total": c, "cardbatch_rows": g, "cardbatch_in_doubt_calls": g,
		"cardbatch_estimated_cost": g, "cardbatch_run_start_timestamp_seconds": g,
		"cardbatch_run_duration_seconds": g, "cardbatch_last_success_timestamp_seconds": g,
		"cardbatch_rate_limit_per_second": g, "cardbatch_achieved_rate_per_second": g,
	}
}

// checkSeries compares families with want, each series also carrying extra.
func checkSeries(t *testing.T, families map[string]*dto.MetricFamily, want []expectation, extra map[string]string) {
	t.Helper()
	for _, w := range want {
		labels := merge(w.labels, extra)
		got, ok := value(families, w.name, labels)
		if !ok {
			t.Errorf("%s%v: missing", w.name, labels)
		} else if got != w.want {
			t.Errorf("%s%v = %v, want %v", w.name, labels, got, w.want)
		}
	}
	for name, typ := range wantTypes() {
		f := families[name]
		if f == nil {
			t.Errorf("%s: no such family", name)
			continue
		}
		if f.GetType() != typ || f.GetHelp() == "" {
			t.Errorf("%s: type %v, help %q; want type %v and a help text", name, f.GetType(), f.GetHelp(), typ)
		}
	}
}

func merge(a, b map[string]string) map[string]string {
	m := map[string]string{}
	for k, v := range a {
		m[k] = v
	}
	for k, v := range b {
		m[k] = v
	}
	return m
}

// value returns the value of name's one series whose labels include labels.
func value(families map[string]*dto.MetricFamily, name string, labels map[string]string) (float64, bool) {
	var found []float64
	for _, m := range families[name].GetMetric() {
		have := map[string]string{}
		for _, lp := range m.GetLabel() {
			have[lp.GetName()] = lp.GetValue()
		}
		match := true
		for k, v := range labels {
			match = match && have[k] == v
		}
		if match {
			found = append(found, m.GetCounter().GetValue()+m.GetGauge().GetValue()+m.GetUntyped().GetValue())
		}
	}
	if len(found) != 1 {
		return 0, false
	}
	return found[0], true
}

func parseText(t *testing.T, r io.Reader) map[string]*dto.MetricFamily {
	t.Helper()
	parser := expfmt.NewTextParser(model.UTF8Validation)
	families, err := parser.TextToMetricFamilies(r)
	if err != nil {
		t.Fatalf("parse the text format: %v", err)
	}
	return families
}

// program returns the path of a Debian program the tests need.
func program(t *testing.T, name, debianPackage string) string {
	t.Helper()
	path, err := exec.LookPath(name)
	if err != nil {
		t.Fatalf("%s not found: install Debian's %s package (apt-get install -y %s)", name, debianPackage, debianPackage)
	}
	return path
}

// startPushgateway runs Debian's Pushgateway on a free loopback port, without
// persistence, until the test ends; it returns its base URL.
func startPushgateway(t *testing.T, args ...string) string {
	t.Helper()
	bin := program(t, "prometheus-pushgateway", "prometheus-pushgateway")
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := l.Addr().String()
	l.Close()
	var out bytes.Buffer
	cmd := exec.Command(bin, append([]string{"--web.listen-address=" + addr, "--persistence.file="}, args...)...)
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	exited := make(chan error, 1)
	go func() { exited <- cmd.Wait() }()
	t.Cleanup(func() {
		cmd.Process.Kill()
		<-exited
	})
	base := "http://" + addr
	for deadline := time.Now().Add(30 * time.Second); ; time.Sleep(20 * time.Millisecond) {
		select {
		case err := <-exited:
			t.Fatalf("prometheus-pushgateway exited (%v):\n%s", err, out.String())
		default:
		}
		if resp, err := http.Get(base + "/-/ready"); err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK || resp.StatusCode == http.StatusUnauthorized {
				return base
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("prometheus-pushgateway not ready on %s after 30 s:\n%s", addr, out.String())
		}
	}
}

// scrape reads the Pushgateway's /metrics as Prometheus would.
func scrape(t *testing.T, base, user, password string) map[string]*dto.MetricFamily {
	t.Helper()
	req, err := http.NewRequest(http.MethodGet, base+"/metrics", nil)
	if err != nil {
		t.Fatal(err)
	}
	if user != "" {
		req.SetBasicAuth(user, password)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("GET %s/metrics: %s", base, resp.Status)
	}
	return parseText(t, resp.Body)
}

// mustNotLeak fails when err's text holds secret.
func mustNotLeak(t *testing.T, err error, secret string) {
	t.Helper()
	if err != nil && strings.Contains(err.Error(), secret) {
		t.Errorf("error shows the password: %v", err)
	}
}
