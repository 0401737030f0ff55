package pipeline

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"sort"
	"strings"

	"golang.org/x/sync/errgroup"

	"cardbatch/billing"
	"cardbatch/checkpoint"
)

// MergeShard is the checkpoint of one shard (`run --shard K/N`), open
// read-only; the caller holds its run lock for the whole merge.
type MergeShard struct {
	Path  string
	Store *checkpoint.Store
}

// MergePlan is a checked, complete set of the shards of one input: every
// shard of N exactly once, the same input, key and settings, every row
// final. Build it with PlanMerge, then Merge.
type MergePlan struct {
	shards []planned // by shard number
	run    *checkpoint.Run
	sets   map[string]string // the runs' settings, shard removed
	total  int
}

type planned struct {
	MergeShard
	shard Shard
	run   *checkpoint.Run
	sum   *billing.Summary
}

// InputPath returns the input the shards were made from (shard 0's path).
func (p *MergePlan) InputPath() string { return p.run.InputPath }

// Setting returns a setting of the shards' runs (column, sheet, encoding).
func (p *MergePlan) Setting(name string) string { return p.sets[name] }

// N returns the number of shards.
func (p *MergePlan) N() int { return len(p.shards) }

// PlanMerge checks that shards are every shard of one input exactly once,
// made with the same key and settings, each finished. A refusal is a
// *UsageError that says what to do.
func PlanMerge(ctx context.Context, shards []MergeShard) (*MergePlan, error) {
	if len(shards) == 0 {
		return nil, &UsageError{Msg: "no shard checkpoints given: list the checkpoint of every shard (cardbatch merge --output FILE SHARD_CHECKPOINT...)"}
	}
	var ps []planned
	for _, s := range shards {
		p, err := loadShard(ctx, s)
		if err != nil {
			return nil, err
		}
		ps = append(ps, p)
	}
	sort.SliceStable(ps, func(i, j int) bool { return ps[i].shard.K < ps[j].shard.K })
	if err := checkSet(ps); err != nil {
		return nil, err
	}
	sets, err := checkSame(ps)
	if err != nil {
		return nil, err
	}
	if err := checkFinished(ps); err != nil {
		return nil, err
	}
	return &MergePlan{shards: ps, run: ps[0].run, sets: sets, total: ps[0].run.TotalRows}, nil
}

// loadShard reads a shard's run, its shard number and its summary.
func loadShard(ctx context.Context, s MergeShard) (planned, error) {
	run, err := s.Store.LoadRun(ctx)
	if err != nil {
		return planned{}, fmt.Errorf("%s: %w", s.Path, err)
	}
	if run == nil {
		return planned{}, &UsageError{Msg: fmt.Sprintf("%s holds no run yet: start its shard (cardbatch run ... --shard K/N), then merge", s.Path)}
	}
	sets, err := parseSettings(run.Settings)
	if err != nil {
		return planned{}, fmt.Errorf("%s: %w", s.Path, err)
	}
	v, ok := sets[ShardSetting]
	if !ok {
		return planned{}, &UsageError{Msg: fmt.Sprintf("%s is the checkpoint of a run without --shard: "+
			"merge joins the checkpoints of the shards of one input (cardbatch run --shard K/N)", s.Path)}
	}
	sh, err := ParseShard(v)
	if err != nil {
		return planned{}, fmt.Errorf("%s: damaged shard setting: %w", s.Path, err)
	}
	sum, err := s.Store.Summary(ctx)
	if err != nil {
		return planned{}, fmt.Errorf("%s: %w", s.Path, err)
	}
	return planned{MergeShard: s, shard: sh, run: run, sum: sum}, nil
}

// checkSet refuses shards of different N, a shard given twice, a missing one.
func checkSet(ps []planned) error {
	n := ps[0].shard.N
	for i, p := range ps {
		if p.shard.N != n {
			return &UsageError{Msg: fmt.Sprintf("%s is shard %s but %s is shard %s: merge the shards of one split only",
				ps[0].Path, ps[0].shard, p.Path, p.shard)}
		}
		if i > 0 && ps[i-1].shard.K == p.shard.K {
			return &UsageError{Msg: fmt.Sprintf("%s and %s are both shard %s: give each shard's checkpoint once",
				ps[i-1].Path, p.Path, p.shard)}
		}
	}
	if len(ps) == n {
		return nil
	}
	have := map[int]bool{}
	for _, p := range ps {
		have[p.shard.K] = true
	}
	var missing []string
	for k := range n {
		if !have[k] {
			missing = append(missing, Shard{K: k, N: n}.String())
		}
	}
	return &UsageError{Msg: fmt.Sprintf("shard %s missing: the input was split into %d shards and %d checkpoints were given; "+
		"add the checkpoint of every shard", strings.Join(missing, ", "), n, len(ps))}
}

