package main

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
)

// moduleRoot returns the top of the git work tree holding dir.
func moduleRoot(dir string) (string, error) {
	cmd := exec.Command("git", "rev-parse", "--show-toplevel")
	cmd.Dir = dir
	out, err := cmd.Output()
	if err != nil {
		return "", fmt.Errorf("finding the module root with git rev-parse (run from inside the repository): %w", err)
	}
	root := strings.TrimSpace(string(out))
	if _, err := os.Stat(filepath.Join(root, "go.mod")); err != nil {
		return "", fmt.Errorf("%s has no go.mod: run from the cardbatch repository: %w", root, err)
	}
	return root, nil
}

// treeFiles lists the files a copy of root holds: tracked files still
// present and untracked files that are not ignored (what the developer is
// working on), never .git.
func treeFiles(root string) ([]string, error) {
	cmd := exec.Command("git", "ls-files", "-z", "--cached", "--others", "--exclude-standard")
	cmd.Dir = root
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		return nil, fmt.Errorf("git ls-files in %s: %w: %s", root, err, stderr.String())
	}
	seen := map[string]bool{}
	var files []string
	for _, f := range strings.Split(string(out), "\x00") {
		if f == "" || seen[f] {
			continue
		}
		seen[f] = true
		fi, err := os.Lstat(filepath.Join(root, filepath.FromSlash(f)))
		if errors.Is(err, fs.ErrNotExist) || err == nil && fi.IsDir() {
			continue // deleted in the work tree, or a submodule
		}
		if err != nil {
			return nil, err
		}
		files = append(files, f)
	}
	return files, nil
}

// copyTree makes dst a fresh copy of files under root.
func copyTree(root, dst string, files []string) error {
	if err := os.RemoveAll(dst); err != nil {
		return fmt.Errorf("emptying %s: %w", dst, err)
	}
	for _, f := range files {
		from := filepath.Join(root, filepath.FromSlash(f))
		to := filepath.Join(dst, filepath.FromSlash(f))
		if err := os.MkdirAll(filepath.Dir(to), 0o755); err != nil {
			return err
		}
		if err := copyFile(from, to); err != nil {
			return fmt.Errorf("copying %s: %w", f, err)
		}
	}
	return nil
}

// copyFile copies one file, keeping its permission bits; a symbolic link
// is copied as a link.
func copyFile(from, to string) error {
	fi, err := os.Lstat(from)
	if err != nil {
		return err
	}
	if fi.Mode()&fs.ModeSymlink != 0 {
		target, err := os.Readlink(from)
		if err != nil {
			return err
		}
		return os.Symlink(target, to)
	}
	in, err := os.Open(from)
	if err != nil {
		return err
	}
	defer in.Close()
	out, err := os.OpenFile(to, os.O_WRONLY|os.O_CREATE|os.O_EXCL, fi.Mode().Perm())
	if err != nil {
		return err
	}
	if _, err := io.Copy(out, in); err != nil {
		out.Close()
		return err
	}
	return out.Close()
}

// mutateFile applies m to its file in the copy at dir.
func mutateFile(dir string, m mutation) error {
	p := filepath.Join(dir, filepath.FromSlash(m.File))
	b, err := os.ReadFile(p)
	if err != nil {
		return err
	}
	src, err := m.apply(string(b))
	if err != nil {
		return err
	}
	return os.WriteFile(p, []byte(src), 0o644)
}
