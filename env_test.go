package main

import (
	"flag"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestEnvName(t *testing.T) {
	tests := []struct{ flag, want string }{
		{"rate", "CARDBATCH_RATE"},
		{"max-charged", "CARDBATCH_MAX_CHARGED"},
		{"no-cache", "CARDBATCH_NO_CACHE"},
		{"log-level", "CARDBATCH_LOG_LEVEL"},
	}
	for _, tt := range tests {
		if got := envName(tt.flag); got != tt.want {
			t.Errorf("envName(%q) = %q, want %q", tt.flag, got, tt.want)
		}
	}
}

// envValue is a value that each kind of run flag accepts and that differs
// from every run flag's default.
func envValue(f *flag.Flag) string {
	if b, ok := f.Value.(interface{ IsBoolFlag() bool }); ok && b.IsBoolFlag() {
		return "true"
	}
	switch f.Name {
	case "metrics-label":
		return "shard=2"
	case "log-level":
		return "warn"
	}
	switch f.DefValue {
	case "30s", "1s", "10s", "720h0m0s", "15m0s":
		return "7s"
	}
	return "7"
}

// Every run flag but the one-letter shorthands can come from its
// CARDBATCH_ variable.
func TestEveryRunFlagFromEnvironment(t *testing.T) {
	var names []*flag.Flag
	(&app{}).runFlagSet(&runFlags{}).VisitAll(func(f *flag.Flag) { names = append(names, f) })
	for _, f := range names {
		if len(f.Name) == 1 {
			continue
		}
		t.Run(f.Name, func(t *testing.T) {
			fs := (&app{}).runFlagSet(&runFlags{})
			v := envValue(f)
			env := map[string]string{envName(f.Name): v}
			if err := fs.Parse(nil); err != nil {
				t.Fatal(err)
			}
			if err := applyEnv(fs, func(k string) string { return env[k] }); err != nil {
				t.Fatalf("%s=%s: %v", envName(f.Name), v, err)
			}
			got := fs.Lookup(f.Name).Value.String()
			if got == f.DefValue {
				t.Fatalf("%s=%s left --%s at its default %q", envName(f.Name), v, f.Name, got)
			}
		})
	}
}

// The command line wins over the environment; -q and -v are --log-level,
// so CARDBATCH_LOG_LEVEL never overrides them; bad values and
// CARDBATCH_TOKEN are refused with the variable's name.
func TestEnvironmentRules(t *testing.T) {
	tests := []struct {
		name    string
		args    []string
		env     map[string]string
		flag    string
		want    string
		wantErr string
	}{
		{"env sets", nil, map[string]string{"CARDBATCH_RATE": "40"}, "rate", "40", ""},
		{"flag wins", []string{"--rate", "10"}, map[string]string{"CARDBATCH_RATE": "40"}, "rate", "10", ""},
		{"flag wins even at the default", []string{"--rate", "20"}, map[string]string{"CARDBATCH_RATE": "40"}, "rate", "20", ""},
		{"empty is unset", nil, map[string]string{"CARDBATCH_RATE": ""}, "rate", "20", ""},
		{"max charged", nil, map[string]string{"CARDBATCH_MAX_CHARGED": "5000"}, "max-charged", "5000", ""},
		{"bool", nil, map[string]string{"CARDBATCH_NO_CACHE": "1"}, "no-cache", "true", ""},
		{"-q", []string{"-q"}, nil, "log-level", "error", ""},
		{"-v", []string{"-v"}, nil, "log-level", "debug", ""},
		{"last wins", []string{"-q", "-v"}, nil, "log-level", "debug", ""},
		{"-q=false", []string{"-q=false"}, nil, "log-level", "info", ""},
		{"level then -q", []string{"--log-level", "warn", "-q"}, nil, "log-level", "error", ""},
		{"-v beats the environment", []string{"-v"}, map[string]string{"CARDBATCH_LOG_LEVEL": "warn"}, "log-level", "debug", ""},
		{"level from environment", nil, map[string]string{"CARDBATCH_LOG_LEVEL": "warn"}, "log-level", "warn", ""},
		{"no shorthand variables", nil, map[string]string{"CARDBATCH_Q": "true", "CARDBATCH_V": "true"}, "log-level", "info", ""},
		{"bad value", nil, map[string]string{"CARDBATCH_RATE": "fast"}, "", "",
			`CARDBATCH_RATE="fast": invalid value for --rate: parse error`},
		{"bad duration", nil, map[string]string{"CARDBATCH_TIMEOUT": "30"}, "", "", `CARDBATCH_TIMEOUT="30": invalid value for --timeout`},
		{"no token variable", nil, map[string]string{"CARDBATCH_TOKEN": "tok-secret-xyz"}, "", "",
			"CARDBATCH_TOKEN is not read: the API token comes from ACEDATA_TOKEN"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var f runFlags
			fs := (&app{}).runFlagSet(&f)
			if err := fs.Parse(tt.args); err != nil {
				t.Fatal(err)
			}
			err := applyEnv(fs, func(k string) string { return tt.env[k] })
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) || strings.Contains(err.Error(), "tok-secret") {
					t.Fatalf("error %v, want one containing %q (and never the token)", err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if got := fs.Lookup(tt.flag).Value.String(); got != tt.want {
				t.Fatalf("--%s = %q, want %q", tt.flag, got, tt.want)
			}
		})
	}
}

// The environment reaches a real run: a dry run configured only through
// CARDBATCH_ variables prints the rate and price they set; a flag given on
// the command line wins.
func TestRunReadsEnvironment(t *testing.T) {
	dir := t.TempDir()
	in := filepath.Join("samples", "cards.csv")
	if _, err := os.Stat(in); err != nil {
		t.Fatal(err)
	}
	env := map[string]string{"CARDBATCH_INPUT": in, "CARDBATCH_OUTPUT": filepath.Join(dir, "out.csv"),
		"CARDBATCH_DRY_RUN": "true", "CARDBATCH_RATE": "40", "CARDBATCH_PRICE": "0.5", "CARDBATCH_NO_CACHE": "true",
		"CARDBATCH_LOG_LEVEL": "error"}
	tests := []struct {
		args []string
		want []string
	}{
		{[]string{"run"}, []string{"at --rate 40", "× 0.5"}},
		{[]string{"run", "--rate", "10"}, []string{"at --rate 10", "× 0.5"}},
	}
	for _, tt := range tests {
		code, stdout, stderr := inproc(t, env, nil, tt.args...)
		if code != exitOK {
			t.Fatalf("%v: exit %d\n%s", tt.args, code, stderr)
		}
		for _, w := range tt.want {
			if !strings.Contains(stdout, w) {
				t.Errorf("%v: the dry run does not say %q:\n%s", tt.args, w, stdout)
			}
		}
		if stderr != "" {
			t.Errorf("%v: CARDBATCH_LOG_LEVEL=error, yet stderr has %q", tt.args, stderr)
		}
	}
}
