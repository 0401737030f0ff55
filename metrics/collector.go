package metrics

import (
	"strings"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// state is the latest Snapshot and the last-success time, shared by the text
// file's collector and the push's collector.
type state struct {
	mu          sync.Mutex
	snap        Snapshot
	lastSuccess float64 // Unix seconds; 0 when no success is known
}

func (st *state) update(s Snapshot) {
	s = s.clone()
	st.mu.Lock()
	defer st.mu.Unlock()
	st.snap = s
	if s.Success {
		st.lastSuccess = unixSeconds(s.Now)
	}
}

func (st *state) get() (Snapshot, float64) {
	st.mu.Lock()
	defer st.mu.Unlock()
	return st.snap, st.lastSuccess
}

// unixSeconds returns t as Unix seconds with millisecond precision, 0 for the
// zero time.
func unixSeconds(t time.Time) float64 {
	if t.IsZero() {
		return 0
	}
	return float64(t.UnixMilli()) / 1000
}

// collector turns the latest Snapshot into constant metrics on every Collect.
type collector struct {
	st                                   *state
	calls, billing, charged, retries     *prometheus.Desc
	rows, inDoubt, cost, start, duration *prometheus.Desc
	lastSuccess, rateLimit, achievedRate *prometheus.Desc
}

// newCollector describes the series with constLabels on each (nil for none).
func newCollector(st *state, constLabels prometheus.Labels) *collector {
	d := func(name, help string, labels ...string) *prometheus.Desc {
		return prometheus.NewDesc("cardbatch_"+name, help, labels, constLabels)
	}
	return &collector{
		st:           st,
		calls:        d("calls_total", "HTTP requests sent to the card API, retries included, by result code (or http_429, http_4xx, http_5xx, no_answer when no code came back).", "result"),
		billing:      d("calls_by_billing_total", "HTTP requests sent to the card API by billing class: charged, free, unknown (undocumented code, counted as charged), none (no answer).", "billing"),
		charged:      d("charged_calls_total", "Answers with a charged result code."),
		retries:      d("retries_total", "Retried calls by cause: busy, http_429, http_5xx, network.", "cause"),
		rows:         d("rows", "Input rows by status.", "status"),
		inDoubt:      d("in_doubt_calls", "Calls that may have been charged but whose answer was lost."),
		cost:         d("estimated_cost", "Estimated cost of the charged calls in the currency of the price given; 0 without a price."),
		start:        d("run_start_timestamp_seconds", "When the run began, in Unix time."),
		duration:     d("run_duration_seconds", "Time from the run's start to these figures."),
		lastSuccess:  d("last_success_timestamp_seconds", "When a run last finished with every row answered, in Unix time."),
		rateLimit:    d("rate_limit_per_second", "The requested rate limit, in calls per second."),
		achievedRate: d("achieved_rate_per_second", "Calls per second achieved over the run."),
	}
}

// Describe sends every series' description.
func (c *collector) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{c.calls, c.billing, c.charged, c.retries, c.rows, c.inDoubt,
		c.cost, c.start, c.duration, c.lastSuccess, c.rateLimit, c.achievedRate} {
		ch <- d
	}
}

// Collect sends the latest Snapshot's figures; the last-success series only
// when a success is known.
func (c *collector) Collect(ch chan<- prometheus.Metric) {
	s, last := c.st.get()
	labelled(ch, c.calls, prometheus.CounterValue, s.CallsByResult, knownResults())
	labelled(ch, c.billing, prometheus.CounterValue, s.CallsByBilling, knownBilling())
	labelled(ch, c.retries, prometheus.CounterValue, s.RetriesByCause, knownCauses())
	labelled(ch, c.rows, prometheus.GaugeValue, s.RowsByStatus, knownStatuses())
	ch <- prometheus.MustNewConstMetric(c.charged, prometheus.CounterValue, float64(s.ChargedCalls))
	gauge := func(d *prometheus.Desc, v float64) {
		ch <- prometheus.MustNewConstMetric(d, prometheus.GaugeValue, v)
	}
	gauge(c.inDoubt, float64(s.InDoubt))
	gauge(c.cost, s.EstimatedCost)
	gauge(c.start, unixSeconds(s.Start))
	duration := 0.0
	if !s.Start.IsZero() && s.Now.After(s.Start) {
		duration = s.Now.Sub(s.Start).Seconds()
	}
	gauge(c.duration, duration)
	gauge(c.rateLimit, s.RateLimit)
	gauge(c.achievedRate, s.AchievedRate)
	if last > 0 {
		gauge(c.lastSuccess, last)
	}
}

// labelled sends one metric per label value: every known value (0 when m
// lacks it) and m's other keys. A label value must be valid UTF-8, so other
// bytes become U+FFFD (and keys that then coincide are added up).
func labelled(ch chan<- prometheus.Metric, d *prometheus.Desc, t prometheus.ValueType, m map[string]int64, known []string) {
	values := make(map[string]int64, len(known)+len(m))
	for _, k := range known {
		values[k] = 0
	}
	for k, v := range m {
		values[strings.ToValidUTF8(k, "\uFFFD")] += v
	}
	for k, v := range values {
		ch <- prometheus.MustNewConstMetric(d, t, float64(v), k)
	}
}
