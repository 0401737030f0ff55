package runlock

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"
)

const childEnv = "RUNLOCK_CHILD" // the lock a child process takes and holds

// holdInChild starts a child process that takes the lock at path and waits
// to be killed; it returns once the child holds the lock.
func holdInChild(t *testing.T, path string) *exec.Cmd {
	t.Helper()
	cmd := exec.Command(os.Args[0], "-test.run=^TestHeldByChild$")
	cmd.Env = append(os.Environ(), childEnv+"="+path)
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cmd.Process.Kill(); cmd.Wait() })
	line, _ := bufio.NewReader(out).ReadString('\n')
	if line != fmt.Sprintf("held %d\n", cmd.Process.Pid) {
		t.Fatalf("child said %q", line)
	}
	return cmd
}

func killChild(t *testing.T, cmd *exec.Cmd) {
	t.Helper()
	if err := cmd.Process.Kill(); err != nil { // SIGKILL on Unix: no chance to unlock
		t.Fatal(err)
	}
	cmd.Wait()
}

// TestHeldByChild: while a child process holds the lock, Acquire fails with
// a *HeldError carrying the child's pid, host and start time, Probe says
// held by the child, and AcquireWait gives up with ctx; once the child is
// killed (kill -9), the lock is free at once.
func TestHeldByChild(t *testing.T) {
	if p := os.Getenv(childEnv); p != "" {
		if _, err := Acquire(p, Me(time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC))); err != nil {
			fmt.Println("error", err)
			os.Exit(3)
		}
		fmt.Printf("held %d\n", os.Getpid())
		select {}
	}
	path := filepath.Join(t.TempDir(), "run.checkpoint.db.lock")
	cmd := holdInChild(t, path)
	host, _ := os.Hostname()
	want := Holder{Host: host, PID: cmd.Process.Pid, Started: time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)}

	_, err := Acquire(path, Me(time.Now()))
	var held *HeldError
	if !errors.As(err, &held) || held.Holder != want || held.Path != path {
		t.Fatalf("Acquire while the child holds the lock: %v; want a HeldError with %+v", err, want)
	}
	msg := fmt.Sprintf("process %d on host %s (started 2026-01-02T03:04:05Z)", want.PID, host)
	if !strings.Contains(err.Error(), msg) {
		t.Errorf("message %q does not say %q", err, msg)
	}
	if h, hd, err := Probe(path); err != nil || !h || hd != want {
		t.Errorf("Probe = %v, %+v, %v; want held by %+v", h, hd, err, want)
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if _, err := AcquireWait(ctx, path, Me(time.Now()), time.Millisecond); !errors.Is(err, context.Canceled) || !errors.As(err, &held) {
		t.Errorf("AcquireWait with an ended context: %v; want context.Canceled and a HeldError", err)
	}

	killChild(t, cmd)
	if h, _, err := Probe(path); err != nil || h {
		t.Fatalf("Probe after the holder was killed: held %v, %v", h, err)
	}
	l, err := tryAcquire(path, Me(time.Now())) // one try: free at once
	if err != nil {
		t.Fatalf("the lock of a killed process is not free: %v", err)
	}
	if h, hd, err := Probe(path); err != nil || !h || hd.PID != os.Getpid() {
		t.Errorf("Probe of our own lock = %v, %+v, %v", h, hd, err)
	}
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}
	if h, _, err := Probe(path); err != nil || h {
		t.Errorf("Probe after Close: held %v, %v", h, err)
	}
}

// TestAcquireWaitTakesOver: AcquireWait waits while the child holds the
// lock and takes it when the child is killed, not before.
func TestAcquireWaitTakesOver(t *testing.T) {
	path := filepath.Join(t.TempDir(), "c.lock")
	cmd := holdInChild(t, path)
	var killed atomic.Bool
	type result struct {
		l   *Lock
		err error
		ok  bool // the child was killed before AcquireWait returned
	}
	done := make(chan result, 1)
	go func() {
		l, err := AcquireWait(context.Background(), path, Me(time.Now()), 5*time.Millisecond)
		done <- result{l, err, killed.Load()}
	}()
	killed.Store(true)
	killChild(t, cmd)
	r := <-done
	if r.err != nil || !r.ok {
		t.Fatalf("AcquireWait = %v (returned after the kill: %v)", r.err, r.ok)
	}
	defer r.l.Close()
	if h, hd, err := Probe(path); err != nil || !h || hd.PID != os.Getpid() {
		t.Errorf("Probe = %v, %+v, %v; want held by this process", h, hd, err)
	}
}

// TestLockFileItself: a missing lock is not held and Probe creates nothing;
// a symbolic link at the lock's path is refused and its target untouched;
// the lock file is private.
func TestLockFileItself(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "x.lock")
	if h, _, err := Probe(path); err != nil || h {
		t.Fatalf("Probe of a missing lock: %v %v", h, err)
	}
	if _, err := os.Lstat(path); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("Probe created the lock file (%v)", err)
	}
	l, err := Acquire(path, Me(time.Now()))
	if err != nil {
		t.Fatal(err)
	}
	if fi, err := os.Stat(path); err != nil || fi.Mode().Perm() != 0o600 {
		t.Errorf("lock file mode %v, %v; want 0600", fi.Mode().Perm(), err)
	}
	l.Close()

	target := filepath.Join(t.TempDir(), "victim")
	if err := os.WriteFile(target, []byte("victim"), 0o644); err != nil {
		t.Fatal(err)
	}
	link := filepath.Join(dir, "link.lock")
	if err := os.Symlink(target, link); err != nil {
		t.Fatal(err)
	}
	for name, op := range map[string]func() error{
		"Acquire": func() error { _, err := Acquire(link, Me(time.Now())); return err },
		"Probe":   func() error { _, _, err := Probe(link); return err },
	} {
		if err := op(); err == nil || !strings.Contains(err.Error(), "symbolic link") {
			t.Errorf("%s through a link: %v; want it refused", name, err)
		}
	}
	if b, err := os.ReadFile(target); err != nil || string(b) != "victim" {
		t.Errorf("the link's target changed: %q %v", b, err)
	}
}
