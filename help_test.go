package main

import (
	"flag"
	"regexp"
	"runtime"
	"strings"
	"testing"
)

// Help goes to stdout with exit 0, lists flags with double dashes, and has
// examples, for every command and every way of asking.
func TestHelpOnStdout(t *testing.T) {
	tests := []struct {
		args []string
		want []string // in this order
	}{
		{[]string{"-h"}, []string{"Usage:", "cardbatch run", "cardbatch status", "cardbatch simulate", "cardbatch version", "Examples:"}},
		{[]string{"--help"}, []string{"Usage:", "cardbatch run", "Examples:"}},
		{[]string{"help"}, []string{"Usage:", "cardbatch run", "Examples:"}},
		{[]string{"run", "-h"}, []string{"cardbatch run --input FILE --output FILE", "Input:", "  --input FILE", "Output:", "  --output FILE",
			"Checkpoint and resume:", "Pacing:", "  --rate N", "Spend:", "  --max-charged N", "Cache:", "  --cache FILE",
			"Security:", "  --token-file FILE", "Logging:", "  -q ", "  -v ", "  --log-level LEVEL", "  --progress-every D",
			"Metrics:", "  --metrics-push URL", "Simulator:", "  --simulate ", "Examples:", "cardbatch run --simulate",
			"Environment:", "CARDBATCH_MAX_CHARGED=5000", "Exit codes:"}},
		{[]string{"run", "--help"}, []string{"Usage:", "Input:", "Examples:"}},
		{[]string{"help", "run"}, []string{"Usage:", "Input:", "Examples:"}},
		{[]string{"status", "-h"}, []string{"cardbatch status --checkpoint FILE", "  --checkpoint FILE", "  --json", "Examples:"}},
		{[]string{"help", "status"}, []string{"cardbatch status --checkpoint FILE", "Examples:"}},
		{[]string{"simulate", "-h"}, []string{"cardbatch simulate", "Serving:", "  --addr HOST:PORT", "Faults:", "  --busy-prob N",
			"Limits:", "  --rate-limit N", "Examples:"}},
		{[]string{"version", "-h"}, []string{"cardbatch version", "Examples:"}},
	}
	for _, tt := range tests {
		t.Run(strings.Join(tt.args, " "), func(t *testing.T) {
			code, stdout, stderr := inproc(t, nil, nil, tt.args...)
			if code != exitOK || stderr != "" {
				t.Fatalf("exit %d, stderr %q; want 0 and nothing on stderr", code, stderr)
			}
			rest := stdout
			for _, w := range tt.want {
				i := strings.Index(rest, w)
				if i < 0 {
					t.Fatalf("help lacks %q (or not in order):\n%s", w, stdout)
				}
				rest = rest[i+len(w):]
			}
			if m := regexp.MustCompile(`(?m)^\s+-[a-z][a-z-]+`).FindString(stdout); m != "" {
				t.Errorf("a long flag with a single dash: %q", m)
			}
		})
	}
}

// Every run flag is in the help under a named group: a new flag must be
// given a group (it would otherwise show under "Other flags").
func TestRunHelpListsEveryFlagInAGroup(t *testing.T) {
	_, stdout, _ := inproc(t, nil, nil, "run", "-h")
	if strings.Contains(stdout, "Other flags:") {
		t.Errorf("some run flags have no group:\n%s", stdout[strings.Index(stdout, "Other flags:"):])
	}
	var f runFlags
	fs := (&app{}).runFlagSet(&f)
	fs.VisitAll(func(fl *flag.Flag) {
		dashes := "--"
		if len(fl.Name) == 1 {
			dashes = "-"
		}
		if !regexp.MustCompile(`(?m)^  ` + regexp.QuoteMeta(dashes+fl.Name) + `( |$)`).MatchString(stdout) {
			t.Errorf("%s%s is not in the help", dashes, fl.Name)
		}
	})
}

