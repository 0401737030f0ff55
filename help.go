package main

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"regexp"
	"slices"
	"strings"
	"unicode/utf8"

	"github.com/agnivade/levenshtein"
)

// command describes a command for its help: what it does, its flags by
// group, and examples. Flags of the flag set that no group names are listed
// under "Other flags", so a new flag is never left out of the help.
type command struct {
	name     string // as typed after cardbatch: "run"
	usage    string // the synopsis, without "cardbatch"
	about    string // what the command does, a short paragraph
	groups   []flagGroup
	examples string // commented command lines, one per example
	footer   string // notes after the examples (environment, exit codes)
	env      bool   // every flag may come from CARDBATCH_<FLAG> (see env.go)
}

type flagGroup struct {
	title string
	flags []string // flag names; names the flag set lacks are skipped
}

// parseFlags parses args into fs the way the field expects: -h and --help
// print the help on stdout (exit 0); a mistake prints one line naming the
// closest flag (exit 2). For a command with env, flags not on the command
// line are then read from the environment. ok is false when the command
// must end with code.
func (a *app) parseFlags(fs *flag.FlagSet, c *command, args []string) (code int, ok bool) {
	fs.SetOutput(io.Discard)
	fs.Usage = func() {}
	err := fs.Parse(args)
	if errors.Is(err, flag.ErrHelp) {
		writeHelp(a.stdout, fs, c)
		return exitOK, false
	}
	if err == nil && fs.NArg() > 0 {
		err = fmt.Errorf("unexpected argument %q (flags come as --name value; cardbatch %s -h lists them)", fs.Arg(0), c.name)
	}
	if err == nil && c.env {
		err = applyEnv(fs, a.getenv)
	}
	if err != nil {
		fmt.Fprintf(a.stderr, "cardbatch %s: %s\n", c.name, a.scrub(flagError(fs, c.name, err)))
		return exitUsage, false
	}
	return exitOK, true
}

var (
	undefinedFlag = regexp.MustCompile(`^flag provided but not defined: -+(.*)$`)
	// singleDash is a flag name as the flag package prints it: -name.
	singleDash = regexp.MustCompile(`(^|[ :])-([a-z0-9][a-z0-9-]*)\b`)
)

// flagError turns the flag package's message into one line with double
// dashes, suggesting the closest flag for an unknown one.
func flagError(fs *flag.FlagSet, cmd string, err error) string {
	msg := err.Error()
	m := undefinedFlag.FindStringSubmatch(msg)
	if m == nil {
		if strings.HasPrefix(msg, "CARDBATCH_") || strings.HasPrefix(msg, "unexpected argument") {
			return msg
		}
		return singleDash.ReplaceAllStringFunc(msg, doubleDash) + fmt.Sprintf(" (cardbatch %s -h lists the flags)", cmd)
	}
	name := m[1]
	if best := closestFlag(fs, name); best != "" {
		return fmt.Sprintf("unknown flag --%s: did you mean --%s?", name, best)
	}
	return fmt.Sprintf("unknown flag --%s (cardbatch %s -h lists the flags)", name, cmd)
}

// doubleDash rewrites " -name" as " --name" (one-letter flags keep one dash).
func doubleDash(m string) string {
	i := strings.Index(m, "-")
	if len(m)-i-1 == 1 {
		return m
	}
	return m[:i] + "-" + m[i:]
}

// closestFlag returns the flag of fs nearest to name: the one flag name
// starts, or the nearest in edit distance if it is near enough to be a
// typo; "" when none is.
func closestFlag(fs *flag.FlagSet, name string) string {
	var names []string
	fs.VisitAll(func(f *flag.Flag) { names = append(names, f.Name) })
	return closest(names, name)
}

// closest returns the candidate nearest to word ("" when none is near).
func closest(candidates []string, word string) string {
	var prefixed []string
	best, bestDist := "", -1
	for _, c := range candidates {
		if len(word) >= 3 && sameLetters(word, c) {
			return c // letters swapped: "rnu" is run
		}
		if len(word) >= 3 && strings.HasPrefix(c, word) {
			prefixed = append(prefixed, c)
		}
		if d := levenshtein.ComputeDistance(word, c); bestDist < 0 || d < bestDist {
			best, bestDist = c, d
		}
	}
	// The shortest of the flags word starts, if it starts all the others
	// (--simul: --simulate, not --simulate-seed).
	slices.SortFunc(prefixed, func(a, b string) int { return len(a) - len(b) })
	if len(prefixed) > 0 {
		if !slices.ContainsFunc(prefixed, func(c string) bool { return !strings.HasPrefix(c, prefixed[0]) }) {
			return prefixed[0]
		}
		return "" // it starts several: no guess
	}
	// A typo: one edit in a short word, two (or a third of it) in a longer one.
	if bestDist >= 0 && (bestDist <= 1 && len(word) > 1 || bestDist <= max(2, len(word)/3) && len(word) >= 5) {
		return best
	}
	return ""
}