// checkSame refuses shards of different inputs, keys or settings; it
// returns the settings they share, without the shard.
func checkSame(ps []planned) (map[string]string, error) {
	first := ps[0]
	want, _ := parseSettings(first.run.Settings)
	delete(want, ShardSetting)
	for _, p := range ps {
		if p.run.InputHash == "" {
			return nil, &UsageError{Msg: fmt.Sprintf("shard %s (%s) has not read its whole input yet: "+
				"resume it with the same cardbatch run command, then merge again", p.shard, p.Path)}
		}
		if p.run.InputHash != first.run.InputHash || p.run.InputSize != first.run.InputSize {
			return nil, &UsageError{Msg: fmt.Sprintf("shard %s (%s, input %s, %d bytes) and shard %s (%s, input %s, %d bytes) "+
				"were made from different inputs: merge the shards of one input only",
				first.shard, first.Path, first.run.InputPath, first.run.InputSize, p.shard, p.Path, p.run.InputPath, p.run.InputSize)}
		}
		if p.run.KeyCheck != first.run.KeyCheck {
			return nil, &UsageError{Msg: fmt.Sprintf("shard %s (%s) and shard %s (%s) were made with different row keys, "+
				"so they split the cards differently: run every shard with the same CARDBATCH_HMAC_KEY "+
				"(run the odd one again with that key and --restart), then merge", first.shard, first.Path, p.shard, p.Path)}
		}
		got, _ := parseSettings(p.run.Settings)
		delete(got, ShardSetting)
		if fmt.Sprint(got) != fmt.Sprint(want) {
			return nil, &UsageError{Msg: fmt.Sprintf("shard %s (%s) was made with other settings than shard %s (%s): %v, not %v; "+
				"run every shard with the same settings", p.shard, p.Path, first.shard, first.Path, got, want)}
		}
		if p.run.TotalRows >= 0 && first.run.TotalRows >= 0 && p.run.TotalRows != first.run.TotalRows {
			return nil, fmt.Errorf("shard %s (%s) counts %d rows, shard %s (%s) %d: is a checkpoint damaged?",
				p.shard, p.Path, p.run.TotalRows, first.shard, first.Path, first.run.TotalRows)
		}
	}
	return want, nil
}

// checkFinished refuses shards with rows that have no final answer, naming
// every such shard.
func checkFinished(ps []planned) error {
	var open []string
	for _, p := range ps {
		switch unfinished := p.sum.Failed + p.sum.Skipped; {
		case p.run.TotalRows < 0:
			open = append(open, fmt.Sprintf("shard %s (%s: stopped before the end of the input)", p.shard, p.Path))
		case unfinished > 0:
			open = append(open, fmt.Sprintf("shard %s (%s: %d rows without a final answer: %d failed, %d skipped)",
				p.shard, p.Path, unfinished, p.sum.Failed, p.sum.Skipped))
		}
	}
	if len(open) == 0 {
		return nil
	}
	return &UsageError{Msg: "not every shard is finished: " + strings.Join(open, "; ") +
		". Resume each one with its own cardbatch run ... --shard K/N command (the same command, its own token), then merge again"}
}

// parseSettings reads SettingsJSON's rendering back.
func parseSettings(s string) (map[string]string, error) {
	var pairs [][2]string
	if err := json.Unmarshal([]byte(s), &pairs); err != nil {
		return nil, fmt.Errorf("damaged run settings: %w", err)
	}
	m := make(map[string]string, len(pairs))
	for _, kv := range pairs {
		m[kv[0]] = kv[1]
	}
	return m, nil
}

// Merge writes every row of the input at inputPath (read from src, once)
// with its answer from the shard that owns it (each checkpoint read once,
// in index order, beside it) to sink, through the run's render, and returns
// the summary: the shards' bills added and listed, the rows counted over
// the whole file. It refuses (*UsageError) an input that is not the one
// the shards were made from. The caller commits or aborts sink.
func (p *MergePlan) Merge(ctx context.Context, inputPath string, src Source, sink Sink) (*billing.Summary, error) {
	fp, err := QuickFingerprint(inputPath)
	if err != nil {
		return nil, &UsageError{Msg: fmt.Sprintf("cannot read the input %s: %v (pass --input FILE)", inputPath, err)}
	}
	if fp.Size != p.run.InputSize {
		return nil, p.notTheInput(inputPath)
	}
	g, gctx := errgroup.WithContext(ctx)
	g.Go(func() error { // the whole input's hash, beside the merge
		hash, err := HashFile(gctx, inputPath)
		if err == nil && hash != p.run.InputHash {
			err = p.notTheInput(inputPath)
		}
		return err
	})
	var sum *billing.Summary
	g.Go(func() error {
		t, err := p.join(gctx, src, sink)
		if err == nil {
			sum = p.summary(t)
		}
		return err
	})
	if err := g.Wait(); err != nil {
		return nil, err
	}
	return sum, nil
}

