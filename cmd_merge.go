package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"path/filepath"
	"strings"
	"time"

	"cardbatch/checkpoint"
	"cardbatch/internal/cardkey"
	"cardbatch/pipeline"
	"cardbatch/runlock"
	"cardbatch/sinks"
	"cardbatch/sources"
)

// shardEnv names the environment variable that may hold --shard (an
// Indexed Job may set it from its completion index).
const shardEnv = "CARDBATCH_SHARD"

// runShard reads --shard (or $CARDBATCH_SHARD). A sharded run needs the
// row key from $CARDBATCH_HMAC_KEY: the split depends on the key, so every
// shard must have the same one, and a key file made beside each shard's
// checkpoint would differ.
func (a *app) runShard(f *runFlags) (pipeline.Shard, error) {
	v := f.shard
	if v == "" {
		v = a.getenv(shardEnv)
	}
	if v == "" {
		return pipeline.Shard{}, nil
	}
	sh, err := pipeline.ParseShard(v)
	if err != nil {
		return sh, usageErr("%v", err)
	}
	if f.dryRun {
		return sh, usageErr("--dry-run counts the whole input: drop --shard (or %s)", shardEnv)
	}
	if a.getenv(cardkey.KeyEnv) == "" {
		return sh, usageErr("--shard needs the row key in %s, the same on every shard (the cards are split by their keyed hash): "+
			"set it to one long random value for all shards, for example export %s=$(openssl rand -hex 32), and keep it for resumes",
			cardkey.KeyEnv, cardkey.KeyEnv)
	}
	return sh, nil
}

// mergeFlags are the flags of `cardbatch merge`.
type mergeFlags struct {
	output, summary, input, lang, prefix string
	maskOutput, csvSafe, bom             bool
	price                                float64
}

func (a *app) cmdMerge(ctx context.Context, args []string) int {
	var f mergeFlags
	fs := flag.NewFlagSet("merge", flag.ContinueOnError)
	fs.SetOutput(a.stderr)
	fs.Usage = func() {
		fmt.Fprint(a.stderr, "Usage: cardbatch merge --output FILE [flags] SHARD_CHECKPOINT...\n\n"+
			"Joins the checkpoints of every shard of one input (cardbatch run --shard K/N) into one output,\n"+
			"in the input's order, and one summary (the shards' bills added, each listed under its shard).\n\n"+
			"Example:\n  cardbatch merge --output all.csv s0/out.csv.checkpoint.db s1/out.csv.checkpoint.db \\\n"+
			"                                 s2/out.csv.checkpoint.db s3/out.csv.checkpoint.db\n\nFlags:\n")
		fs.PrintDefaults()
	}
	fs.StringVar(&f.output, "output", "", "output `FILE`: .csv or .xlsx, written atomically (required)")
	fs.StringVar(&f.summary, "summary", "", "billing summary JSON `FILE` (default <output>.summary.json)")
	fs.StringVar(&f.input, "input", "", "the input `FILE` (default: the path the shards recorded)")
	fs.StringVar(&f.lang, "lang", "en", "language of the added column names and the Summary sheet: en or zh")
	fs.StringVar(&f.prefix, "prefix", "", "prefix for every added column name")
	fs.BoolVar(&f.maskOutput, "mask-output", false, "mask the card column in the output (first 6 and last 4 digits)")
	fs.BoolVar(&f.csvSafe, "csv-safe", false, "also neutralise formula-like cells of the input's own columns in a CSV output")
	fs.BoolVar(&f.bom, "bom", false, "write the CSV output with a UTF-8 BOM")
	fs.Float64Var(&f.price, "price", 0, "price of one charged call, for estimated_cost in the summary")
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return exitOK
		}
		return exitUsage
	}
	code, err := a.merge(ctx, &f, fs.Args())
	if err != nil {
		fmt.Fprintf(a.stderr, "cardbatch merge: %s\n", a.scrub(err.Error()))
	}
	return code
}

func (a *app) merge(ctx context.Context, f *mergeFlags, paths []string) (int, error) {
	if f.output == "" || len(paths) == 0 {
		return exitUsage, usageErr("--output FILE and the checkpoint of every shard are required (see cardbatch merge -h)")
	}
	if ext := strings.ToLower(filepath.Ext(f.output)); ext != ".csv" && ext != ".xlsx" {
		return exitUsage, usageErr("--output must end in .csv or .xlsx, not %q", filepath.Ext(f.output))
	}
	if f.lang != "en" && f.lang != "zh" {
		return exitUsage, usageErr("--lang must be en or zh, not %q", f.lang)
	}
	if f.summary == "" {
		f.summary = f.output + ".summary.json"
	}
	a.red.keepPaths(append([]string{f.output, f.summary, f.input, filepath.Dir(f.output)}, paths...)...)
	shards, release, err := openShards(ctx, paths)
	defer release()
	if err != nil {
		return exitCodeOf(err), err
	}
	plan, err := pipeline.PlanMerge(ctx, shards)
	if err != nil {
		return mergeExit(err), err
	}
	if f.input == "" {
		f.input = plan.InputPath()
		a.red.keepPaths(f.input, filepath.Dir(f.input))
	}
	return a.writeMerged(ctx, f, plan)
}

