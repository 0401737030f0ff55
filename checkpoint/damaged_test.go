package checkpoint

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// TestDamagedCheckpointSaysSoAndMovesAside: a file that is not a database,
// and a checkpoint whose pages were overwritten, are *DamagedError (from
// Open, or from Check for damage inside) naming the file and --restart;
// MoveAside renames it and the files beside it to <path>.corrupt-<time>,
// keeps the key, and a new checkpoint opens at path.
func TestDamagedCheckpointSaysSoAndMovesAside(t *testing.T) {
	ctx := context.Background()
	tests := []struct {
		name   string
		damage func(t *testing.T, path string)
		atOpen bool // Open itself refuses it (else Check does)
	}{
		{"not a database", func(t *testing.T, path string) {
			write(t, path, []byte(strings.Repeat("this is not SQLite\n", 300)))
		}, true},
		{"pages overwritten", func(t *testing.T, path string) {
			b, err := os.ReadFile(path)
			if err != nil {
				t.Fatal(err)
			}
			if len(b) < 5*4096 {
				t.Fatalf("checkpoint of %d bytes: too small to damage inside", len(b))
			}
			for i := len(b) / 3; i < 2*len(b)/3; i++ {
				b[i] = byte(i * 7)
			}
			write(t, path, b)
		}, false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			path := filepath.Join(t.TempDir(), "out.csv.checkpoint.db")
			s, err := Open(ctx, path)
			if err != nil {
				t.Fatal(err)
			}
			for i := 0; i < 3000; i++ {
				if _, err := s.db.ExecContext(ctx, `INSERT INTO rows (idx, state, description) VALUES (?, 'ok', ?)`, i, strings.Repeat("x", 40)); err != nil {
					t.Fatal(err)
				}
			}
			s.Close()
			write(t, KeyPath(path), []byte("key\n"))
			tc.damage(t, path)

			var de *DamagedError
			s, err = Open(ctx, path)
			if err == nil {
				err = s.Check(ctx)
				s.Close()
			} else if !tc.atOpen {
				t.Fatalf("Open: %v; want it to open (the schema is intact) and Check to find the damage", err)
			}
			if !errors.As(err, &de) || !strings.Contains(err.Error(), path) || !strings.Contains(err.Error(), "--restart") {
				t.Fatalf("got %v, want a DamagedError naming %s and --restart", err, path)
			}
			write(t, path+".inflight", []byte{0})
			aside, err := MoveAside(path, time.Date(2025, 3, 1, 12, 0, 0, 0, time.UTC))
			if err != nil || aside != path+".corrupt-20250301T120000Z" {
				t.Fatalf("MoveAside: %q %v", aside, err)
			}
			for _, p := range []string{aside, aside + ".inflight", KeyPath(path)} {
				if _, err := os.Stat(p); err != nil {
					t.Errorf("%s: %v", p, err)
				}
			}
			s, err = Open(ctx, path)
			if err != nil {
				t.Fatalf("Open after MoveAside: %v", err)
			}
			defer s.Close()
			if err := s.Check(ctx); err != nil {
				t.Fatalf("a new checkpoint: %v", err)
			}
		})
	}
}

func write(t *testing.T, path string, b []byte) {
	t.Helper()
	if err := os.WriteFile(path, b, 0o600); err != nil {
		t.Fatal(err)
	}
}
