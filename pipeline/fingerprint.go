package pipeline

import (
	"context"
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"fmt"
	"io"
	"os"
	"time"
)

// Fingerprint identifies an input file. Quick is known at once (the size,
// the first and the last 64 KiB); the full SHA-256 is computed beside the
// run's calls, so the first call never waits for a large input to be read.
type Fingerprint struct {
	Size    int64
	ModTime time.Time
	Quick   string // hex SHA-256 of the size, the head and the tail
}

const fingerprintEdge = 64 << 10

// QuickFingerprint reads at most 128 KiB of the file at path.
func QuickFingerprint(path string) (Fingerprint, error) {
	f, err := os.Open(path)
	if err != nil {
		return Fingerprint{}, err
	}
	defer f.Close()
	st, err := f.Stat()
	if err != nil {
		return Fingerprint{}, err
	}
	h := sha256.New()
	var size [8]byte
	binary.BigEndian.PutUint64(size[:], uint64(st.Size()))
	h.Write(size[:])
	if _, err := io.Copy(h, io.LimitReader(f, fingerprintEdge)); err != nil {
		return Fingerprint{}, fmt.Errorf("read %s: %w", path, err)
	}
	if tail := st.Size() - fingerprintEdge; tail > fingerprintEdge {
		if _, err := io.Copy(h, io.NewSectionReader(f, tail, fingerprintEdge)); err != nil {
			return Fingerprint{}, fmt.Errorf("read %s: %w", path, err)
		}
	}
	return Fingerprint{Size: st.Size(), ModTime: st.ModTime(), Quick: hex.EncodeToString(h.Sum(nil))}, nil
}

// HashFile returns the hex SHA-256 of the whole file at path.
func HashFile(ctx context.Context, path string) (string, error) {
	f, err := os.Open(path)
	if err != nil {
		return "", err
	}
	defer f.Close()
	h := sha256.New()
	buf := make([]byte, 1<<20)
	for {
		if err := ctx.Err(); err != nil {
			return "", err
		}
		n, err := f.Read(buf)
		h.Write(buf[:n])
		if err == io.EOF {
			return hex.EncodeToString(h.Sum(nil)), nil
		}
		if err != nil {
			return "", fmt.Errorf("read %s: %w", path, err)
		}
	}
}