// openShards locks and opens every shard's checkpoint, read-only. Holding
// each run lock for the whole merge refuses a shard that is still running
// and keeps a resume from changing a checkpoint while it is read.
func openShards(ctx context.Context, paths []string) ([]pipeline.MergeShard, func(), error) {
	var closers []func() error
	release := func() {
		for i := len(closers) - 1; i >= 0; i-- {
			_ = closers[i]()
		}
	}
	var shards []pipeline.MergeShard
	seen := map[string]bool{}
	for _, p := range paths {
		abs, err := filepath.Abs(p)
		if err != nil {
			return nil, release, err
		}
		if seen[abs] {
			return nil, release, usageErr("%s is given twice: give each shard's checkpoint once", p)
		}
		seen[abs] = true
		store, err := checkpoint.OpenReadOnly(ctx, p)
		if err != nil {
			return nil, release, usageErr("cannot open the shard checkpoint %s: %v", p, err)
		}
		closers = append(closers, store.Close)
		lock, err := runlock.Acquire(checkpoint.LockPath(p), runlock.Me(time.Now()))
		var held *runlock.HeldError
		if errors.As(err, &held) {
			return nil, release, usageErr("the shard checkpoint %s is in use by %s: its shard is still running; "+
				"wait for it to end (or stop it), then merge again", p, held.Holder)
		}
		if err != nil {
			return nil, release, err
		}
		closers = append(closers, lock.Close)
		shards = append(shards, pipeline.MergeShard{Path: p, Store: store})
	}
	return shards, release, nil
}

// writeMerged opens the input once and writes the merged output and summary.
func (a *app) writeMerged(ctx context.Context, f *mergeFlags, plan *pipeline.MergePlan) (int, error) {
	tmpDir, releaseTmp, err := runTempDir(f.output)
	if err != nil {
		return exitFatal, err
	}
	defer releaseTmp()
	a.red.keepPaths(tmpDir)
	srcOpts := sources.Options{Path: f.input, Sheet: plan.Setting("sheet"), Column: plan.Setting("column"),
		Encoding: plan.Setting("encoding"), TmpDir: tmpDir}
	in, err := sources.Open(ctx, srcOpts)
	if err != nil {
		return exitUsage, usageErr("cannot read the input %s: %v (pass the shards' input with --input FILE)", f.input, err)
	}
	defer in.Close()
	rf := &runFlags{input: f.input, output: f.output, summary: f.summary, lang: f.lang, prefix: f.prefix,
		csvSafe: f.csvSafe, maskOutput: f.maskOutput, bom: f.bom, price: f.price}
	opts := a.sinkOptions(rf, in, f.input, tmpDir)
	if err := sinks.CheckHeader(in.Header(), f.lang, f.prefix); err != nil {
		return exitUsage, usageErr("%v", err)
	}
	sink, err := sinks.Create(opts)
	if err != nil {
		return exitFatal, err
	}
	sum, err := plan.Merge(ctx, f.input, in, sink)
	if err != nil {
		sink.Abort()
		return mergeExit(err), err
	}
	if f.price > 0 {
		sum.Price, sum.EstimatedCost = f.price, float64(sum.ChargedCalls)*f.price
	}
	if err := sink.Commit(sum); err != nil {
		return exitFatal, fmt.Errorf("write the output: %w", err)
	}
	if err := sinks.WriteSummaryJSON(f.summary, sum, 0o600); err != nil {
		return exitFatal, fmt.Errorf("write summary: %w", err)
	}
	fmt.Fprintln(a.stderr)
	_ = sinks.RenderTable(a.stderr, sum, f.lang)
	fmt.Fprintf(a.stderr, "merged %d shards into %s (summary %s)\n", plan.N(), f.output, f.summary)
	return exitOK, nil
}

// mergeExit is 2 for a refusal, 1 for anything else.
func mergeExit(err error) int {
	var ue *pipeline.UsageError
	var ie *sources.InputError
	if errors.As(err, &ue) || errors.As(err, &ie) {
		return exitUsage
	}
	return exitCodeOf(err)
}
