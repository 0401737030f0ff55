package main

import (
	"fmt"
	"io"
	"log/slog"
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
	args := []any{"rows_done", p.Done, "calls", p.Calls, "charged", p.Charged, "rows_per_s", fmt.Sprintf("%.1f", rate)}
	if p.Total >= 0 {
		args = append(args, "total", p.Total)
		if p.Total > 0 {
			args = append(args, "percent", fmt.Sprintf("%.1f", 100*float64(p.Done)/float64(p.Total)))
		}
		if rate > 0 && p.Total > p.Done {
			eta := time.Duration(float64(p.Total-p.Done) / rate * float64(time.Second)).Round(time.Second)
			args = append(args, "eta", eta.String())
		}
	}
	msg := "progress"
	if p.Final {
		msg = "progress (end of dispatch)"
	}
	r.log.Info(msg, args...)
}
