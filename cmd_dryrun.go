package main

import (
	"context"
	"fmt"
	"log/slog"
	"os"
	"text/tabwriter"

	"cardbatch/checkpoint"
	"cardbatch/pipeline"
)

// dryRun prints what a run would do without sending anything or creating
// any file.
func (a *app) dryRun(ctx context.Context, f *runFlags, inputPath string,
	src pipeline.Source, settings map[string]string, answers pipeline.AnswerCache, cacheNamespace string, log *slog.Logger) (int, error) {
	cfg := pipeline.Config{InputPath: inputPath, Source: src, Settings: settings, Rate: f.rate, NoLuhn: f.noLuhn,
		Cache: answers, CacheTTL: f.cacheTTL, CacheNamespace: cacheNamespace}
	if _, err := os.Stat(f.checkpoint); err == nil {
		store, err := checkpoint.OpenReadOnly(ctx, f.checkpoint)
		if err != nil {
			return exitFatal, err
		}
		defer store.Close()
		cfg.Store = store
	}
	est, err := pipeline.DryRun(ctx, cfg, f.price)
	if err != nil {
		return exitCodeOf(inputErr(err)), err
	}
	tw := tabwriter.NewWriter(a.stdout, 0, 0, 2, ' ', 0)
	fmt.Fprintf(tw, "dry run\t(nothing sent)\n")
	fmt.Fprintf(tw, "rows\t%d\n", est.Rows)
	fmt.Fprintf(tw, "invalid\t%d\n", est.Invalid)
	fmt.Fprintf(tw, "duplicates\t%d\n", est.Duplicates)
	fmt.Fprintf(tw, "already done\t%d\n", est.AlreadyDone)
	fmt.Fprintf(tw, "cache hits\t%d\n", est.CacheHits)
	fmt.Fprintf(tw, "calls to send\t%d\n", est.Calls)
	fmt.Fprintf(tw, "max charged calls\t%d\n", est.MaxCharged)
	if f.price > 0 {
		fmt.Fprintf(tw, "estimated cost\t%.2f (at most; %d charged calls × %g)\n", est.Cost, est.MaxCharged, f.price)
	}
	if f.rate > 0 {
		fmt.Fprintf(tw, "estimated time\t%s at --rate %g\n", est.Duration.Round(1e9), f.rate)
	} else {
		fmt.Fprintf(tw, "estimated time\tunbounded rate: limited by the API\n")
	}
	if est.Note != "" {
		fmt.Fprintf(tw, "note\t%s\n", est.Note)
	}
	tw.Flush()
	log.Info("dry run: nothing was sent")
	return exitOK, nil
}
