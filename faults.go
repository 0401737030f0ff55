package main

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"
	"time"

	"cardbatch/cache"
	"cardbatch/checkpoint"
)

// checkFolder tells, as a usage error, why the file path given with flag
// cannot be made in its folder: the folder is missing, a part of it is a
// regular file, or it cannot be written.
func checkFolder(flag, path string) error {
	dir := filepath.Dir(path)
	st, err := os.Stat(dir)
	if err == nil && !st.IsDir() {
		return usageErr("%s %s cannot be created: %s is a file, not a folder; choose a path in a folder", flag, path, dir)
	}
	if err != nil {
		if file := fileAbove(dir); file != "" {
			return usageErr("%s %s cannot be created: %s is a file, not a folder; choose a path in a folder", flag, path, file)
		}
		if errors.Is(err, fs.ErrNotExist) {
			return usageErr("the folder %s of %s %s does not exist: create it first (mkdir -p %s) or choose another path", dir, flag, path, dir)
		}
		return usageErr("the folder %s of %s %s cannot be used: %v", dir, flag, path, err)
	}
	probe, err := os.CreateTemp(dir, ".cardbatch-probe-*")
	if err != nil {
		return usageErr("the folder %s of %s %s cannot be written (%v): choose a folder you can write to", dir, flag, path, errors.Unwrap(err))
	}
	probe.Close()
	os.Remove(probe.Name())
	return nil
}

// fileAbove returns the nearest existing part of dir's path when it is not
// a folder (a regular file a path was put under), else "".
func fileAbove(dir string) string {
	for d := dir; ; {
		st, err := os.Stat(d)
		if err == nil {
			if st.IsDir() {
				return ""
			}
			return d
		}
		up := filepath.Dir(d)
		if up == d {
			return ""
		}
		d = up
	}
}

// openCheckpoint opens the run's checkpoint. A damaged one is a usage error
// (exit 2) that says what to do; with --restart it is moved aside (see
// checkpoint.MoveAside) and a new one is started in its place.
func (a *app) openCheckpoint(ctx context.Context, f *runFlags, log *slog.Logger) (*checkpoint.Store, error) {
	store, err := checkpoint.Open(ctx, f.checkpoint)
	if err == nil && f.restart {
		if err = store.Check(ctx); err != nil {
			store.Close()
		}
	}
	var de *checkpoint.DamagedError
	if !errors.As(err, &de) {
		return store, err
	}
	if !f.restart {
		return nil, &exitError{code: exitUsage, err: err}
	}
	aside, merr := checkpoint.MoveAside(f.checkpoint, time.Now())
	if merr != nil {
		return nil, fmt.Errorf("%w (%v)", merr, err)
	}
	a.red.keepPaths(aside)
	log.Warn("--restart: the checkpoint was damaged; it was moved aside and the run starts over",
		"damaged", aside, "checkpoint", f.checkpoint, "error", de.Err.Error())
	return checkpoint.Open(ctx, f.checkpoint)
}

// damagedRun turns an error of a run that met a damaged checkpoint into
// what to do (exit 2); other errors are returned as they are.
func damagedRun(path string, err error) error {
	var de *checkpoint.DamagedError
	if errors.As(err, &de) || checkpoint.IsDamaged(err) {
		if de == nil {
			de = &checkpoint.DamagedError{Path: path, Err: err}
		}
		return &exitError{code: exitUsage, err: de}
	}
	return err
}

// openAnswerCache opens the answer cache at path. Every failure is a usage
// error (exit 2: nothing has been sent) that says what to do: a folder that
// cannot be made, a lost or foreign key, a damaged file.
func openAnswerCache(ctx context.Context, path string) (*cache.Cache, error) {
	if file := fileAbove(filepath.Dir(path)); file != "" {
		return nil, usageErr("the answer cache %s cannot be created: %s is a file, not a folder; pass another --cache FILE or --no-cache", path, file)
	}
	c, err := cache.Open(ctx, path)
	switch {
	case err == nil:
		return c, nil
	case checkpoint.IsDamaged(err):
		return nil, usageErr("the answer cache %s is damaged (%v): delete it to start a fresh cache (its answers are lost), "+
			"or pass another --cache FILE, or --no-cache", path, err)
	}
	var ke *cache.KeyError
	if errors.As(err, &ke) {
		return nil, &exitError{code: exitUsage, err: err}
	}
	return nil, usageErr("%v", err)
}

// maxWaitOf turns --max-wait into pipeline.Config.MaxWait (0 there is the
// default; --max-wait 0 means never give up).
func maxWaitOf(d time.Duration) time.Duration {
	if d == 0 {
		return -1
	}
	return d
}
