// Package cardkey holds the secret key that turns card numbers into keyed
// digests (checkpoint rows, cache entries, shards), and those digests.
package cardkey

import (
	"cardbatch/internal/ownfile"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"hash"
	"os"
	"strings"
)

// KeyEnv names the environment variable that may hold the HMAC key (any
// string of at least 16 characters) instead of a key file.
const KeyEnv = "CARDBATCH_HMAC_KEY"

// LoadKey returns the secret key that turns card numbers into row keys: the
// value of $CARDBATCH_HMAC_KEY when set, else the key file at path, which is
// created (0600, 32 random bytes, hex) when it does not exist and create is
// true. A key file readable by group or others is refused.
func LoadKey(path string, create bool) ([]byte, error) {
	if v := os.Getenv(KeyEnv); v != "" {
		if len(v) < 16 {
			return nil, fmt.Errorf("%s is shorter than 16 characters: use a long random value", KeyEnv)
		}
		return []byte(v), nil
	}
	b, st, err := ownfile.ReadFile(path)
	if errors.Is(err, os.ErrNotExist) && create {
		k, cerr := createKey(path)
		if cerr == nil {
			return k, nil
		}
		if !errors.Is(cerr, os.ErrExist) {
			return nil, cerr
		}
		b, st, err = ownfile.ReadFile(path) // another process created it first
	}
	if err != nil {
		return nil, fmt.Errorf("read key file %s: %w (the checkpoint cannot be resumed without it: use --restart, or set %s)", path, err, KeyEnv)
	}
	if st.Mode().Perm()&0o077 != 0 {
		return nil, fmt.Errorf("key file %s is readable by others (mode %04o): run chmod 600 %s", path, st.Mode().Perm(), path)
	}
	k, err := hex.DecodeString(strings.TrimSpace(string(b)))
	if err != nil || len(k) < 16 {
		return nil, fmt.Errorf("key file %s is damaged: restore it, or use --restart to start over", path)
	}
	return k, nil
}

// createKey writes a new random key to path atomically: the file appears
// complete or not at all, and an existing file is never replaced (the error
// then wraps os.ErrExist).
func createKey(path string) ([]byte, error) {
	k := make([]byte, 32)
	if _, err := rand.Read(k); err != nil {
		return nil, err
	}
	if err := ownfile.WriteNew(path, []byte(hex.EncodeToString(k)+"\n")); err != nil {
		return nil, err
	}
	return k, nil
}

// Hasher turns card numbers into 16-byte keyed digests. It is not safe for
// concurrent use: give each goroutine its own.
type Hasher struct{ h hash.Hash }

// NewHasher returns a Hasher for key.
func NewHasher(key []byte) *Hasher { return &Hasher{h: hmac.New(sha256.New, key)} }

// Sum returns the digest of card (the first 16 bytes of HMAC-SHA256).
func (h *Hasher) Sum(card string) []byte {
	h.h.Reset()
	h.h.Write([]byte(card))
	return h.h.Sum(nil)[:16]
}

// KeyCheck returns a value that identifies key without revealing it; stored
// in the run so a resume with another key is detected.
func KeyCheck(key []byte) string {
	m := hmac.New(sha256.New, key)
	m.Write([]byte("cardbatch key check v1"))
	return hex.EncodeToString(m.Sum(nil)[:8])
}
