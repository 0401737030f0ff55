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
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/signal"
	"runtime/debug"
	"syscall"

	"cardbatch/cardnum"
)

// version is set at build time (-ldflags "-X main.version=...").
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
		a.usage()
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
		fmt.Fprint(a.stdout, versionInfo(version))
		return exitOK
	case "help", "-h", "--help", "-help":
		a.usage()
		return exitOK
	}
	fmt.Fprintf(a.stderr, "cardbatch: unknown command %q\n\n", args[0])
	a.usage()
	return exitUsage
}

func (a *app) usage() {
	fmt.Fprint(a.stderr, `cardbatch enriches CSV and XLSX files of bank card numbers through the
Bank Card Basic Information Query API (check-1e).

Usage:
  cardbatch run      --input FILE --output FILE [flags]   enrich a CSV or XLSX file
  cardbatch status   --checkpoint FILE [--json]           progress and billing of a run
  cardbatch simulate --addr 127.0.0.1:8080 [flags]        serve the built-in API simulator
  cardbatch merge    --output FILE CHECKPOINT...          join the shards (run --shard K/N) of one input
  cardbatch version

Run 'cardbatch COMMAND -h' for a command's flags. The API token comes from
$ACEDATA_TOKEN or --token-file FILE, never from a flag value.
`)
}

// newLogger returns the stderr logger in the chosen format.
func newLogger(w io.Writer, format string, replace func([]string, slog.Attr) slog.Attr) (*slog.Logger, error) {
	opts := &slog.HandlerOptions{Level: slog.LevelInfo, ReplaceAttr: replace}
	switch format {
	case "", "text":
		return slog.New(slog.NewTextHandler(w, opts)), nil
	case "json":
		return slog.New(slog.NewJSONHandler(w, opts)), nil
	}
	return nil, fmt.Errorf("--log-format must be text or json, not %q", format)
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
