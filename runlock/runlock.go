// Package runlock gives a run sole use of its checkpoint: an exclusive
// operating-system lock on a small file beside it (github.com/gofrs/flock:
// flock(2) on Unix, LockFileEx on Windows), released on Close and by the
// operating system when the process dies, kill -9 included. The lock file
// also records who holds it (host, process id, start time), so that a
// second run can say which process it is waiting for, and `status` can tell
// whether the run it describes is alive, without /proc.
//
// The record starts at byte 1: Windows locks byte 0 and forbids other
// processes to read it while it is held.
package runlock

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"time"

	"github.com/gofrs/flock"

	"cardbatch/internal/ownfile"
)

// Holder is the process that holds a lock.
type Holder struct {
	Host    string    `json:"host"`
	PID     int       `json:"pid"`
	Started time.Time `json:"started"`
}

// Me returns the calling process as a Holder started at start.
func Me(start time.Time) Holder {
	host, _ := os.Hostname()
	return Holder{Host: host, PID: os.Getpid(), Started: start}
}

// String describes h for a message: "process 123 on host db1 (started
// 2026-01-02T03:04:05Z)", or "another process" when it is not known yet.
func (h Holder) String() string {
	if h.PID == 0 {
		return "another process"
	}
	s := fmt.Sprintf("process %d on host %s", h.PID, h.Host)
	if !h.Started.IsZero() {
		s += " (started " + h.Started.UTC().Format(time.RFC3339) + ")"
	}
	return s
}

// HeldError is the error of Acquire on a lock another process holds.
type HeldError struct {
	Path   string
	Holder Holder // zero when the holder has not recorded itself yet
}

func (e *HeldError) Error() string {
	return fmt.Sprintf("%s is locked by %s: another run is using this checkpoint; wait for it to end, or stop it", e.Path, e.Holder)
}

// Lock is a held run lock.
type Lock struct {
	fl   *flock.Flock
	path string
}

// Path returns the lock file's name.
func (l *Lock) Path() string { return l.path }

// Close releases the lock. The file stays (removing it would let two runs
// lock two different files of the same name).
func (l *Lock) Close() error {
	if l == nil || l.fl == nil {
		return nil
	}
	_ = writeRecord(l.path, nil) // the holder is leaving; best effort
	err := l.fl.Close()
	l.fl = nil
	return err
}

// Acquire takes the lock at path (creating the file, 0600; a symbolic link
// is refused) and records me in it. When another process holds it, the
// error is a *HeldError naming that process. A holder that has not
// recorded itself yet (it has just taken the lock, or a Probe is looking)
// is given a moment before Acquire gives up.
func Acquire(path string, me Holder) (*Lock, error) {
	for tries := 0; ; tries++ {
		l, err := tryAcquire(path, me)
		var held *HeldError
		if errors.As(err, &held) && held.Holder.PID == 0 && tries < 20 {
			time.Sleep(50 * time.Millisecond)
			continue
		}
		return l, err
	}
}

// AcquireWait takes the lock at path like Acquire, waiting (polling every
// poll) while another process holds it, until ctx ends. The error after
// ctx ends wraps both the *HeldError and ctx's error.
func AcquireWait(ctx context.Context, path string, me Holder, poll time.Duration) (*Lock, error) {
	t := time.NewTicker(poll)
	defer t.Stop()
	for {
		l, err := tryAcquire(path, me)
		var held *HeldError
		if !errors.As(err, &held) {
			return l, err
		}
		select {
		case <-ctx.Done():
			return nil, fmt.Errorf("%w (gave up waiting: %w)", held, ctx.Err())
		case <-t.C:
		}
	}
}

func tryAcquire(path string, me Holder) (*Lock, error) {
	if _, err := ownfile.Prepare(path, true); err != nil {
		return nil, fmt.Errorf("run lock: %w", err)
	}
	fl := flock.New(path)
	ok, err := fl.TryLock()
	if err != nil {
		return nil, fmt.Errorf("lock %s: %w", path, err)
	}
	if !ok {
		h, _ := readRecord(path)
		return nil, &HeldError{Path: path, Holder: h}
	}
	l := &Lock{fl: fl, path: path}
	if err := sameFile(fl, path); err != nil {
		l.fl.Close()
		return nil, err
	}
	rec, err := json.Marshal(me)
	if err == nil {
		err = writeRecord(path, rec)
	}
	if err != nil {
		l.fl.Close()
		return nil, fmt.Errorf("record the run lock's holder in %s: %w", path, err)
	}
	return l, nil
}

// sameFile checks that the file fl locked is the one path names (not a
// link's target swapped in after ownfile.Prepare looked).
func sameFile(fl *flock.Flock, path string) error {
	fi, err := fl.Stat()
	if err != nil {
		return err
	}
	li, err := os.Lstat(path)
	if err != nil {
		return err
	}
	if !os.SameFile(fi, li) {
		return fmt.Errorf("run lock %s changed while it was being locked: make sure no other program touches it", path)
	}
	return nil
}

// Probe reports whether a process holds the lock at path, and which. It
// takes a shared lock for an instant to find out (so probes never stop
// each other) and creates nothing: a missing file is not held.
func Probe(path string) (held bool, holder Holder, err error) {
	exists, err := ownfile.Check(path)
	if err != nil || !exists {
		return false, Holder{}, err
	}
	fl := flock.New(path, flock.SetFlag(os.O_RDONLY))
	ok, err := fl.TryRLock()
	if err != nil {
		return false, Holder{}, fmt.Errorf("probe run lock %s: %w", path, err)
	}
	if ok {
		return false, Holder{}, fl.Close()
	}
	h, _ := readRecord(path) // a holder that has not recorded itself yet is still a holder
	return true, h, nil
}

const maxRecord = 4096

// writeRecord replaces the holder's record (rec, or nothing) after byte 0.
func writeRecord(path string, rec []byte) error {
	f, err := ownfile.Open(path, os.O_RDWR)
	if err != nil {
		return err
	}
	err = f.Truncate(1)
	if err == nil && len(rec) > 0 {
		_, err = f.WriteAt(rec, 1)
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	return err
}

// readRecord returns the holder recorded at path.
func readRecord(path string) (Holder, error) {
	f, err := ownfile.Open(path, os.O_RDONLY)
	if err != nil {
		return Holder{}, err
	}
	defer f.Close()
	b, err := io.ReadAll(io.NewSectionReader(f, 1, maxRecord))
	if err != nil {
		return Holder{}, err
	}
	var h Holder
	if err := json.Unmarshal(b, &h); err != nil {
		return Holder{}, fmt.Errorf("run lock %s holds no holder record yet", path)
	}
	return h, nil
}
