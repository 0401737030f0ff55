package main

import (
	"bytes"
	"fmt"
	"os/exec"
	"sort"
	"strings"
)

// beforeRedesign is the last commit before issue 12's redesign.
const beforeRedesign = "4cd3de9"

// notProduct are the top-level folders whose Go is not the product: the
// benchmark rig (tools/ now, bench/ before the redesign), the black-box
// tests and the sample generator.
var notProduct = []string{"tools/", "bench/", "e2e/", "samples/"}

// goLines is the count of the product's lines of Go at one commit.
type goLines struct {
	commit string
	files  int
	lines  int
	byDir  map[string]int // top-level folder ("." for the root package) -> lines
}

// countGoLines counts the lines of the product's non-test .go files
// tracked at commit (git ls-tree, git cat-file), from the module root.
func countGoLines(commit string) (goLines, error) {
	full, err := exec.Command("git", "rev-parse", "--short", commit+"^{commit}").Output()
	if err != nil {
		return goLines{}, fmt.Errorf("git rev-parse %s: %w (run from the git work tree)", commit, err)
	}
	g := goLines{commit: strings.TrimSpace(string(full)), byDir: map[string]int{}}
	out, err := exec.Command("git", "ls-tree", "-r", "--name-only", "-z", g.commit).Output()
	if err != nil {
		return goLines{}, fmt.Errorf("git ls-tree %s: %w", commit, err)
	}
	var paths []string
	for _, p := range strings.Split(strings.TrimRight(string(out), "\x00"), "\x00") {
		if isProductGo(p) {
			paths = append(paths, p)
		}
	}
	sort.Strings(paths)
	for _, p := range paths {
		bs, err := exec.Command("git", "show", g.commit+":"+p).Output()
		if err != nil {
			return goLines{}, fmt.Errorf("git show %s:%s: %w", g.commit, p, err)
		}
		n := bytes.Count(bs, []byte("\n"))
		dir, _, ok := strings.Cut(p, "/")
		if !ok {
			dir = "."
		}
		g.files++
		g.lines += n
		g.byDir[dir] += n
	}
	return g, nil
}

func isProductGo(p string) bool {
	if !strings.HasSuffix(p, ".go") || strings.HasSuffix(p, "_test.go") || strings.Contains(p, "/testdata/") {
		return false
	}
	for _, d := range notProduct {
		if strings.HasPrefix(p, d) {
			return false
		}
	}
	return true
}

// lines counts the product's lines now (HEAD) and before the redesign.
func (b *bench) lines() error {
	for _, c := range []string{"HEAD", beforeRedesign} {
		g, err := countGoLines(c)
		if err != nil {
			return err
		}
		b.loc = append(b.loc, g)
	}
	return nil
}
