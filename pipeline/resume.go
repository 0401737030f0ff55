package pipeline

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"sort"
	"time"

	"cardbatch/checkpoint"
	"cardbatch/internal/cardkey"
)

// metaInputQuick names the checkpoint meta value holding the input's quick
// fingerprint.
const metaInputQuick = "input_quick"

// SettingsJSON renders settings deterministically, with their hash.
func SettingsJSON(settings map[string]string) (string, string) {
	keys := make([]string, 0, len(settings))
	for k := range settings {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	ordered := make([][2]string, 0, len(keys))
	for _, k := range keys {
		ordered = append(ordered, [2]string{k, settings[k]})
	}
	b, _ := json.Marshal(ordered)
	sum := sha256.Sum256(b)
	return string(b), hex.EncodeToString(sum[:8])
}

// prepareRun matches the checkpoint's run to this input and these settings:
// the same -> resume; none or --restart -> start a new run; different -> a
// UsageError that says what changed and how to start over. It returns the
// run's full input hash as recorded ("" when not known yet).
func prepareRun(ctx context.Context, cfg *Config) (string, error) {
	fp, err := QuickFingerprint(cfg.InputPath)
	if err != nil {
		return "", &UsageError{Msg: fmt.Sprintf("cannot read %s: %v", cfg.InputPath, err)}
	}
	run, err := cfg.Store.LoadRun(ctx)
	if err != nil {
		return "", err
	}
	if run != nil && !cfg.Restart {
		if err := sameRun(ctx, cfg, run, fp); err != nil {
			return "", err
		}
		if run.InputPath != cfg.InputPath || !run.InputModTime.Equal(fp.ModTime) {
			if err := cfg.Store.UpdateInput(ctx, cfg.InputPath, fp.ModTime); err != nil {
				return "", err
			}
		}
		cfg.Logger.Info("resuming run from checkpoint", "checkpoint", cfg.Store.Path(), "started", run.CreatedAt.Format(time.RFC3339))
		return run.InputHash, nil
	}
	if run != nil {
		cfg.Logger.Warn("--restart: discarding the checkpoint's earlier run", "checkpoint", cfg.Store.Path())
	}
	settings, settingsHash := SettingsJSON(cfg.Settings)
	err = cfg.Store.StartRun(ctx, checkpoint.Run{InputPath: cfg.InputPath, InputSize: fp.Size,
		InputModTime: fp.ModTime, Settings: settings, SettingsHash: settingsHash,
		KeyCheck: cardkey.KeyCheck(cfg.Key), TotalRows: -1})
	if err != nil {
		return "", err
	}
	return "", cfg.Store.SetMeta(ctx, metaInputQuick, fp.Quick)
}

// sameRun says how run differs from this input and these settings, if it does.
func sameRun(ctx context.Context, cfg *Config, run *checkpoint.Run, fp Fingerprint) error {
	quick, err := cfg.Store.Meta(ctx, metaInputQuick)
	if err != nil {
		return err
	}
	if quick == "" && run.InputHash != "" { // a checkpoint of an earlier version: hash it all
		full, err := HashFile(ctx, cfg.InputPath)
		if err != nil {
			return err
		}
		if full == run.InputHash {
			quick = fp.Quick
			if err := cfg.Store.SetMeta(ctx, metaInputQuick, quick); err != nil {
				return err
			}
		}
	}
	settings, settingsHash := SettingsJSON(cfg.Settings)
	switch {
	case run.InputSize != fp.Size || quick != fp.Quick:
		return &UsageError{Msg: fmt.Sprintf("the checkpoint %s belongs to a run over a different input "+
			"(%s, %d bytes, modified %s); %s has changed since (%d bytes, modified %s). "+
			"Use the original file to resume, another --checkpoint, or --restart to start over (rows already paid for will be sent again)",
			cfg.Store.Path(), run.InputPath, run.InputSize, run.InputModTime.Format(time.RFC3339),
			cfg.InputPath, fp.Size, fp.ModTime.Format(time.RFC3339))}
	case run.SettingsHash != settingsHash:
		return &UsageError{Msg: fmt.Sprintf("the checkpoint %s was made with other settings (%s; now %s). "+
			"Run with the same settings to resume, or --restart to start over", cfg.Store.Path(), run.Settings, settings)}
	case cfg.Key != nil && run.KeyCheck != cardkey.KeyCheck(cfg.Key): // a dry run has no key
		return &UsageError{Msg: fmt.Sprintf("the checkpoint %s was made with another row key (%s or $%s): "+
			"restore that key to resume, or --restart to start over", cfg.Store.Path(),
			checkpoint.KeyPath(cfg.Store.Path()), cardkey.KeyEnv)}
	}
	return nil
}

// checkInput is a stage beside the others: it hashes the whole input and
// records the hash (a new run) or stops the run if the input is not the one
// the checkpoint's run was made from (a resume).
func checkInput(ctx context.Context, cfg *Config, recorded string) error {
	hash, err := HashFile(ctx, cfg.InputPath)
	if err != nil {
		if ctx.Err() != nil {
			return nil
		}
		return err
	}
	if recorded != "" && hash != recorded {
		return &UsageError{Msg: fmt.Sprintf("%s is not the file the checkpoint %s was made from (its content differs): "+
			"use the original file to resume, or --restart to start over", cfg.InputPath, cfg.Store.Path())}
	}
	if recorded == "" {
		return cfg.Store.SetInputHash(ctx, hash)
	}
	return nil
}

// priorRows reads the rows that were final before this attempt (every
// recorded row when done is nil: a merge) from the checkpoint, in index
// order, on a goroutine of its own.
type priorRows struct {
	peeked *checkpoint.Answered // read ahead of the row asked for
	rows   chan checkpoint.Answered
	errc   chan error
	cancel context.CancelFunc
}

func openPrior(ctx context.Context, store *checkpoint.Store, done *checkpoint.Bitset) *priorRows {
	ctx, cancel := context.WithCancel(ctx)
	p := &priorRows{rows: make(chan checkpoint.Answered, 256), errc: make(chan error, 1), cancel: cancel}
	go func() {
		defer close(p.rows)
		p.errc <- store.Scan(ctx, func(a *checkpoint.Answered) error {
			if done != nil && !done.Has(a.Idx) {
				return nil
			}
			select {
			case p.rows <- *a:
				return nil
			case <-ctx.Done():
				return ctx.Err()
			}
		})
	}()
	return p
}

// get returns row idx; rows are asked for in increasing order.
func (p *priorRows) get(idx int) (checkpoint.Answered, error) {
	if a := p.peeked; a != nil && a.Idx >= idx {
		if a.Idx == idx {
			p.peeked = nil
			return *a, nil
		}
		return checkpoint.Answered{}, fmt.Errorf("the checkpoint has no row %d although it was answered: is the checkpoint damaged?", idx+1)
	}
	for a := range p.rows {
		if a.Idx == idx {
			return a, nil
		}
		if a.Idx > idx {
			p.peeked = &a
			return checkpoint.Answered{}, fmt.Errorf("the checkpoint has no row %d although it was answered: is the checkpoint damaged?", idx+1)
		}
	}
	if err := <-p.errc; err != nil {
		return checkpoint.Answered{}, fmt.Errorf("read checkpoint: %w", err)
	}
	return checkpoint.Answered{}, fmt.Errorf("the checkpoint has no row %d although it was answered: is the checkpoint damaged?", idx+1)
}

// close stops the reading goroutine and waits for it.
func (p *priorRows) close() {
	if p == nil {
		return
	}
	p.cancel()
	for range p.rows {
	}
}
