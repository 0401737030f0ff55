package main

import (
	"fmt"
	"io"
	"maps"
	"path"
	"slices"
	"strings"
	"time"
)

// The results of a mutation. BUILD-FAILED counts as killed (the mutated
// tree does not compile, so the bug cannot ship), but the table says so: a
// mutation that does not compile tests nothing and should be rewritten.
const (
	killed      = "KILLED"
	survived    = "SURVIVED"
	stale       = "STALE"
	buildFailed = "BUILD-FAILED"
	errored     = "ERROR"
)

// result is one mutation's line of the table.
type result struct {
	m       mutation
	outcome string
	by      string // the first failing test, or why
	took    time.Duration
}

// failing reports whether the result must make the run exit nonzero.
func (r result) failing() bool {
	return r.outcome == survived || r.outcome == stale || r.outcome == errored
}

// baseline is what fails without any mutation: those failures kill nothing.
type baseline struct {
	tests map[string]bool // "pkg.Test/sub"
	pkgs  map[string]bool // packages failing outside any test
}

func newBaseline(r *suiteRun) baseline {
	b := baseline{tests: map[string]bool{}, pkgs: map[string]bool{}}
	if r == nil {
		return b
	}
	for _, t := range r.failed {
		b.tests[t] = true
	}
	for _, p := range r.failedOutsideTests() {
		b.pkgs[p] = true
	}
	return b
}

// classify turns a run of the mutated tree into a result.
func classify(r suiteRun, base baseline) (outcome, by string) {
	if len(r.buildFailed) > 0 {
		return buildFailed, "does not compile: " + compileDiagnostic(r)
	}
	var fresh []string
	for _, t := range r.failed {
		if !base.tests[t] {
			fresh = append(fresh, t)
		}
	}
	timedOut := ""
	if r.timedOut {
		timedOut = " (timed out)"
	}
	if len(fresh) > 0 {
		return killed, listTests(fresh) + timedOut
	}
	for _, p := range r.failedOutsideTests() {
		if !base.pkgs[p] {
			return killed, path.Base(p) + " failed outside any test: " + firstLine(r.pkgFailText[p]) + timedOut
		}
	}
	if r.timedOut {
		return killed, "timed out"
	}
	if r.exitErr != nil && len(r.failed) == 0 && len(r.pkgFailed) == 0 {
		return errored, "go test: " + describeErr(r)
	}
	if len(r.failed) > 0 {
		return survived, "only tests that fail without the mutation too: " + strings.Join(r.failed, ", ")
	}
	return survived, ""
}

// listTests names the first failing tests (leaf subtests before their
// parents, as they fail), at most three.
func listTests(tests []string) string {
	const shown = 3
	if len(tests) <= shown {
		return strings.Join(tests, ", ")
	}
	return strings.Join(tests[:shown], ", ") + fmt.Sprintf(" (+%d more)", len(tests)-shown)
}

// compileDiagnostic returns the first compiler message of a failed build.
func compileDiagnostic(r suiteRun) string {
	texts := []string{r.buildText, r.stderr}
	for _, p := range slices.Sorted(maps.Keys(r.pkgFailText)) {
		texts = append(texts, r.pkgFailText[p])
	}
	for _, t := range texts {
		if loc := compileError.FindStringIndex(t); loc != nil {
			return firstLine(t[loc[0]:])
		}
	}
	return strings.Join(r.buildFailed, ", ")
}

// writeTable prints the Markdown report of the results.
func writeTable(w io.Writer, results []result, base *suiteRun) {
	counts := map[string]int{}
	for _, r := range results {
		counts[r.outcome]++
	}
	fmt.Fprintf(w, "Mutations: %d; killed %d (of which %d do not compile), survived %d, stale %d",
		len(results), counts[killed]+counts[buildFailed], counts[buildFailed], counts[survived], counts[stale])
	if counts[errored] > 0 {
		fmt.Fprintf(w, ", errors %d", counts[errored])
	}
	fmt.Fprint(w, ".\n\n")
	fmt.Fprintln(w, "| id | mutation | packages | result | first failing tests | time |")
	fmt.Fprintln(w, "|---|---|---|---|---|---|")
	for _, r := range results {
		took := "-"
		if r.took > 0 {
			took = r.took.Round(time.Second).String()
		}
		fmt.Fprintf(w, "| %s | %s | %s | **%s** | %s | %s |\n", cell(r.m.ID), cell(r.m.Desc),
			cell(strings.Join(r.m.Packages, " ")), r.outcome, cell(r.by), took)
	}
	writeNotes(w, results, base)
}

// writeNotes lists what the survivors leave untested and what failed
// without any mutation.
func writeNotes(w io.Writer, results []result, base *suiteRun) {
	first := true
	for _, r := range results {
		if r.outcome != survived || r.m.Guards == "" {
			continue
		}
		if first {
			fmt.Fprintln(w, "\nGuarantees without a test that fails when they break:")
			first = false
		}
		fmt.Fprintf(w, "- %s: %s\n", r.m.ID, r.m.Guards)
	}
	if base == nil {
		return
	}
	if b := newBaseline(base); len(b.tests)+len(b.pkgs) > 0 {
		fmt.Fprintln(w, "\nFailing without any mutation (ignored when classifying):")
		for _, t := range slices.Sorted(maps.Keys(b.tests)) {
			fmt.Fprintf(w, "- %s\n", t)
		}
		for _, p := range slices.Sorted(maps.Keys(b.pkgs)) {
			fmt.Fprintf(w, "- %s (outside any test)\n", p)
		}
	}
}

// cell makes s safe inside a Markdown table cell.
func cell(s string) string {
	s = strings.ReplaceAll(s, "\n", " ")
	return strings.ReplaceAll(s, "|", `\|`)
}
