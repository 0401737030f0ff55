// Command cardbatch enriches CSV and XLSX files of bank card numbers with
// the issuing bank and card nature from the "Bank Card Basic Information
// Query" API, paying once per distinct card, resuming where it stopped, and
// accounting for every charged call.
//
// main.go is the only place that knows every package: it turns flags and
// the environment into configurations, builds the parts, runs them, and maps
// errors to the exit codes of the command-line contract.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/signal"
	"runtime/debug"
	"slices"
	"strconv"
	"strings"
	"syscall"

	"cardbatch/cardnum"
)

// version is set at build time (-ldflags "-X main.version=..."); the commit
// is the one Go stamps from git (see versionInfo).
var version = "dev"

// Exit codes of the command-line contract (cli.md).
const (
	exitOK          = 0
	exitFatal       = 1
	exitUsage       = 2
	exitFailedRows  = 3
	exitBudget      = 4
	exitLocked      = 5
	exitInterrupted = 130
	exitTerminated  = 143
)

// app is one invocation: its streams and environment, so tests can run the
// whole command in-process.
type app struct {
	stdin          io.Reader
	stdout, stderr io.Writer
	getenv         func(string) string
	// stderrIsTerminal decides between a progress bar and log lines.
	stderrIsTerminal bool
	// signals delivers SIGINT/SIGTERM; nil in tests that do not need it.
	signals <-chan os.Signal
	// panicHook, when set (tests only), is called once the input has been
	// checked: it proves that a panic's text is redacted.
	panicHook func()
	// red masks what is printed; it learns the token and the user's paths.
	red redactor
}

func main() {
	sig := make(chan os.Signal, 2)
	signal.Notify(sig, os.Interrupt, syscall.SIGTERM)
	a := &app{stdin: os.Stdin, stdout: os.Stdout, stderr: os.Stderr, getenv: os.Getenv,
		stderrIsTerminal: isTerminal(os.Stderr), signals: sig}
	os.Exit(a.main(context.Background(), os.Args[1:]))
}

// main runs one command and returns its exit code. A panic is recovered,
// reported without its value's card numbers (the message goes through the
// mask), and exits 1.
func (a *app) main(ctx context.Context, args []string) (code int) {
	defer func() {
		if p := recover(); p != nil {
			fmt.Fprintf(a.stderr, "cardbatch: internal error: %s\n", a.scrub(fmt.Sprint(p)))
			fmt.Fprintf(a.stderr, "%s\n", a.scrub(string(debug.Stack())))
			code = exitFatal
		}
	}()
	if len(args) == 0 {
		fmt.Fprint(a.stderr, topUsage)
		return exitUsage
	}
	switch args[0] {
	case "run":
		return a.cmdRun(ctx, args[1:])
	case "status":
		return a.cmdStatus(ctx, args[1:])
	case "simulate":
		return a.cmdSimulate(ctx, args[1:])
	case "merge":
		return a.cmdMerge(ctx, args[1:])
	case "version", "--version", "-version":
		return a.cmdVersion(args[1:])
	case "help", "-h", "--help", "-help":
		if len(args) > 1 && args[1] != "help" && slices.Contains(commandNames(), args[1]) {
			return a.main(ctx, []string{args[1], "-h"})
		}
		fmt.Fprint(a.stdout, topUsage)
		return exitOK
	}
	if best := closest(commandNames(), args[0]); best != "" {
		fmt.Fprintf(a.stderr, "cardbatch: unknown command %q: did you mean %s? (cardbatch -h lists the commands)\n", a.scrub(args[0]), best)
	} else {
		fmt.Fprintf(a.stderr, "cardbatch: unknown command %q (cardbatch -h lists the commands)\n", a.scrub(args[0]))
	}
	return exitUsage
}

// cmdVersion prints the version, the commit, the Go version and OS/arch.
func (a *app) cmdVersion(args []string) int {
	fs := flag.NewFlagSet("version", flag.ContinueOnError)
	if code, ok := a.parseFlags(fs, versionCommand(), args); !ok {
		return code
	}
	fmt.Fprint(a.stdout, versionInfo(version))
	return exitOK
}

// newLogger returns the stderr logger in the chosen format and level
// (debug, info, warn or error).
func newLogger(w io.Writer, format, level string, replace func([]string, slog.Attr) slog.Attr) (*slog.Logger, error) {
	var lv slog.Level
	if err := lv.UnmarshalText([]byte(level)); err != nil || !slices.Contains([]string{"debug", "info", "warn", "error"}, strings.ToLower(level)) {
		return nil, fmt.Errorf("--log-level must be debug, info, warn or error, not %q", level)
	}
	opts := &slog.HandlerOptions{Level: lv, ReplaceAttr: replace}
	switch format {
	case "", "text":
		return slog.New(slog.NewTextHandler(w, opts)), nil
	case "json":
		return slog.New(slog.NewJSONHandler(w, opts)), nil
	}
	return nil, fmt.Errorf("--log-format must be text or json, not %q", format)
}

// levelFlag is a shorthand for --log-level (-q is error, -v is debug): it
// sets --log-level itself, so the last of them on the command line wins and
// CARDBATCH_LOG_LEVEL never overrides it.
type levelFlag struct {
	fs    *flag.FlagSet
	level string
}

func (l levelFlag) String() string   { return "" }
func (l levelFlag) IsBoolFlag() bool { return true }
func (l levelFlag) Set(v string) error {
	on, err := strconv.ParseBool(v)
	if err != nil {
		return errors.New("parse error")
	}
	if !on {
		return nil
	}
	return l.fs.Set("log-level", l.level)
}

// bindLevelFlags adds --log-level (into level) with -q and -v to fs.
func bindLevelFlags(fs *flag.FlagSet, level *string) {
	fs.StringVar(level, "log-level", "info", "show log lines of this `LEVEL` and above: debug, info, warn or error")
	fs.Var(levelFlag{fs, "error"}, "q", "quiet: errors and the one-line result only (--log-level error)")
	fs.Var(levelFlag{fs, "debug"}, "v", "verbose: also a line per retry, with the masked card (--log-level debug)")
}

// scrub makes text of unknown origin safe to show (see redactor).
func (a *app) scrub(s string) string { return a.red.text(s) }

// redact masks every card-like number in s, in any spelling.
func redact(s string) string { return cardnum.Scrub(s) }

// exitError carries an exit code with a message.
type exitError struct {
	code int
	err  error
}

func (e *exitError) Error() string { return e.err.Error() }
func (e *exitError) Unwrap() error { return e.err }

func usageErr(format string, args ...any) error {
	return &exitError{code: exitUsage, err: fmt.Errorf(format, args...)}
}

func exitCodeOf(err error) int {
	var ee *exitError
	if errors.As(err, &ee) {
		return ee.code
	}
	return exitFatal
}

func isTerminal(f *os.File) bool {
	st, err := f.Stat()
	return err == nil && st.Mode()&os.ModeCharDevice != 0
}
