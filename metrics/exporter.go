package metrics

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"maps"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/push"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"
)

// Defaults of Options.
const (
	DefaultJob      = "cardbatch"
	DefaultInterval = 15 * time.Second
	DefaultTimeout  = 5 * time.Second
)

// lastSuccessName is the series a failed run carries over from the old file.
const lastSuccessName = "cardbatch_last_success_timestamp_seconds"

// Options configure an Exporter; File, PushURL or both must be set.
type Options struct {
	Job        string            // the Pushgateway's job label; DefaultJob when empty
	Grouping   map[string]string // the Pushgateway's grouping key, and constant labels in File
	File       string            // text file for node_exporter's textfile collector; "" for none
	PushURL    string            // Pushgateway base URL, http[s]://[user:password@]host:port[/prefix]; "" for none
	WriteEvery time.Duration     // how often Run rewrites File; DefaultInterval when 0
	PushEvery  time.Duration     // how often Run pushes; DefaultInterval when 0
	Timeout    time.Duration     // bound on each push, the final one included; DefaultTimeout when 0
	OnError    func(error)       // told of each failed periodic write or push; nil ignores them
}

// Exporter writes a run's series to a text file and pushes them to a
// Pushgateway. Its methods are safe for concurrent use.
type Exporter struct {
	opts    Options
	st      *state
	fileReg *prometheus.Registry // nil without a File
	pusher  *push.Pusher         // nil without a PushURL
	target  string               // PushURL with its password masked
	outMu   sync.Mutex           // one write or push at a time, so an older one never lands last
}

// New checks opts and prepares the exporter; it writes and sends nothing
// yet. It fails when the file's folder is not writable or the push URL or a
// grouping label is unusable. With a File, the last-success time found in the
// existing file is kept until a Snapshot reports a success.
func New(opts Options) (*Exporter, error) {
	if opts.File == "" && opts.PushURL == "" {
		return nil, errors.New("metrics: neither a file nor a Pushgateway URL given")
	}
	opts.Job = cmp.Or(opts.Job, DefaultJob)
	opts.WriteEvery = cmp.Or(opts.WriteEvery, DefaultInterval)
	opts.PushEvery = cmp.Or(opts.PushEvery, DefaultInterval)
	opts.Timeout = cmp.Or(opts.Timeout, DefaultTimeout)
	opts.Grouping = maps.Clone(opts.Grouping)
	if err := checkGrouping(opts.Grouping); err != nil {
		return nil, err
	}
	e := &Exporter{opts: opts, st: &state{}}
	if opts.File != "" {
		if err := checkFolder(opts.File); err != nil {
			return nil, err
		}
		e.st.lastSuccess = readLastSuccess(opts.File)
		e.fileReg = prometheus.NewRegistry()
		if err := e.fileReg.Register(newCollector(e.st, opts.Grouping)); err != nil {
			return nil, fmt.Errorf("metrics: %w", err)
		}
	}
	if opts.PushURL != "" {
		if err := e.preparePush(); err != nil {
			return nil, err
		}
	}
	return e, nil
}

func (e *Exporter) preparePush() error {
	t, err := parsePushURL(e.opts.PushURL)
	if err != nil {
		return err
	}
	e.target = t.shown
	e.pusher = push.New(t.base, e.opts.Job).
		Collector(newCollector(e.st, nil)).
		Client(&http.Client{})
	for name, value := range e.opts.Grouping {
		e.pusher.Grouping(name, value)
	}
	if t.user != "" {
		e.pusher.BasicAuth(t.user, t.password)
	}
	if err := e.pusher.Error(); err != nil {
		return fmt.Errorf("metrics push to %s: %w", e.target, err)
	}
	return nil
}

// PushTarget returns the Pushgateway URL with its password masked, for logs;
// "" without one.
func (e *Exporter) PushTarget() string { return e.target }

// Update makes s the figures of the next write and push. It never blocks on
// I/O; the Exporter keeps its own copy of s's maps.
func (e *Exporter) Update(s Snapshot) { e.st.update(s) }

