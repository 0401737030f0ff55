// Package ownfile opens the files a run keeps for itself (the checkpoint and
// the files beside it: journal, key, lock) without ever following a symbolic
// link, and keeps them private to their owner (mode 0600).
//
// A path is looked at with Lstat before it is opened, and what was opened is
// compared with what the path names afterwards (os.SameFile), so a link
// planted before or swapped in during the open is refused, not followed. A
// file that is created is created with O_EXCL, which never follows a link.
// Only portable calls of package os are used.
package ownfile

import (
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
)

// check refuses path when it is a symbolic link or not a regular file. A
// missing path is no error: exists is then false.
func check(path string) (exists bool, err error) {
	fi, err := os.Lstat(path)
	if errors.Is(err, fs.ErrNotExist) {
		return false, nil
	}
	if err != nil {
		return false, err
	}
	if fi.Mode()&fs.ModeSymlink != 0 {
		return true, fmt.Errorf("%s is a symbolic link: cardbatch never opens its own files through a link; remove the link or give the real path", path)
	}
	if !fi.Mode().IsRegular() {
		return true, fmt.Errorf("%s is not a regular file (%v): remove it or choose another path", path, fi.Mode().Type())
	}
	return true, nil
}

// Check refuses path when it is a symbolic link or not a regular file, and
// reports whether it exists. It opens nothing.
func Check(path string) (exists bool, err error) { return check(path) }

// Open opens path with flag (os.O_RDONLY or os.O_RDWR, optionally with
// os.O_CREATE; never os.O_TRUNC), never through a symbolic link. A file it
// creates gets mode 0600. A file opened for writing that others may read or
// write is tightened to 0600; when that fails (another user owns it) it is
// refused.
func Open(path string, flag int) (*os.File, error) {
	if flag&os.O_TRUNC != 0 {
		return nil, fmt.Errorf("ownfile: open %s: O_TRUNC is not supported", path)
	}
	for tries := 0; ; tries++ {
		exists, err := check(path)
		if err != nil {
			return nil, err
		}
		if !exists && flag&os.O_CREATE == 0 {
			return nil, &fs.PathError{Op: "open", Path: path, Err: fs.ErrNotExist}
		}
		fl := flag &^ os.O_CREATE
		if !exists {
			fl |= os.O_CREATE | os.O_EXCL
		}
		f, err := os.OpenFile(path, fl, 0o600)
		if !exists && errors.Is(err, fs.ErrExist) && tries < 3 {
			continue // created by someone else meanwhile: look again
		}
		if err != nil {
			return nil, err
		}
		if err := verify(f, path, flag&(os.O_WRONLY|os.O_RDWR) != 0); err != nil {
			f.Close()
			return nil, err
		}
		return f, nil
	}
}

// verify checks that f is the regular file path names now (not a link's
// target swapped in after check) and, when it is open for writing, that it
// is private to its owner.
func verify(f *os.File, path string, write bool) error {
	fi, err := f.Stat()
	if err != nil {
		return err
	}
	if _, err := check(path); err != nil {
		return err
	}
	li, err := os.Lstat(path)
	if err != nil {
		return err
	}
	if !os.SameFile(fi, li) {
		return fmt.Errorf("%s changed while it was being opened: make sure no other program touches it", path)
	}
	if write && fi.Mode().Perm()&0o077 != 0 {
		if err := f.Chmod(0o600); err != nil {
			return fmt.Errorf("%s can be read by others (mode %04o) and cannot be made private: %w; run chmod 600 on it or choose another path",
				path, fi.Mode().Perm(), err)
		}
	}
	return nil
}

// Prepare makes sure path is a private regular file of the caller (creating
// it empty when create is true and it is missing), for a file that another
// library opens by name afterwards (SQLite). It reports whether the file
// exists now.
func Prepare(path string, create bool) (exists bool, err error) {
	flag := os.O_RDWR
	if create {
		flag |= os.O_CREATE
	}
	f, err := Open(path, flag)
	if errors.Is(err, fs.ErrNotExist) && !create {
		return false, nil
	}
	if err != nil {
		return false, err
	}
	return true, f.Close()
}

// ReadFile reads path, never through a symbolic link, and returns what it
// read with the file's information (its mode, for callers that refuse a
// file others can read). It changes nothing.
func ReadFile(path string) ([]byte, fs.FileInfo, error) {
	f, err := Open(path, os.O_RDONLY)
	if err != nil {
		return nil, nil, err
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		return nil, nil, err
	}
	b, err := io.ReadAll(f)
	if err != nil {
		return nil, nil, err
	}
	return b, fi, nil
}

// WriteNew creates path holding data, mode 0600, atomically: the file
// appears complete or not at all, and whatever is at path already (a file
// or a link) is never replaced or followed: the error then wraps
// fs.ErrExist. The temporary file is created with O_EXCL beside path.
func WriteNew(path string, data []byte) error {
	tmp, err := os.CreateTemp(filepath.Dir(path), "."+filepath.Base(path)+".tmp-*")
	if err != nil {
		return fmt.Errorf("create %s: %w", path, err)
	}
	defer os.Remove(tmp.Name())
	_, err = tmp.Write(data)
	if err == nil {
		err = tmp.Sync()
	}
	if cerr := tmp.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return fmt.Errorf("create %s: %w", path, err)
	}
	// A hard link never replaces what is at path, a link included.
	if err := os.Link(tmp.Name(), path); err != nil {
		return fmt.Errorf("create %s: %w", path, err)
	}
	return nil
}