// A mistake on the command line is one line on stderr, naming the closest
// flag or command, and exit 2; nothing goes to stdout.
func TestUsageMistakesAreOneLine(t *testing.T) {
	tests := []struct {
		args []string
		want string
	}{
		{[]string{"run", "--inptu", "in.csv"}, "cardbatch run: unknown flag --inptu: did you mean --input?\n"},
		{[]string{"run", "--ouptut=o.csv"}, "cardbatch run: unknown flag --ouptut: did you mean --output?\n"},
		{[]string{"run", "-max-chargd", "5"}, "cardbatch run: unknown flag --max-chargd: did you mean --max-charged?\n"},
		{[]string{"run", "--max_charged", "5"}, "cardbatch run: unknown flag --max_charged: did you mean --max-charged?\n"},
		{[]string{"run", "--metrics", "x"}, "cardbatch run: unknown flag --metrics (cardbatch run -h lists the flags)\n"},
		{[]string{"run", "--simul"}, "cardbatch run: unknown flag --simul: did you mean --simulate?\n"},
		{[]string{"run", "--zzzzzz"}, "cardbatch run: unknown flag --zzzzzz (cardbatch run -h lists the flags)\n"},
		{[]string{"run", "--rate", "fast"}, "cardbatch run: invalid value \"fast\" for flag --rate: parse error (cardbatch run -h lists the flags)\n"},
		{[]string{"run", "--input"}, "cardbatch run: flag needs an argument: --input (cardbatch run -h lists the flags)\n"},
		{[]string{"run", "-q=maybe"}, "cardbatch run: invalid boolean value \"maybe\" for -q: parse error (cardbatch run -h lists the flags)\n"},
		{[]string{"run", "--log-level", "loud", "--simulate", "--input", "a.csv", "--output", "b.csv"},
			"cardbatch run: --log-level must be debug, info, warn or error, not \"loud\"\n"},
		{[]string{"run", "stray"}, "cardbatch run: unexpected argument \"stray\" (flags come as --name value; cardbatch run -h lists them)\n"},
		{[]string{"status", "--chekpoint", "c.db"}, "cardbatch status: unknown flag --chekpoint: did you mean --checkpoint?\n"},
		{[]string{"simulate", "--latncy", "5ms"}, "cardbatch simulate: unknown flag --latncy: did you mean --latency?\n"},
		{[]string{"rnu"}, "cardbatch: unknown command \"rnu\": did you mean run? (cardbatch -h lists the commands)\n"},
		{[]string{"stauts"}, "cardbatch: unknown command \"stauts\": did you mean status? (cardbatch -h lists the commands)\n"},
		{[]string{"frobnicate"}, "cardbatch: unknown command \"frobnicate\" (cardbatch -h lists the commands)\n"},
		// A card number typed where a value goes is masked in the message.
		{[]string{"run", "--burst", "6222 0202 0011 2233 445"},
			"cardbatch run: invalid value \"622202*********3445\" for flag --burst: parse error (cardbatch run -h lists the flags)\n"},
	}
	for _, tt := range tests {
		t.Run(strings.Join(tt.args, " "), func(t *testing.T) {
			code, stdout, stderr := inproc(t, nil, nil, tt.args...)
			if code != exitUsage || stdout != "" || stderr != tt.want {
				t.Fatalf("exit %d, stdout %q, stderr %q\nwant exit 2, no stdout, stderr %q", code, stdout, stderr, tt.want)
			}
		})
	}
}

func TestClosest(t *testing.T) {
	flags := []string{"input", "output", "rate", "retries", "retry-base", "max-charged", "metrics-file", "metrics-push", "no-cache", "cache"}
	tests := []struct{ word, want string }{
		{"inptu", "input"},
		{"inpt", "input"},
		{"rat", "rate"},
		{"retry", "retry-base"}, // the one flag it starts
		{"metrics", ""},         // starts two flags: no guess
		{"cahce", "cache"},      // two letters swapped
		{"nocache", "no-cache"}, // a dash left out
		{"max_charged", "max-charged"},
		{"x", ""},
		{"metrics-f", "metrics-file"},
		{"verbose", ""},
	}
	for _, tt := range tests {
		if got := closest(flags, tt.word); got != tt.want {
			t.Errorf("closest(%q) = %q, want %q", tt.word, got, tt.want)
		}
	}
}

// version prints the version, the commit, the Go version and OS/arch on
// one line of stdout.
func TestVersion(t *testing.T) {
	for _, args := range [][]string{{"version"}, {"--version"}} {
		code, stdout, stderr := inproc(t, nil, nil, args...)
		want := regexp.MustCompile(`^cardbatch dev\ncommit: +([0-9a-f]+( \(modified\))?|unknown)\n` +
			`(built: +.*\n)?go: +` + regexp.QuoteMeta(runtime.Version()) + `\nplatform: +` +
			regexp.QuoteMeta(runtime.GOOS+"/"+runtime.GOARCH) + `\n$`)
		if code != exitOK || stderr != "" || !want.MatchString(stdout) {
			t.Errorf("%v: exit %d, stdout %q, stderr %q; want %v", args, code, stdout, stderr, want)
		}
	}
}

func TestWrap(t *testing.T) {
	tests := []struct {
		text   string
		width  int
		indent string
		want   string
	}{
		{"a b c", 10, "", "a b c\n"},
		{"one two three", 8, "", "one two\nthree\n"},
		{"one two three", 10, "  ", "  one two\n  three\n"},
		{"averyveryverylongword x", 5, "", "averyveryverylongword\nx\n"},
		{"年 年 年", 3, "", "年 年\n年\n"}, // runes, not bytes
	}
	for _, tt := range tests {
		if got := wrap(tt.text, tt.width, tt.indent); got != tt.want {
			t.Errorf("wrap(%q, %d, %q) = %q, want %q", tt.text, tt.width, tt.indent, got, tt.want)
		}
	}
}
