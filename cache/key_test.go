package cache

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// TestOpenRefusesALostOrForeignKey: a cache that holds answers is never
// given a new key. Its key file gone, or replaced by another key, or an
// environment key other than the one its answers were stored with, is a
// *KeyError that names the cache and says how to start a fresh one; a cache
// without answers just gets a key.
func TestOpenRefusesALostOrForeignKey(t *testing.T) {
	ctx := context.Background()
	const otherKey = "00112233445566778899aabbccddeeff00112233445566778899aabbccddeeff\n"
	tests := []struct {
		name    string
		answers bool                               // the cache holds an answer before the key is touched
		change  func(t *testing.T, keyPath string) // what happens to the key
		env     string                             // $CARDBATCH_HMAC_KEY at the second Open
		lost    bool                               // want a *KeyError with Lost
		foreign bool                               // want a *KeyError without Lost
	}{
		{name: "key file deleted", answers: true, change: remove, lost: true},
		{name: "key file replaced by another key", answers: true, change: replaceWith(otherKey), foreign: true},
		{name: "another key in the environment", answers: true, env: "a-different-key-of-32-characters!", foreign: true},
		{name: "key kept: the answers are found", answers: true},
		{name: "key file deleted from a cache without answers: a new key", change: remove},
		{name: "answers only in the log of a killed run", answers: true, change: remove, lost: true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Setenv("CARDBATCH_HMAC_KEY", "")
			path := filepath.Join(t.TempDir(), "answers.db")
			c, err := Open(ctx, path)
			if err != nil {
				t.Fatal(err)
			}
			mac := []byte("mac-0123456789ab")
			if tc.answers {
				if err := c.Put(ctx, Entry{MAC: mac, Result: "0", AccountBank: "Bank of China", At: time.Now()}); err != nil {
					t.Fatal(err)
				}
			}
			if strings.Contains(tc.name, "killed") {
				c.db.Close() // killed: Put has committed the answer, nothing closed cleanly
			} else if err := c.Close(); err != nil {
				t.Fatal(err)
			}
			if tc.change != nil {
				tc.change(t, path+".key")
			}
			t.Setenv("CARDBATCH_HMAC_KEY", tc.env)
			c2, err := Open(ctx, path)
			var ke *KeyError
			if tc.lost || tc.foreign {
				if !errors.As(err, &ke) || ke.Lost != tc.lost {
					t.Fatalf("Open: %v, want a KeyError with Lost %v", err, tc.lost)
				}
				for _, want := range []string{path, "delete " + path, "--cache", "paid again"} {
					if !strings.Contains(err.Error(), want) {
						t.Errorf("message %q does not say %q", err, want)
					}
				}
				if _, serr := os.Stat(path + ".key"); tc.lost && serr == nil {
					t.Errorf("a new key file was made for a cache with answers")
				}
				return
			}
			if err != nil {
				t.Fatalf("Open: %v", err)
			}
			defer c2.Close()
			_, hit, err := c2.Get(ctx, mac, time.Hour)
			if err != nil || hit != tc.answers {
				t.Fatalf("hit %v (%v), want %v", hit, err, tc.answers)
			}
		})
	}
}

func remove(t *testing.T, keyPath string) {
	if err := os.Remove(keyPath); err != nil {
		t.Fatal(err)
	}
}

func replaceWith(key string) func(*testing.T, string) {
	return func(t *testing.T, keyPath string) {
		if err := os.WriteFile(keyPath, []byte(key), 0o600); err != nil {
			t.Fatal(err)
		}
	}
}
