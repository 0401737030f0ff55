package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"time"

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
	if code, ok := a.parseFlags(fs, statusCommand(), args); !ok {
		return code
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
	if err != nil {
		fmt.Fprintf(a.stderr, "cardbatch status: %v\n", err)
		return exitFatal
	}
	if run == nil {
		fmt.Fprintf(a.stderr, "cardbatch status: %s holds no run yet\n", *path)
		return exitFatal
	}
	sum, err := store.Summary(ctx)
	if err != nil {
		fmt.Fprintf(a.stderr, "cardbatch status: %v\n", err)
		return exitFatal
	}
	if *asJSON {
		enc := json.NewEncoder(a.stdout)
		enc.SetIndent("", "  ")
		_ = enc.Encode(sum)
		return exitOK
	}
	state := "stopped before the end (run the same command again to resume)"
	if held, holder, _ := runlock.Probe(checkpoint.LockPath(*path)); held {
		state = "running (" + holder.String() + ")"
	} else if run.FinishedAt != nil {
		state = "finished " + run.FinishedAt.Local().Format(time.RFC3339)
	}
	total := "unknown until the input has been read once"
	if run.TotalRows >= 0 {
		total = fmt.Sprint(run.TotalRows)
	}
	fmt.Fprintf(a.stdout, "checkpoint: %s\ninput:      %s (%d bytes)\nstarted:    %s\nstate:      %s\nrows:       %d done of %s\n\n",
		*path, run.InputPath, run.InputSize, run.CreatedAt.Local().Format(time.RFC3339), state, sum.Done, total)
	_ = sinks.RenderTable(a.stdout, sum)
	return exitOK
}