// sameLetters reports whether a and b have the same letters, in any order.
func sameLetters(a, b string) bool {
	x, y := []byte(a), []byte(b)
	slices.Sort(x)
	slices.Sort(y)
	return string(x) == string(y)
}

// helpWidth is the width the help is wrapped to; column is where the flags'
// descriptions start.
const (
	helpWidth = 100
	column    = 30
)

// writeHelp prints c's help: synopsis, paragraph, flags by group (double
// dashes, argument names, defaults), examples and notes.
func writeHelp(w io.Writer, fs *flag.FlagSet, c *command) {
	fmt.Fprintf(w, "Usage:\n  cardbatch %s\n\n%s", c.usage, wrap(c.about, helpWidth, ""))
	listed := map[string]bool{}
	groups := append(slices.Clone(c.groups), flagGroup{title: "Other flags"})
	for _, g := range groups {
		var lines []string
		add := func(f *flag.Flag) {
			if !listed[f.Name] {
				listed[f.Name] = true
				lines = append(lines, flagLine(f))
			}
		}
		if g.title == "Other flags" {
			fs.VisitAll(add)
		}
		for _, n := range g.flags {
			if f := fs.Lookup(n); f != nil {
				add(f)
			}
		}
		if len(lines) > 0 {
			fmt.Fprintf(w, "\n%s:\n%s", g.title, strings.Join(lines, ""))
		}
	}
	if c.examples != "" {
		fmt.Fprintf(w, "\nExamples:\n%s", c.examples)
	}
	if c.footer != "" {
		fmt.Fprintf(w, "\n%s", c.footer)
	}
}

// flagLine is one flag in the help: "  --name ARG   description (default x)".
func flagLine(f *flag.Flag) string {
	arg, usage := flag.UnquoteUsage(f)
	switch arg {
	case "float", "int", "uint", "int64", "uint64":
		arg = "N"
	case "duration":
		arg = "D"
	case "string", "value":
		arg = "VALUE"
	}
	dashes := "--"
	if len(f.Name) == 1 {
		dashes = "-"
	}
	head := "  " + dashes + f.Name
	if arg != "" {
		head += " " + arg
	}
	if d := f.DefValue; !strings.Contains(usage, "(default") && !zeroDefault(d) {
		usage += " (default " + d + ")"
	}
	indent := strings.Repeat(" ", column)
	if utf8.RuneCountInString(head) > column-2 {
		return head + "\n" + wrap(usage, helpWidth, indent)
	}
	return head + strings.Repeat(" ", column-len(head)) + strings.TrimPrefix(wrap(usage, helpWidth, indent), indent)
}

func zeroDefault(d string) bool {
	switch d {
	case "", "0", "false", "map[]", "[]", "0s":
		return true
	}
	return false
}

// wrap breaks text into lines of at most width runes (words longer than a
// line stay whole), each starting with indent and ending with a newline.
func wrap(text string, width int, indent string) string {
	var b strings.Builder
	for _, para := range strings.Split(text, "\n") {
		line := indent
		for _, word := range strings.Fields(para) {
			if line != indent && utf8.RuneCountInString(line)+1+utf8.RuneCountInString(word) > width {
				b.WriteString(line + "\n")
				line = indent
			}
			if line != indent {
				line += " "
			}
			line += word
		}
		b.WriteString(line + "\n")
	}
	return b.String()
}

// The help of each command: what it does, its flags by group, examples.

