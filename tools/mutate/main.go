// Command mutate is `make mutate`: it applies each mutation of a list (a
// small plausible bug, written as an exact search string and its
// replacement in one file) to a fresh copy of the tree, runs the test
// packages that should catch it, and prints a Markdown table saying whether
// the tests killed the mutation or it survived.
//
// A mutation whose search string no longer occurs exactly once is STALE:
// the code moved, and the entry must be rewritten against it. A mutated
// tree that does not compile is BUILD-FAILED (counted as killed, but the
// entry tests nothing). Before the mutations, the same packages run once on
// the unmutated tree (with the list's default skip); a test failing there
// kills no mutation. A timing-sensitive test that fails now and then on a
// loaded machine is skipped (skip:) except by the mutations it must kill.
//
// The exit status is 1 when a mutation survived, is stale, or could not be
// run. Run it from the module root:
//
//	go run ./tools/mutate                    # every mutation, one at a time
//	go run ./tools/mutate -list              # the list, and which are stale
//	go run ./tools/mutate -only a,b          # some mutations only
//	go run ./tools/mutate -parallel 2        # two copies at once
//
// The copies live in one folder per work tree under the system's temporary
// folder, at the same paths from one run to the next, so that the Go build
// cache (keyed by source path) serves every package the mutation leaves
// unchanged.
package main

import (
	"context"
	"flag"
	"fmt"
	"os"
	"os/signal"
	"path/filepath"
	"strings"
	"time"
)

type options struct {
	list     bool
	only     string
	parallel int
	timeout  time.Duration
	file     string
	baseline bool
}

func main() {
	var o options
	flag.BoolVar(&o.list, "list", false, "print the mutations and whether each still applies, run nothing")
	flag.StringVar(&o.only, "only", "", "run only these mutations (comma-separated ids)")
	flag.IntVar(&o.parallel, "parallel", 1, "mutations run at once (each runs its own go test)")
	flag.DurationVar(&o.timeout, "timeout", 8*time.Minute, "go test -timeout of one mutation's run")
	flag.StringVar(&o.file, "file", "", "the mutation list (default tools/mutate/mutations.txt under the module root)")
	flag.BoolVar(&o.baseline, "baseline", true, "first run the packages on the unmutated tree, and ignore what fails there")
	flag.Parse()
	if flag.NArg() > 0 || o.parallel < 1 {
		fmt.Fprintln(os.Stderr, "usage: mutate [-list] [-only id1,id2] [-parallel N>=1] [-timeout D] [-file LIST] [-baseline=false]")
		os.Exit(2)
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt)
	code, err := run(ctx, o)
	stop()
	if err != nil {
		fmt.Fprintln(os.Stderr, "mutate:", err)
		os.Exit(2)
	}
	os.Exit(code)
}

func run(ctx context.Context, o options) (int, error) {
	wd, err := os.Getwd()
	if err != nil {
		return 0, err
	}
	root, err := moduleRoot(wd)
	if err != nil {
		return 0, err
	}
	if o.file == "" {
		o.file = filepath.Join(root, "tools", "mutate", "mutations.txt")
	}
	f, err := os.Open(o.file)
	if err != nil {
		return 0, fmt.Errorf("the mutation list: %w (pass -file)", err)
	}
	all, defaultSkip, err := parseList(f, o.file)
	f.Close()
	if err != nil {
		return 0, err
	}
	ms, err := selectIDs(all, o.only)
	if err != nil {
		return 0, err
	}
	if o.list {
		return printList(ms, root), nil
	}
	results, base, err := runAll(ctx, root, ms, defaultSkip, o)
	if err != nil {
		return 0, err
	}
	writeTable(os.Stdout, results, base)
	for _, r := range results {
		if r.failing() {
			return 1, nil
		}
	}
	return 0, nil
}

// printList prints the mutations and whether each applies; it returns 1
// when one is stale.
func printList(ms []mutation, root string) int {
	code := 0
	fmt.Println("| id | file | mutation | packages | skipped tests | applies |")
	fmt.Println("|---|---|---|---|---|---|")
	for _, m := range ms {
		applies := "yes"
		if why := m.staleness(root); why != "" {
			applies, code = "**STALE**: "+why, 1
		}
		fmt.Printf("| %s | %s | %s | %s | %s | %s |\n", m.ID, m.File, cell(m.Desc),
			cell(strings.Join(m.Packages, " ")), cell(m.Skip), cell(applies))
	}
	return code
}
