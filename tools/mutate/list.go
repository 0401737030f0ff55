package main

import (
	"bufio"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
)

// mutation is one entry of the list: a small plausible bug, written as an
// exact search string and its replacement in one file, and the test
// packages expected to catch it.
type mutation struct {
	ID       string
	File     string   // slash-separated, relative to the module root
	Desc     string   // the bug, in one line
	Guards   string   // the guarantee a surviving mutation leaves untested
	Packages []string // go test patterns, run from the module root
	Run      string   // optional -run regexp; "" runs every test of Packages
	Skip     string   // -skip regexp: the list's default unless the entry has its own
	skipSet  bool     // the entry has a skip: line (possibly empty: skip nothing)
	Search   string
	Replace  string
	line     int // where the entry starts in the list, for messages
}

// parseList reads the mutation list (see mutations.txt for the format); it
// also returns the list's default skip regexp.
func parseList(r io.Reader, name string) ([]mutation, string, error) {
	var (
		out  []mutation
		cur  *mutation
		seen = map[string]bool{}
		n    int
		defs mutation // the skip: line before the first entry, the default
	)
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 64*1024), 1024*1024)
	for sc.Scan() {
		n++
		line := strings.TrimSpace(sc.Text())
		switch {
		case line == "" || strings.HasPrefix(line, "#"):
			continue
		case strings.HasPrefix(line, "[") && strings.HasSuffix(line, "]"):
			id := strings.TrimSpace(line[1 : len(line)-1])
			if id == "" || strings.ContainsAny(id, " \t,") {
				return nil, "", fmt.Errorf("%s:%d: a mutation id is one word without commas: %q", name, n, id)
			}
			if seen[id] {
				return nil, "", fmt.Errorf("%s:%d: mutation %q is listed twice", name, n, id)
			}
			seen[id] = true
			out = append(out, mutation{ID: id, line: n})
			cur = &out[len(out)-1]
		case cur == nil && strings.HasPrefix(line, "skip:"):
			if err := defs.set(line); err != nil {
				return nil, "", fmt.Errorf("%s:%d: %w", name, n, err)
			}
		case cur == nil:
			return nil, "", fmt.Errorf("%s:%d: only skip: may come before the first [id] line", name, n)
		default:
			if err := cur.set(line); err != nil {
				return nil, "", fmt.Errorf("%s:%d: %w", name, n, err)
			}
		}
	}
	if err := sc.Err(); err != nil {
		return nil, "", fmt.Errorf("reading %s: %w", name, err)
	}
	for i := range out {
		m := &out[i]
		if !m.skipSet {
			m.Skip = defs.Skip
		}
		if err := m.check(); err != nil {
			return nil, "", fmt.Errorf("%s:%d: mutation %s: %w", name, m.line, m.ID, err)
		}
	}
	return out, defs.Skip, nil
}

// set sets the field that line ("key: value") names.
func (m *mutation) set(line string) error {
	key, val, ok := strings.Cut(line, ":")
	if !ok {
		return fmt.Errorf("want \"key: value\", got %q", line)
	}
	key, val = strings.TrimSpace(key), strings.TrimSpace(val)
	switch key {
	case "file":
		m.File = val
	case "does":
		m.Desc = val
	case "guards":
		m.Guards = val
	case "packages":
		m.Packages = strings.Fields(val)
	case "run":
		m.Run = val
	case "skip":
		m.Skip, m.skipSet = val, true
	case "search", "replace":
		s, err := strconv.Unquote(val)
		if err != nil {
			return fmt.Errorf("%s must be a Go string literal (\"...\" with \\n, \\t, \\\" escapes, or `...`): %w", key, err)
		}
		if key == "search" {
			m.Search = s
		} else {
			m.Replace = s
		}
	default:
		return fmt.Errorf("unknown field %q (want file, does, guards, packages, run, skip, search or replace)", key)
	}
	return nil
}

func (m *mutation) check() error {
	for _, re := range []string{m.Run, m.Skip} {
		if _, err := regexp.Compile(re); err != nil {
			return fmt.Errorf("run: and skip: are go test regexps: %w", err)
		}
	}
	switch {
	case m.File == "" || filepath.IsAbs(m.File) || strings.Contains(m.File, ".."):
		return fmt.Errorf("file must be a path inside the module, got %q", m.File)
	case m.Desc == "":
		return fmt.Errorf("no does: line")
	case len(m.Packages) == 0:
		return fmt.Errorf("no packages: line")
	case m.Search == "":
		return fmt.Errorf("no search: line, or an empty search string")
	case m.Search == m.Replace:
		return fmt.Errorf("replace equals search: the mutation changes nothing")
	}
	return nil
}

// apply returns src with the mutation applied; it fails unless the search
// string occurs exactly once (the list is then stale for this entry).
func (m *mutation) apply(src string) (string, error) {
	switch n := strings.Count(src, m.Search); n {
	case 1:
		return strings.Replace(src, m.Search, m.Replace, 1), nil
	case 0:
		return "", fmt.Errorf("search string not found in %s", m.File)
	default:
		return "", fmt.Errorf("search string found %d times in %s (must be once)", n, m.File)
	}
}

// staleness says why m no longer applies to the tree at root ("" when it
// applies).
func (m *mutation) staleness(root string) string {
	b, err := os.ReadFile(filepath.Join(root, filepath.FromSlash(m.File)))
	if err != nil {
		return "cannot read " + m.File + ": " + err.Error()
	}
	if _, err := m.apply(string(b)); err != nil {
		return err.Error()
	}
	return ""
}

// selectIDs returns the mutations named in only (comma-separated), all of
// them when only is empty.
func selectIDs(all []mutation, only string) ([]mutation, error) {
	if strings.TrimSpace(only) == "" {
		return all, nil
	}
	byID := map[string]mutation{}
	for _, m := range all {
		byID[m.ID] = m
	}
	var out []mutation
	for _, id := range strings.Split(only, ",") {
		id = strings.TrimSpace(id)
		m, ok := byID[id]
		if !ok {
			return nil, fmt.Errorf("-only: no mutation %q in the list (see -list)", id)
		}
		out = append(out, m)
	}
	return out, nil
}
