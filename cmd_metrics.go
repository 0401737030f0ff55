package main

import (
	"context"
	"fmt"
	"log/slog"
	"strconv"
	"strings"
	"time"

	"cardbatch/billing"
	"cardbatch/checkpoint"
	"cardbatch/metrics"
)

// metricsRun exports a run's series while it runs and once at its end.
type metricsRun struct {
	exp    *metrics.Exporter
	start  time.Time
	rate   float64
	cancel context.CancelFunc
	done   chan error
}

// startMetrics starts the exporter of --metrics-file and --metrics-push,
// refreshed from the checkpoint every interval; nil when neither is set.
func startMetrics(ctx context.Context, f *runFlags, store *checkpoint.Store, log *slog.Logger) (*metricsRun, error) {
	if f.metricsFile == "" && f.metricsPush == "" {
		return nil, nil
	}
	exp, err := metrics.New(metrics.Options{Job: f.metricsJob, Grouping: f.metricsLabels, File: f.metricsFile,
		PushURL: f.metricsPush, OnError: func(err error) { log.Warn("metrics", "error", err) }})
	if err != nil {
		return nil, usageErr("metrics: %v", err)
	}
	mctx, cancel := context.WithCancel(context.WithoutCancel(ctx))
	m := &metricsRun{exp: exp, start: time.Now(), rate: f.rate, cancel: cancel, done: make(chan error, 1)}
	go func() { m.done <- exp.Run(mctx) }()
	go m.refresh(mctx, store, metrics.DefaultInterval)
	return m, nil
}

// refresh updates the series from the checkpoint until ctx ends.
func (m *metricsRun) refresh(ctx context.Context, store *checkpoint.Store, every time.Duration) {
	t := time.NewTicker(every)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			if sum, err := store.Summary(ctx); err == nil {
				m.exp.Update(snapshotOf(sum, m.start, m.rate, false))
			}
		}
	}
}

// finish exports the final figures and stops; a failure is only logged.
func (m *metricsRun) finish(sum *billing.Summary, success bool, log *slog.Logger) {
	if m == nil {
		return
	}
	if sum != nil {
		m.exp.Update(snapshotOf(sum, m.start, m.rate, success))
	}
	m.cancel()
	if err := <-m.done; err != nil {
		log.Warn("metrics: the final export failed", "error", err)
	}
}

// snapshotOf turns a billing summary into the metrics' figures. Retries by
// cause are the calls whose answer is retried (busy, 429, 5xx, no answer).
func snapshotOf(sum *billing.Summary, start time.Time, rate float64, success bool) metrics.Snapshot {
	now := time.Now()
	s := metrics.Snapshot{CallsByResult: map[string]int64{}, RowsByStatus: map[string]int64{},
		RetriesByCause: map[string]int64{}, InDoubt: sum.InDoubt, ChargedCalls: sum.ChargedCalls,
		EstimatedCost: sum.EstimatedCost, RateLimit: rate, Start: start, Now: now, Success: success}
	for code, n := range sum.ByResult {
		s.CallsByResult[code] += n
	}
	for status, n := range sum.ByHTTPStatus {
		label, cause := httpLabel(status)
		s.CallsByResult[label] += n
		if cause != "" {
			s.RetriesByCause[cause] += n
		}
	}
	s.RetriesByCause[metrics.RetryBusy] = sum.ByResult[billing.ResultBusy]
	for st, n := range sum.ByStatus {
		s.RowsByStatus[st] = int64(n)
	}
	charged := sum.ChargedCalls - sum.UnknownCalls
	none := max(0, sum.APICalls-sum.ChargedCalls-sum.FreeCalls)
	s.CallsByBilling = map[string]int64{metrics.BillingCharged: charged, metrics.BillingUnknown: sum.UnknownCalls,
		metrics.BillingFree: sum.FreeCalls, metrics.BillingNone: none}
	if n := len(sum.Attempts); n > 0 {
		if d := now.Sub(start).Seconds(); d > 0 {
			s.AchievedRate = float64(sum.Attempts[n-1].APICalls) / d
		}
	}
	return s
}

// httpLabel names a non-200 HTTP status for the metrics, and the retry
// cause it is ("" when it is not retried).
func httpLabel(status string) (label, cause string) {
	code, _ := strconv.Atoi(status)
	switch {
	case code == 0:
		return metrics.ResultNoAnswer, metrics.RetryNetwork
	case code == 429:
		return metrics.ResultHTTP429, metrics.RetryHTTP429
	case code >= 500:
		return metrics.ResultHTTP5xx, metrics.RetryHTTP5xx
	}
	return metrics.ResultHTTP4xx, ""
}

// labelsFlag is a repeatable --metrics-label k=v.
type labelsFlag map[string]string

func (l labelsFlag) String() string { return fmt.Sprint(map[string]string(l)) }

func (l labelsFlag) Set(v string) error {
	k, val, ok := strings.Cut(v, "=")
	if !ok || k == "" {
		return fmt.Errorf("want name=value, not %q", v)
	}
	l[k] = val
	return nil
}
