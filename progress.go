package main

import (
	"fmt"
	"io"
	"log/slog"
	"math"
	"time"

	"github.com/schollz/progressbar/v3"

	"cardbatch/pipeline"
)

// barReporter draws a progress bar on a terminal: rows done of total (a
// spinner when the total is unknown), rows/s, ETA and charged calls.
type barReporter struct {
	w   io.Writer
	bar *progressbar.ProgressBar
}

func newBarReporter(w io.Writer) *barReporter { return &barReporter{w: w} }

func (r *barReporter) Update(p pipeline.Progress) {
	if r.bar == nil {
		r.bar = progressbar.NewOptions64(p.Total,
			progressbar.OptionSetWriter(r.w),
			progressbar.OptionSetDescription("enriching"),
			progressbar.OptionShowCount(),
			progressbar.OptionShowIts(),
			progressbar.OptionSetItsString("rows"),
			progressbar.OptionSetPredictTime(true),
			progressbar.OptionThrottle(200*time.Millisecond),
			progressbar.OptionSetWidth(30),
			progressbar.OptionClearOnFinish(),
		)
	}
	r.bar.Describe(fmt.Sprintf("charged %d, calls %d", p.Charged, p.Calls))
	_ = r.bar.Set64(p.Done)
	if p.Final {
		_ = r.bar.Finish()
		fmt.Fprintln(r.w)
	}
}

// logReporter writes a plain log line every interval (for cron and pipes).
type logReporter struct {
	log      *slog.Logger
	interval time.Duration
	last     time.Time
	lastDone int64
	lastAt   time.Duration
}

func newLogReporter(log *slog.Logger, interval time.Duration) *logReporter {
	return &logReporter{log: log, interval: interval, last: time.Now()}
}

// Update logs a progress record. Its figures are numbers (JSON numbers
// with --log-format json): done, total, percent, calls, charged,
// rows_per_s and eta_s; total, percent and eta_s only once known.
func (r *logReporter) Update(p pipeline.Progress) {
	if !p.Final && time.Since(r.last) < r.interval {
		return
	}
	r.last = time.Now()
	rate := 0.0
	if dt := (p.Elapsed - r.lastAt).Seconds(); dt > 0 {
		rate = float64(p.Done-r.lastDone) / dt
	}
	r.lastDone, r.lastAt = p.Done, p.Elapsed
	args := []any{"done", p.Done, "calls", p.Calls, "charged", p.Charged, "rows_per_s", round1(rate)}
	if p.Total >= 0 {
		args = append(args, "total", p.Total)
		if p.Total > 0 {
			args = append(args, "percent", round1(100*float64(p.Done)/float64(p.Total)))
		}
		if rate > 0 && p.Total > p.Done {
			args = append(args, "eta_s", math.Round(float64(p.Total-p.Done)/rate))
		}
	}
	msg := "progress"
	if p.Final {
		msg = "progress (end of dispatch)"
	}
	r.log.Info(msg, args...)
}

// round1 rounds to one decimal, so a log line shows 12.3 and not 12.345678.
func round1(x float64) float64 { return math.Round(x*10) / 10 }

// resultLine is what -q prints at the end instead of the summary table: one
// line (one JSON record with --log-format json) with the run's outcome and
// its main figures as numbers.
func (a *app) resultLine(f *runFlags, res *pipeline.Result) {
	log, err := newLogger(a.stderr, f.logFormat, "info", a.red.attr)
	if err != nil {
		return // the format was checked when the run began
	}
	s := res.Summary
	log.Info("result", "outcome", string(res.Outcome), "rows", s.Rows, "done", s.Done, "failed", s.Failed,
		"skipped", s.Skipped, "api_calls", s.APICalls, "charged_calls", s.ChargedCalls, "in_doubt", s.InDoubt,
		"output", f.output)
}
