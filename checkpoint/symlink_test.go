package checkpoint

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestNoSymlinkFollowed: a symbolic link planted where the checkpoint keeps
// its own files is refused with a message saying so; nothing is read
// through it (no forged in-doubt rows) and its target is left as it was.
func TestNoSymlinkFollowed(t *testing.T) {
	forged := append([]byte("cbinfl02\x01\x00\x00\x00\x00\x00\x00\x00"), bytes.Repeat([]byte{7, 0, 0, 0, 0, 0, 0, 0}, 32)...)
	cases := []struct {
		name   string
		suffix string // where the link is planted, after the checkpoint's path
		open   func(ctx context.Context, path string) error
	}{
		{"journal, on resume", ".inflight", func(ctx context.Context, path string) error {
			s, err := Open(ctx, path)
			if err != nil {
				return err
			}
			defer s.Close()
			_, _, err = s.BeginAttempt(ctx, 4)
			return err
		}},
		{"checkpoint", "", func(ctx context.Context, path string) error { _, err := Open(ctx, path); return err }},
		{"checkpoint, read only", "", func(ctx context.Context, path string) error { _, err := OpenReadOnly(ctx, path); return err }},
		{"checkpoint's WAL", "-wal", func(ctx context.Context, path string) error { _, err := Open(ctx, path); return err }},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			ctx := context.Background()
			s, path := openTemp(t)
			startRun(t, s)
			if _, _, err := s.BeginAttempt(ctx, 4); err != nil {
				t.Fatal(err)
			}
			s.Close()
			target := filepath.Join(t.TempDir(), "victim")
			if err := os.WriteFile(target, forged, 0o644); err != nil {
				t.Fatal(err)
			}
			link := path + c.suffix
			if err := os.Remove(link); err != nil && !os.IsNotExist(err) {
				t.Fatal(err)
			}
			if err := os.Symlink(target, link); err != nil {
				t.Fatal(err)
			}
			err := c.open(ctx, path)
			if err == nil || !strings.Contains(err.Error(), link+" is a symbolic link") {
				t.Fatalf("open with a link at %s: %v; want it refused as a symbolic link", link, err)
			}
			got, err := os.ReadFile(target)
			if err != nil || !bytes.Equal(got, forged) {
				t.Fatalf("the link's target changed: %v, %q", err, got)
			}
			if fi, err := os.Stat(target); err != nil || fi.Mode().Perm() != 0o644 {
				t.Fatalf("the link's target's mode changed: %v %v", fi.Mode(), err)
			}
		})
	}
}

// TestOwnFilesTightened: an existing checkpoint and journal that others
// may read become private (0600) when a run opens them.
func TestOwnFilesTightened(t *testing.T) {
	ctx := context.Background()
	s, path := openTemp(t)
	startRun(t, s)
	if _, _, err := s.BeginAttempt(ctx, 2); err != nil {
		t.Fatal(err)
	}
	s.Close()
	files := []string{path, path + ".inflight", path + "-wal"}
	if err := os.WriteFile(path+"-wal", nil, 0o600); err != nil { // an empty WAL, as a killed run may leave
		t.Fatal(err)
	}
	for _, p := range files {
		if err := os.Chmod(p, 0o666); err != nil {
			t.Fatal(err)
		}
	}
	s2, err := Open(ctx, path)
	if err != nil {
		t.Fatal(err)
	}
	defer s2.Close()
	if _, _, err := s2.BeginAttempt(ctx, 2); err != nil {
		t.Fatal(err)
	}
	for _, p := range files {
		if fi, err := os.Stat(p); err != nil || fi.Mode().Perm() != 0o600 {
			t.Errorf("%s: mode %v, %v; want 0600", p, fi.Mode().Perm(), err)
		}
	}
}