// Run rewrites the file every WriteEvery and pushes every PushEvery until ctx
// ends, reporting failures to OnError; then it flushes once more (the push
// bounded by Timeout) and returns that flush's error. Call Update with the
// final figures before ending ctx, and give Run a context of its own rather
// than the one a signal cancels, so the last write holds the final figures.
func (e *Exporter) Run(ctx context.Context) error {
	var writeC, pushC <-chan time.Time
	if e.fileReg != nil {
		t := time.NewTicker(e.opts.WriteEvery)
		defer t.Stop()
		writeC = t.C
	}
	if e.pusher != nil {
		t := time.NewTicker(e.opts.PushEvery)
		defer t.Stop()
		pushC = t.C
	}
	for {
		select {
		case <-ctx.Done():
			return e.Flush(context.WithoutCancel(ctx))
		case <-writeC:
			e.report(e.WriteFile())
		case <-pushC:
			if err := e.Push(ctx); ctx.Err() == nil {
				e.report(err) // a push cut short by the end is retried by the final flush
			}
		}
	}
}

func (e *Exporter) report(err error) {
	if err != nil && e.opts.OnError != nil {
		e.opts.OnError(err)
	}
}

// Flush writes the file and pushes now, the push bounded by Timeout, and
// returns both failures joined (nil when both succeed or are not set).
func (e *Exporter) Flush(ctx context.Context) error {
	return errors.Join(e.WriteFile(), e.Push(ctx))
}

// WriteFile replaces the file atomically (a temporary file in the same
// folder, mode 0644, renamed over it); nil without a File.
func (e *Exporter) WriteFile() error {
	if e.fileReg == nil {
		return nil
	}
	e.outMu.Lock()
	defer e.outMu.Unlock()
	if err := prometheus.WriteToTextfile(e.opts.File, e.fileReg); err != nil {
		return fmt.Errorf("metrics file: %w (check that its folder exists and is writable)", err)
	}
	return nil
}

// Push sends the series to the Pushgateway with POST, which replaces the
// group's series of the same names (see the package doc on last success),
// giving up after Timeout; nil without a PushURL.
func (e *Exporter) Push(ctx context.Context) error {
	if e.pusher == nil {
		return nil
	}
	e.outMu.Lock()
	defer e.outMu.Unlock()
	ctx, cancel := context.WithTimeout(ctx, e.opts.Timeout)
	defer cancel()
	if err := e.pusher.AddContext(ctx); err != nil {
		return fmt.Errorf("metrics push to %s: %w (is the Pushgateway up at that address?)", e.target, err)
	}
	return nil
}

// checkGrouping refuses label names Prometheus or this package reserve.
func checkGrouping(g map[string]string) error {
	for name, value := range g {
		switch {
		case !model.LegacyValidation.IsValidLabelName(name) || strings.HasPrefix(name, "__"):
			return fmt.Errorf("metrics label %q: a label name is letters, digits and underscores, not starting with a digit or __", name)
		case name == "job":
			return errors.New("metrics label \"job\": set the job name as the job, not as a label")
		case name == "result" || name == "billing" || name == "status" || name == "cause":
			return fmt.Errorf("metrics label %q: the series use this label already; choose another name", name)
		case value == "":
			return fmt.Errorf("metrics label %q has an empty value; give it one or leave it out", name)
		}
	}
	return nil
}

// checkFolder fails unless a file can be created next to path.
func checkFolder(path string) error {
	f, err := os.CreateTemp(filepath.Dir(path), ".cardbatch-metrics-check-*")
	if err != nil {
		return fmt.Errorf("metrics file %s: %w (create its folder or choose a writable one)", path, err)
	}
	name := f.Name()
	f.Close()
	if err := os.Remove(name); err != nil {
		return fmt.Errorf("metrics file %s: %w", path, err)
	}
	return nil
}

// readLastSuccess returns the last-success time in the text file at path, 0
// when the file is absent, unreadable or holds none.
func readLastSuccess(path string) float64 {
	f, err := os.Open(path)
	if err != nil {
		return 0
	}
	defer f.Close()
	parser := expfmt.NewTextParser(model.UTF8Validation)
	families, err := parser.TextToMetricFamilies(f)
	if err != nil {
		return 0
	}
	last := 0.0
	for _, m := range families[lastSuccessName].GetMetric() {
		// A file written by hand may leave the series untyped.
		last = max(last, m.GetGauge().GetValue(), m.GetUntyped().GetValue())
	}
	return last
}
