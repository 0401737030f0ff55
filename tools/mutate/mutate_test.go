package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestParseList(t *testing.T) {
	tests := []struct {
		name    string
		text    string
		wantErr string // "" = parses
		check   func(t *testing.T, ms []mutation)
	}{
		{
			name: "escapes and raw strings",
			text: "# a comment\n\n[one]\nfile: a/b.go\ndoes: d: with a colon\nguards: g\npackages: ./a/ ./e2e/\n" +
				"search: \"x\\n\\ty := \\\"q\\\"\"\nreplace: `raw \\n`\n",
			check: func(t *testing.T, ms []mutation) {
				m := ms[0]
				if len(ms) != 1 || m.ID != "one" || m.File != "a/b.go" || m.Desc != "d: with a colon" || m.Guards != "g" {
					t.Fatalf("got %+v", ms)
				}
				if m.Search != "x\n\ty := \"q\"" || m.Replace != `raw \n` {
					t.Errorf("search %q replace %q", m.Search, m.Replace)
				}
				if strings.Join(m.Packages, "|") != "./a/|./e2e/" {
					t.Errorf("packages %q", m.Packages)
				}
			},
		},
		{
			name: "the default skip, and an entry that skips nothing",
			text: "skip: ^TestSlow$\n[a]\nfile: f\ndoes: d\npackages: .\nsearch: \"x\"\n" +
				"[b]\nfile: f\ndoes: d\npackages: .\nsearch: \"x\"\nskip:\n",
			check: func(t *testing.T, ms []mutation) {
				if len(ms) != 2 || ms[0].Skip != "^TestSlow$" || ms[1].Skip != "" {
					t.Errorf("skips %q, %q; want the default for a, none for b", ms[0].Skip, ms[1].Skip)
				}
			},
		},
		{name: "duplicate id", text: "[a]\nfile: f\ndoes: d\npackages: .\nsearch: \"x\"\nreplace: \"y\"\n[a]\n", wantErr: "listed twice"},
		{name: "unquoted search", text: "[a]\nfile: f\ndoes: d\npackages: .\nsearch: x\n", wantErr: "Go string literal"},
		{name: "no packages", text: "[a]\nfile: f\ndoes: d\nsearch: \"x\"\nreplace: \"y\"\n", wantErr: "no packages"},
		{name: "replace equals search", text: "[a]\nfile: f\ndoes: d\npackages: .\nsearch: \"x\"\nreplace: \"x\"\n", wantErr: "changes nothing"},
		{name: "path outside the module", text: "[a]\nfile: ../f\ndoes: d\npackages: .\nsearch: \"x\"\n", wantErr: "inside the module"},
		{name: "field before an id", text: "file: f\n", wantErr: "before the first"},
		{name: "bad skip regexp", text: "[a]\nfile: f\ndoes: d\npackages: .\nsearch: \"x\"\nskip: (\n", wantErr: "regexp"},
		{name: "unknown field", text: "[a]\nfiles: f\n", wantErr: "unknown field"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ms, _, err := parseList(strings.NewReader(tt.text), "list")
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("error %v, want one containing %q", err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			tt.check(t, ms)
		})
	}
}

func TestApplyExactlyOnce(t *testing.T) {
	m := mutation{File: "f.go", Search: "a+b", Replace: "a-b"}
	tests := []struct {
		src, want, wantErr string
	}{
		{src: "x := a+b\n", want: "x := a-b\n"},
		{src: "x := a*b\n", wantErr: "not found"},
		{src: "x := a+b + a+b\n", wantErr: "2 times"},
	}
	for _, tt := range tests {
		got, err := m.apply(tt.src)
		if tt.wantErr != "" {
			if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
				t.Errorf("apply(%q): error %v, want %q", tt.src, err, tt.wantErr)
			}
			continue
		}
		if err != nil || got != tt.want {
			t.Errorf("apply(%q) = %q, %v; want %q", tt.src, got, err, tt.want)
		}
	}
}