func runCommand() *command {
	return &command{
		name:  "run",
		usage: "run --input FILE --output FILE [flags]",
		about: "Enrich a CSV or XLSX file of bank card numbers with the issuing bank and card nature, " +
			"paying once per distinct card. A run that stops (interrupted, failed rows, --max-charged) " +
			"resumes from its checkpoint when the same command runs again: finished rows are neither " +
			"re-sent nor re-paid.",
		groups: []flagGroup{
			{"Input", []string{"input", "column", "sheet", "encoding", "no-luhn", "shard"}},
			{"Output", []string{"output", "summary", "lang", "prefix", "bom", "no-bom", "csv-safe", "mask-output"}},
			{"Checkpoint and resume", []string{"checkpoint", "restart", "wait"}},
			{"Pacing", []string{"rate", "burst", "concurrency", "retries", "retry-base", "timeout", "max-wait"}},
			{"Spend", []string{"max-charged", "dry-run", "price"}},
			{"Cache", []string{"cache", "cache-url-file", "cache-key-file", "no-cache", "cache-ttl"}},
			{"Security", []string{"endpoint", "token-file", "encrypt-card", "encryption-key", "encryption-array"}},
			{"Logging", []string{"q", "v", "log-level", "log-format", "no-progress", "progress-every", "cpuprofile"}},
			{"Metrics", []string{"metrics-file", "metrics-push", "metrics-job", "metrics-label"}},
			{"Simulator", []string{"simulate", "simulate-faults", "simulate-seed"}},
		},
		examples: `  # Try it on the sample file against the built-in simulator (no token, no network):
  cardbatch run --simulate --input samples/cards.csv --output enriched.csv

  # What would a file cost? Reads and counts, sends nothing:
  cardbatch run --dry-run --price 0.05 --input cards.xlsx --output enriched.xlsx

  # For real: at most 40 calls a second and 5,000 charged calls:
  export ACEDATA_TOKEN=...   # or --token-file FILE (mode 0600)
  cardbatch run --input cards.xlsx --output enriched.xlsx --rate 40 --max-charged 5000

  # Nightly: JSON logs, quiet, metrics for a Pushgateway, settings from the environment:
  CARDBATCH_RATE=40 CARDBATCH_CACHE=/data/answers.db cardbatch run -q --log-format json \
    --metrics-push http://pushgateway:9091 --input /data/in.csv --output /data/out.csv
`,
		footer: `Environment:
  ACEDATA_TOKEN        the API token (never a flag; or --token-file FILE)
  CARDBATCH_<FLAG>     any flag above, named in capitals with underscores for dashes:
                       CARDBATCH_RATE=40, CARDBATCH_MAX_CHARGED=5000, CARDBATCH_NO_CACHE=true.
                       A flag on the command line wins. -q and -v are CARDBATCH_LOG_LEVEL.

Exit codes: 0 every row answered; 1 fatal (resumable); 2 usage error, nothing sent;
3 some rows failed (run again retries only those); 4 stopped at --max-charged;
5 another run holds the checkpoint; 130 SIGINT; 143 SIGTERM (both resumable).
`,
		env: true,
	}
}

func statusCommand() *command {
	return &command{
		name:  "status",
		usage: "status --checkpoint FILE [--json]",
		about: "Print the progress and billing of a run from its checkpoint. It reads the checkpoint " +
			"without locking it, so it works while the run is going, and says whether a run holds it.",
		groups: []flagGroup{{"Flags", []string{"checkpoint", "json"}}},
		examples: `  # The run's progress and bill (the checkpoint is <output>.checkpoint.db by default):
  cardbatch status --checkpoint enriched.csv.checkpoint.db

  # The billing summary as JSON, for a script:
  cardbatch status --checkpoint enriched.csv.checkpoint.db --json | jq .charged_calls
`,
	}
}

func simulateCommand() *command {
	return &command{
		name:  "simulate",
		usage: "simulate --addr 127.0.0.1:8080 [flags]",
		about: "Serve the built-in simulator of the API (POST /identity/bankcard/check-1e) until " +
			"interrupted, with faults to inject, and its ledger of calls and charges at GET /_sim/ledger.",
		groups: []flagGroup{
			{"Serving", []string{"addr", "token", "seed", "decryption-key"}},
			{"Latency", []string{"latency", "latency-jitter", "slow-prob", "slow-latency"}},
			{"Faults", []string{"busy-prob", "429-prob", "500-prob", "502-prob", "drop-prob", "unknown-prob",
				"charge-drop-prob", "notexist-prob", "error-form"}},
			{"Limits", []string{"rate-limit", "rate-burst", "fail-auth-after", "used-up-after"}},
		},
		examples: `  # A well-behaved API on port 8080:
  cardbatch simulate --addr 127.0.0.1:8080

  # A bad night: latency, busy answers, 429s, a rate limit of 20 calls a second:
  cardbatch simulate --latency 80ms --busy-prob 0.05 --429-prob 0.02 --rate-limit 20

  # Point a run at it, then read what it charged:
  cardbatch run --endpoint http://127.0.0.1:8080 --input cards.csv --output out.csv
  curl -s http://127.0.0.1:8080/_sim/ledger
`,
	}
}

func versionCommand() *command {
	return &command{
		name:     "version",
		usage:    "version",
		about:    "Print the version, the commit it was built from, the Go version and the OS/architecture.",
		examples: "  cardbatch version\n",
	}
}

// commandNames are the commands, for "did you mean" on a typo.
func commandNames() []string { return []string{"run", "status", "simulate", "version", "help"} }

const topUsage = `cardbatch enriches CSV and XLSX files of bank card numbers through the
Bank Card Basic Information Query API (check-1e), paying once per distinct card.

Usage:
  cardbatch run      --input FILE --output FILE [flags]   enrich a CSV or XLSX file
  cardbatch status   --checkpoint FILE [--json]           progress and billing of a run
  cardbatch simulate --addr 127.0.0.1:8080 [flags]        serve the built-in API simulator
  cardbatch version                                       version, commit, Go version, OS/arch

Examples:
  cardbatch run --simulate --input samples/cards.csv --output enriched.csv
  cardbatch status --checkpoint enriched.csv.checkpoint.db

Run 'cardbatch COMMAND -h' (or 'cardbatch help COMMAND') for a command's flags and examples.
The API token comes from $ACEDATA_TOKEN or --token-file FILE, never from a flag value.
`