func (p *MergePlan) notTheInput(path string) error {
	return &UsageError{Msg: fmt.Sprintf("%s is not the input the shards were made from (%s, %d bytes): pass that file with --input",
		path, p.run.InputPath, p.run.InputSize)}
}

// join is the k-way merge by row index: the input's rows in order, each
// with its owner's answer.
func (p *MergePlan) join(ctx context.Context, src Source, sink Sink) (*checkpoint.Tally, error) {
	priors := make([]*priorRows, len(p.shards))
	for i, s := range p.shards {
		priors[i] = openPrior(ctx, s.Store, nil)
		defer priors[i].close()
	}
	t := checkpoint.NewTally()
	n := 0
	for ; ; n++ {
		row, err := src.Next(ctx)
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return nil, err
		}
		a, err := p.owner(priors, row.Index)
		if err != nil {
			return nil, err
		}
		t.Add(&a)
		if err := sink.Write(row, render(&a)); err != nil {
			return nil, fmt.Errorf("write the output: %w", err)
		}
	}
	if n != p.total {
		return nil, fmt.Errorf("the input has %d rows but the shards recorded %d: is it the same file, read with the same --column, --sheet and --encoding?", n, p.total)
	}
	return t, nil
}

// owner returns row idx's answer from the one shard that owns it.
func (p *MergePlan) owner(priors []*priorRows, idx int) (checkpoint.Answered, error) {
	var own checkpoint.Answered
	found := -1
	for i, pr := range priors {
		a, err := pr.get(idx)
		if err != nil {
			return own, fmt.Errorf("shard %s (%s): %w", p.shards[i].shard, p.shards[i].Path, err)
		}
		if a.State == checkpoint.OtherShard {
			continue
		}
		if found >= 0 {
			return own, fmt.Errorf("row %d is answered by both shard %s and shard %s: the checkpoints do not split the input the same way (damaged?)",
				idx+1, p.shards[found].shard, p.shards[i].shard)
		}
		own, found = a, i
	}
	if found < 0 {
		return own, fmt.Errorf("row %d belongs to no shard: the checkpoints do not split the input the same way (damaged?)", idx+1)
	}
	return own, nil
}

// summary adds the shards' bills, lists each under its shard (attempts in
// the order they started, each tagged with its shard) and counts the rows
// of t.
func (p *MergePlan) summary(t *checkpoint.Tally) *billing.Summary {
	sum := &billing.Summary{ByResult: map[string]int64{}, ByStatus: map[string]int{},
		ByHTTPStatus: map[string]int64{}, ByBank: map[string]int{}, ByCardType: map[string]int{}, Attempts: []billing.Attempt{}}
	for _, s := range p.shards {
		b := s.sum
		sum.APICalls += b.APICalls
		sum.ChargedCalls += b.ChargedCalls
		sum.FreeCalls += b.FreeCalls
		sum.InDoubt += b.InDoubt
		sum.UnknownCalls += b.UnknownCalls
		for k, v := range b.ByResult {
			sum.ByResult[k] += v
		}
		for k, v := range b.ByHTTPStatus {
			sum.ByHTTPStatus[k] += v
		}
		for _, a := range b.Attempts {
			a.Shard = &s.shard.K
			sum.Attempts = append(sum.Attempts, a)
		}
		sum.Shards = append(sum.Shards, billing.ShardBill{Shard: s.shard.K, Shards: s.shard.N, Checkpoint: s.Path,
			APICalls: b.APICalls, ChargedCalls: b.ChargedCalls, FreeCalls: b.FreeCalls, InDoubt: b.InDoubt,
			ByResult: b.ByResult, Attempts: b.Attempts})
	}
	sort.SliceStable(sum.Attempts, func(i, j int) bool { return sum.Attempts[i].StartedAt.Before(sum.Attempts[j].StartedAt) })
	t.Count(sum)
	sum.Rows = p.total
	return sum
}
