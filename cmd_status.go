package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"time"

	"cardbatch/billing"
	"cardbatch/checkpoint"
	"cardbatch/runlock"
	"cardbatch/sinks"
)

// cmdStatus prints the progress and billing of a run from its checkpoint.
// It opens the checkpoint read-only, so it can be used while a run writes.
func (a *app) cmdStatus(ctx context.Context, args []string) int {
	fs := flag.NewFlagSet("status", flag.ContinueOnError)
	path := fs.String("checkpoint", "", "the run's checkpoint `FILE` (required)")
	asJSON := fs.Bool("json", false, "print the billing summary as JSON on stdout")
	lang := fs.String("lang", "en", "language of the printed summary: en or zh (the JSON keys stay English)")
	if code, ok := a.parseFlags(fs, statusCommand(), args); !ok {
		return code
	}
	if *lang != "en" && *lang != "zh" {
		fmt.Fprintf(a.stderr, "cardbatch status: --lang must be en or zh, not %q\n", *lang)
		return exitUsage
	}
	if *path == "" {
		fmt.Fprintln(a.stderr, "cardbatch status: --checkpoint FILE is required (by default it is <output>.checkpoint.db)")
		return exitUsage
	}
	store, err := checkpoint.OpenReadOnly(ctx, *path)
	if errors.Is(err, checkpoint.ErrNotReady) {
		fmt.Fprintf(a.stderr, "cardbatch status: %s holds no run yet\n", *path)
		return exitFatal
	}
	if err != nil {
		fmt.Fprintf(a.stderr, "cardbatch status: %s\n", redact(err.Error()))
		return exitUsage
	}
	defer store.Close()
	run, err := store.LoadRun(ctx)
	if err == nil && run == nil {
		fmt.Fprintf(a.stderr, "cardbatch status: %s holds no run yet\n", *path)
		return exitFatal
	}
	var sum *billing.Summary
	if err == nil {
		sum, err = store.Summary(ctx)
	}
	if err != nil {
		fmt.Fprintf(a.stderr, "cardbatch status: %s\n", redact(damagedRun(*path, err).Error()))
		return exitCodeOf(damagedRun(*path, err))
	}
	st := loadRunStatus(*path, run)
	if *asJSON {
		return a.statusJSON(sum, st)
	}
	state := "stopped before the end (run the same command again to resume)"
	switch st.State {
	case "running":
		state = "running (" + st.Holder.String() + ")"
	case "finished":
		state = "finished " + run.FinishedAt.Local().Format(time.RFC3339)
	}
	total := "unknown until the input has been read once"
	if st.Total != nil {
		total = fmt.Sprint(*st.Total)
	}
	fmt.Fprintf(a.stdout, "checkpoint: %s\ninput:      %s (%d bytes)\nstarted:    %s\nstate:      %s\nrows:       %d done of %s\n\n",
		*path, run.InputPath, run.InputSize, run.CreatedAt.Local().Format(time.RFC3339), state, sum.Done, total)
	_ = sinks.RenderTable(a.stdout, sum, *lang)
	return exitOK
}

// runStatus is what status adds to the summary: the run's state
// ("running", "finished" or "stopped"), the process holding its lock while
// it runs, and the input's row count once known.
type runStatus struct {
	State  string          `json:"state"`
	Holder *runlock.Holder `json:"process"`
	Total  *int            `json:"total_rows"`
}

func loadRunStatus(path string, run *checkpoint.Run) runStatus {
	st := runStatus{State: "stopped"}
	if held, holder, _ := runlock.Probe(checkpoint.LockPath(path)); held {
		st.State, st.Holder = "running", &holder
	} else if run.FinishedAt != nil {
		st.State = "finished"
	}
	if run.TotalRows >= 0 {
		n := run.TotalRows
		st.Total = &n
	}
	return st
}

// statusJSON prints the summary's keys with the run's state, process and
// total beside them, as one JSON object.
func (a *app) statusJSON(sum *billing.Summary, st runStatus) int {
	obj := map[string]any{}
	for _, v := range []any{sum, st} {
		b, err := json.Marshal(v)
		if err == nil {
			err = json.Unmarshal(b, &obj)
		}
		if err != nil {
			fmt.Fprintf(a.stderr, "cardbatch status: %v\n", err)
			return exitFatal
		}
	}
	enc := json.NewEncoder(a.stdout)
	enc.SetIndent("", "  ")
	_ = enc.Encode(obj)
	return exitOK
}