// Events as `go test -json` (Go 1.24 and later) writes them.
const (
	evPass = `{"Action":"start","Package":"cardbatch/billing"}
{"Action":"run","Package":"cardbatch/billing","Test":"TestClassOf"}
{"Action":"pass","Package":"cardbatch/billing","Test":"TestClassOf"}
{"Action":"pass","Package":"cardbatch/billing"}
`
	evFail = `{"Action":"run","Package":"cardbatch/e2e","Test":"TestRate"}
{"Action":"fail","Package":"cardbatch/e2e","Test":"TestRate/sub"}
{"Action":"fail","Package":"cardbatch/e2e","Test":"TestRate"}
{"Action":"fail","Package":"cardbatch/billing","Test":"TestClassOf"}
{"Action":"fail","Package":"cardbatch/e2e"}
{"Action":"fail","Package":"cardbatch/billing"}
`
	evBuild = `{"ImportPath":"cardbatch/billing [cardbatch/billing.test]","Action":"build-output","Output":"# cardbatch/billing\n"}
{"ImportPath":"cardbatch/billing [cardbatch/billing.test]","Action":"build-output","Output":"billing/billing.go:37:2: syntax error\n"}
{"ImportPath":"cardbatch/billing [cardbatch/billing.test]","Action":"build-fail"}
{"Action":"fail","Package":"cardbatch/billing","FailedBuild":"cardbatch/billing [cardbatch/billing.test]"}
`
	// e2e's TestMain builds the product and exits 1 when it does not compile.
	evE2EBuild = `{"Action":"output","Package":"cardbatch/e2e","Output":"pipeline/budget.go:27:12: syntax error: unexpected +\n"}
{"Action":"output","Package":"cardbatch/e2e","Output":"e2e: building cardbatch with -race: exit status 1\n"}
{"Action":"fail","Package":"cardbatch/e2e"}
`
	evMainExit = `{"Action":"output","Package":"cardbatch/e2e","Output":"e2e: cannot start\n"}
{"Action":"fail","Package":"cardbatch/e2e"}
`
	evTimeout = `{"Action":"output","Package":"cardbatch/e2e","Test":"TestX","Output":"panic: test timed out after 8m0s\n"}
{"Action":"fail","Package":"cardbatch/e2e","Test":"TestX"}
{"Action":"fail","Package":"cardbatch/e2e"}
`
)

func TestClassify(t *testing.T) {
	failing := parseEvents([]byte(evFail))
	tests := []struct {
		name      string
		events    string
		base      *suiteRun
		want, by  string
		exitNoRun bool // go test failed without a single event
	}{
		{name: "all pass", events: evPass, want: survived},
		{name: "failing tests, subtest first", events: evFail, want: killed, by: "e2e.TestRate/sub, e2e.TestRate, billing.TestClassOf"},
		{name: "failures that happen unmutated too", events: evFail, base: &failing, want: survived,
			by: "only tests that fail without the mutation too"},
		{name: "compiler error", events: evBuild, want: buildFailed, by: "billing/billing.go:37:2: syntax error"},
		{name: "e2e cannot build the product", events: evE2EBuild, want: buildFailed, by: "pipeline/budget.go:27:12"},
		{name: "TestMain exits", events: evMainExit, want: killed, by: "e2e failed outside any test: e2e: cannot start"},
		{name: "timeout", events: evTimeout, want: killed, by: "e2e.TestX (timed out)"},
		{name: "go test did not start", events: "", exitNoRun: true, want: errored, by: "go test"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := parseEvents([]byte(tt.events))
			if tt.exitNoRun {
				r.exitErr, r.stderr = os.ErrInvalid, "go: no such package\n"
			}
			got, by := classify(r, newBaseline(tt.base))
			if got != tt.want || !strings.Contains(by, tt.by) {
				t.Errorf("classify = %s %q, want %s %q", got, by, tt.want, tt.by)
			}
		})
	}
}

func TestCopyTreeAndMutate(t *testing.T) {
	root, dst := t.TempDir(), filepath.Join(t.TempDir(), "copy")
	write := func(p, s string) {
		t.Helper()
		p = filepath.Join(root, filepath.FromSlash(p))
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(s), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	write("a/b.go", "return x+1\n")
	write("c.txt", "kept\n")
	// A stale file from the previous mutation must not survive the copy.
	if err := os.MkdirAll(dst, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dst, "old.go"), []byte("x"), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := copyTree(root, dst, []string{"a/b.go", "c.txt"}); err != nil {
		t.Fatal(err)
	}
	if err := mutateFile(dst, mutation{File: "a/b.go", Search: "x+1", Replace: "x-1"}); err != nil {
		t.Fatal(err)
	}
	for p, want := range map[string]string{"a/b.go": "return x-1\n", "c.txt": "kept\n"} {
		if b, err := os.ReadFile(filepath.Join(dst, filepath.FromSlash(p))); err != nil || string(b) != want {
			t.Errorf("%s in the copy: %q, %v; want %q", p, b, err, want)
		}
	}
	if b, _ := os.ReadFile(filepath.Join(root, "a", "b.go")); string(b) != "return x+1\n" {
		t.Errorf("the original changed: %q", b)
	}
	if _, err := os.Stat(filepath.Join(dst, "old.go")); err == nil {
		t.Error("a file of the previous copy survived")
	}
}
