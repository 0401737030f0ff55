package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path"
	"regexp"
	"slices"
	"strings"
	"time"
)

// testEvent is the part of a `go test -json` event (cmd/test2json) read here.
type testEvent struct {
	Action      string
	Package     string
	ImportPath  string // build-output and build-fail events
	Test        string
	Output      string
	FailedBuild string
}

// suiteRun is what one `go test -json` run showed.
type suiteRun struct {
	failed      []string        // failing tests, "pkg.Test/sub", in the order they failed
	pkgFailed   map[string]bool // packages that failed
	pkgFailText map[string]string
	buildFailed []string // packages (or the e2e binary) that did not compile
	buildText   string   // the compiler's messages (build-output events)
	timedOut    bool     // a test binary hit -timeout, or the run hit its deadline
	exitErr     error    // go test's own exit error (nil: everything passed)
	stderr      string
}

// compileError is a Go compiler diagnostic ("file.go:12:3: ...") as go
// build prints it; the e2e package's TestMain builds the binary and prints
// these when the mutated tree does not compile.
var compileError = regexp.MustCompile(`(?m)^\s*\S+\.go:\d+:\d+: `)

// goTest runs `go test -json -count=1` over pkgs in dir with timeout;
// run and skip are its -run and -skip ("" leaves them out).
func goTest(ctx context.Context, dir string, pkgs []string, run, skip string, timeout time.Duration) suiteRun {
	args := []string{"test", "-json", "-count=1", "-timeout", timeout.String()}
	if run != "" {
		args = append(args, "-run", run)
	}
	if skip != "" {
		args = append(args, "-skip", skip)
	}
	args = append(args, pkgs...)
	// go test's -timeout ends a hung test binary; this deadline is a
	// backstop for a hang outside one (a child process holding the pipes).
	ctx, cancel := context.WithTimeout(ctx, timeout+2*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, "go", args...)
	cmd.Dir = dir
	cmd.Cancel = func() error {
		if err := cmd.Process.Signal(os.Interrupt); err != nil {
			return cmd.Process.Kill()
		}
		return nil
	}
	cmd.WaitDelay = 30 * time.Second
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	err := cmd.Run()
	r := parseEvents(stdout.Bytes())
	r.exitErr, r.stderr = err, stderr.String()
	if errors.Is(ctx.Err(), context.DeadlineExceeded) {
		r.timedOut = true
	}
	if compileError.MatchString(r.stderr) {
		r.buildFailed = append(r.buildFailed, "(go test)")
	}
	return r
}

// parseEvents reads a `go test -json` stream.
func parseEvents(b []byte) suiteRun {
	r := suiteRun{pkgFailed: map[string]bool{}, pkgFailText: map[string]string{}}
	output := map[string]*strings.Builder{} // per package, outside tests
	var build strings.Builder
	sc := bufio.NewScanner(bytes.NewReader(b))
	sc.Buffer(make([]byte, 64*1024), 16*1024*1024)
	for sc.Scan() {
		var e testEvent
		if json.Unmarshal(sc.Bytes(), &e) != nil {
			continue
		}
		pkg := e.Package
		if pkg == "" {
			pkg = e.ImportPath
		}
		switch {
		case e.Action == "build-output":
			build.WriteString(e.Output)
		case e.Action == "build-fail":
			r.buildFailed = append(r.buildFailed, pkg)
		case e.Action == "output" && strings.Contains(e.Output, "panic: test timed out after"):
			r.timedOut = true
		case e.Action == "output" && e.Test == "":
			if output[pkg] == nil {
				output[pkg] = &strings.Builder{}
			}
			output[pkg].WriteString(e.Output)
		case e.Action == "fail" && e.Test != "":
			r.failed = append(r.failed, path.Base(pkg)+"."+e.Test)
		case e.Action == "fail":
			r.pkgFailed[pkg] = true
			if e.FailedBuild != "" {
				r.buildFailed = append(r.buildFailed, pkg)
			}
		}
	}
	r.buildText = build.String()
	for pkg := range r.pkgFailed {
		if out := output[pkg]; out != nil {
			r.pkgFailText[pkg] = out.String()
			if compileError.MatchString(out.String()) && !slices.Contains(r.buildFailed, pkg) {
				r.buildFailed = append(r.buildFailed, pkg) // e.g. e2e's TestMain building the binary
			}
		}
	}
	return r
}

// failedOutsideTests returns the packages that failed with no failing test
// (a TestMain that exited, a panic before any test), sorted.
func (r suiteRun) failedOutsideTests() []string {
	var out []string
	for pkg := range r.pkgFailed {
		has := false
		for _, t := range r.failed {
			if strings.HasPrefix(t, path.Base(pkg)+".") {
				has = true
				break
			}
		}
		if !has {
			out = append(out, pkg)
		}
	}
	slices.Sort(out)
	return out
}

// firstLine returns the first non-blank line of s, shortened.
func firstLine(s string) string {
	for _, l := range strings.Split(s, "\n") {
		if l = strings.TrimSpace(l); l != "" && !strings.HasPrefix(l, "FAIL") {
			if len(l) > 100 {
				l = l[:97] + "..."
			}
			return l
		}
	}
	return ""
}

// describeErr says what went wrong with go test itself, for a run that
// produced no events.
func describeErr(r suiteRun) string {
	if l := firstLine(r.stderr); l != "" {
		return l
	}
	return fmt.Sprint(r.exitErr)
}
