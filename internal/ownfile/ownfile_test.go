package ownfile

import (
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// plant makes dir/name a symbolic link to a file holding "victim", or to a
// missing file when dangling, and returns the link and its target.
func plant(t *testing.T, dangling bool) (link, target string) {
	t.Helper()
	dir := t.TempDir()
	target = filepath.Join(t.TempDir(), "victim")
	if !dangling {
		if err := os.WriteFile(target, []byte("victim"), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	link = filepath.Join(dir, "own")
	if err := os.Symlink(target, link); err != nil {
		t.Fatal(err)
	}
	return link, target
}

// TestLinksRefused: every way in refuses a symbolic link and leaves its
// target as it was (a dangling link's target is not created).
func TestLinksRefused(t *testing.T) {
	ops := []struct {
		name string
		do   func(path string) error
	}{
		{"Open read-write, create", func(p string) error { _, err := Open(p, os.O_RDWR|os.O_CREATE); return err }},
		{"Open read-only", func(p string) error { _, err := Open(p, os.O_RDONLY); return err }},
		{"Prepare", func(p string) error { _, err := Prepare(p, true); return err }},
		{"ReadFile", func(p string) error { _, _, err := ReadFile(p); return err }},
		{"WriteNew", func(p string) error { return WriteNew(p, []byte("secret")) }},
	}
	for _, op := range ops {
		for _, dangling := range []bool{false, true} {
			t.Run(op.name, func(t *testing.T) {
				link, target := plant(t, dangling)
				err := op.do(link)
				if err == nil {
					t.Fatal("a symbolic link was accepted")
				}
				if op.name == "WriteNew" {
					if !errors.Is(err, fs.ErrExist) {
						t.Errorf("WriteNew over a link: %v, want fs.ErrExist", err)
					}
				} else if !strings.Contains(err.Error(), link+" is a symbolic link") {
					t.Errorf("error %q does not say the path is a symbolic link", err)
				}
				b, rerr := os.ReadFile(target)
				switch {
				case dangling && !errors.Is(rerr, fs.ErrNotExist):
					t.Errorf("the dangling link's target was created (%v)", rerr)
				case !dangling && (rerr != nil || string(b) != "victim"):
					t.Errorf("the target changed: %q, %v", b, rerr)
				}
				if fi, err := os.Lstat(link); err != nil || fi.Mode()&fs.ModeSymlink == 0 {
					t.Errorf("the link itself changed: %v", err)
				}
			})
		}
	}
}

// TestModes: files created are 0600; an existing file opened for writing
// is tightened to 0600; reading changes no mode; WriteNew never replaces a
// file.
func TestModes(t *testing.T) {
	dir := t.TempDir()
	p := filepath.Join(dir, "a")
	if err := WriteNew(p, []byte("k1\n")); err != nil {
		t.Fatal(err)
	}
	if err := WriteNew(p, []byte("k2\n")); !errors.Is(err, fs.ErrExist) {
		t.Fatalf("WriteNew over a file: %v, want fs.ErrExist", err)
	}
	b, fi, err := ReadFile(p)
	if err != nil || string(b) != "k1\n" || fi.Mode().Perm() != 0o600 {
		t.Fatalf("ReadFile = %q, %v, %v; want k1, 0600", b, fi.Mode().Perm(), err)
	}
	if err := os.Chmod(p, 0o644); err != nil {
		t.Fatal(err)
	}
	if _, fi, err := ReadFile(p); err != nil || fi.Mode().Perm() != 0o644 {
		t.Fatalf("ReadFile changed the mode, or did not report it: %v, %v", fi.Mode().Perm(), err)
	}
	if exists, err := Prepare(p, false); err != nil || !exists {
		t.Fatal(exists, err)
	}
	if fi, _ := os.Stat(p); fi.Mode().Perm() != 0o600 {
		t.Fatalf("Prepare left mode %v, want 0600", fi.Mode().Perm())
	}
	if exists, err := Prepare(filepath.Join(dir, "missing"), false); err != nil || exists {
		t.Fatalf("Prepare of a missing file without create: %v, %v", exists, err)
	}
	if exists, err := Prepare(filepath.Join(dir, "new"), true); err != nil || !exists {
		t.Fatal(exists, err)
	}
	if fi, _ := os.Stat(filepath.Join(dir, "new")); fi.Mode().Perm() != 0o600 {
		t.Fatalf("created with mode %v, want 0600", fi.Mode().Perm())
	}
	if _, err := Open(dir, os.O_RDONLY); err == nil || !strings.Contains(err.Error(), "not a regular file") {
		t.Fatalf("a folder: %v", err)
	}
	if left, _ := filepath.Glob(filepath.Join(dir, ".*tmp-*")); len(left) != 0 {
		t.Fatalf("temporary files left: %v", left)
	}
}
