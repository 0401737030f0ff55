package main

// Card numbers and the token stay where they belong: these tests run whole
// enrichments in-process (so a panic can be provoked and its report read)
// and search everything cardbatch printed or created for a card or the token.

import (
	"bytes"
	"context"
	"fmt"
	"io/fs"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"cardbatch/cardapi/sim"
	"cardbatch/cardnum"
)

const secretToken = "tok-Sup3rSecret-0123456789abcdef"

// inproc runs one cardbatch command in-process with captured streams.
func inproc(t *testing.T, env map[string]string, hook func(), args ...string) (code int, stdout, stderr string) {
	t.Helper()
	var out, errb bytes.Buffer
	a := &app{stdin: strings.NewReader(""), stdout: &out, stderr: &errb,
		getenv: func(k string) string { return env[k] }, panicHook: hook}
	code = a.main(context.Background(), args)
	return code, out.String(), errb.String()
}

func TestNoCardOrTokenAnywhere(t *testing.T) {
	dir := t.TempDir()
	t.Setenv("XDG_CACHE_HOME", filepath.Join(dir, "xdg-cache"))
	t.Setenv("CARDBATCH_HMAC_KEY", "")

	// Input: valid cards, Luhn failures, short numbers, repeats, written with separators.
	cards := sim.GenerateCards(701, 120)
	var secrets []string // every card-like value of the input, as digits
	var b strings.Builder
	b.WriteString("name,card_number\n")
	for i, c := range cards {
		written := c
		switch i % 6 {
		case 1:
			written = c[:4] + " " + c[4:8] + " " + c[8:12] + " " + c[12:]
		case 2:
			c = c[:len(c)-1] + fmt.Sprint((int(c[len(c)-1]-'0')+1)%10) // Luhn failure
			written = c
		case 3:
			written = c[:4] + "-" + c[4:]
		}
		secrets = append(secrets, c)
		fmt.Fprintf(&b, "Customer %d,%s\n", i, written)
	}
	b.WriteString("Repeat,\"" + cards[0] + "\"\n")
	in := filepath.Join(dir, "cards.csv")
	if err := os.WriteFile(in, []byte(b.String()), 0o600); err != nil {
		t.Fatal(err)
	}
	out := filepath.Join(dir, "out", "enriched.csv")
	os.Mkdir(filepath.Dir(out), 0o700)

	// 1. A run with faults that ends with a fatal 401 after 40 calls.
	faulty := httptest.NewServer(sim.New(sim.Config{Seed: 701, BusyProb: 0.1, RateLimitedProb: 0.05,
		ServerErrorProb: 0.05, DropProb: 0.03, UnknownResultProb: 0.02, FailAuthAfter: 40, Token: secretToken}))
	defer faulty.Close()
	env := map[string]string{"ACEDATA_TOKEN": secretToken}
	var captured []string
	run := func(want int, srvURL string, extra ...string) {
		t.Helper()
		args := append([]string{"run", "--input", in, "--output", out, "--endpoint", srvURL, "--rate", "0",
			"--retry-base", "2ms", "--no-progress"}, extra...)
		code, so, se := inproc(t, env, nil, args...)
		captured = append(captured, so, se)
		if code != want {
			t.Fatalf("run %v: exit %d, want %d\n%s", extra, code, want, se)
		}
	}
	run(exitFatal, faulty.URL)
	// 2. The same with JSON logs, still failing.
	run(exitFatal, faulty.URL, "--log-format", "json")
	// 3. A panic while the run handles a card: recovered, reported, masked.
	code, so, se := inproc(t, env, func() { panic("simulated failure while handling card " + cards[5] + " token " + secretToken) },
		"run", "--input", in, "--output", out, "--endpoint", faulty.URL, "--no-progress")
	captured = append(captured, so, se)
	if code != exitFatal || !strings.Contains(se, "internal error") || !strings.Contains(se, cardnum.Mask(cards[5])) {
		t.Fatalf("panic path: exit %d\n%s", code, se)
	}
	// 4. A healthy API finishes the run.
	healthy := httptest.NewServer(sim.New(sim.Config{Seed: 701, Token: secretToken}))
	defer healthy.Close()
	run(exitOK, healthy.URL, "--log-format", "json")
	// 5. status, as text and JSON.
	for _, extra := range [][]string{nil, {"--json"}} {
		code, so, se := inproc(t, env, nil, append([]string{"status", "--checkpoint", out + ".checkpoint.db"}, extra...)...)
		if code != exitOK {
			t.Fatalf("status: %d %s", code, se)
		}
		captured = append(captured, so, se)
	}
	// 6. A dry run.
	code, so, se = inproc(t, env, nil, "run", "--input", in, "--output", out, "--endpoint", healthy.URL, "--dry-run")
	captured = append(captured, so, se)
	if code != exitOK {
		t.Fatalf("dry run: %d %s", code, se)
	}

	// Everything printed, and every file cardbatch created except the output.
	files := map[string][]byte{}
	for i, c := range captured {
		files[fmt.Sprintf("captured stream %d", i)] = []byte(c)
	}
	for _, root := range []string{filepath.Dir(out), filepath.Join(dir, "xdg-cache")} {
		filepath.WalkDir(root, func(p string, d fs.DirEntry, err error) error {
			if err != nil || d.IsDir() || p == out {
				return nil
			}
			body, _ := os.ReadFile(p)
			files[p] = body
			return nil
		})
	}
	if len(files) < 10 {
		t.Fatalf("too little was captured: %d", len(files))
	}
	for name, body := range files {
		if bytes.Contains(body, []byte(secretToken)) {
			t.Errorf("the token appears in %s", name)
		}
		for _, c := range secrets {
			if bytes.Contains(body, []byte(c)) {
				t.Errorf("card %s appears whole in %s", cardnum.Mask(c), name)
			}
		}
	}
	// The output file itself holds the cards (that is its job) but never in
	// the answer columns, and never the token.
	body, _ := os.ReadFile(out)
	if bytes.Contains(body, []byte(secretToken)) {
		t.Error("the token appears in the output")
	}
	for _, line := range strings.Split(string(body), "\n")[1:] {
		fields := strings.Split(line, ",")
		if len(fields) < 4 {
			continue
		}
		answer := strings.Join(fields[2:], ",")
		for _, c := range secrets {
			if strings.Contains(answer, c) {
				t.Errorf("card %s appears in the answer columns", cardnum.Mask(c))
			}
		}
	}
}

func TestFilesAreOwnerOnly(t *testing.T) {
	dir := t.TempDir()
	t.Setenv("XDG_CACHE_HOME", filepath.Join(dir, "xdg"))
	t.Setenv("CARDBATCH_HMAC_KEY", "")
	cards := sim.GenerateCards(702, 30)
	in := filepath.Join(dir, "in.csv")
	os.WriteFile(in, []byte("card\n"+strings.Join(cards, "\n")+"\n"), 0o644)
	srv := httptest.NewServer(sim.New(sim.Config{Seed: 702}))
	defer srv.Close()
	for _, out := range []string{filepath.Join(dir, "o", "out.csv"), filepath.Join(dir, "o", "out.xlsx")} {
		os.MkdirAll(filepath.Dir(out), 0o755)
		code, _, se := inproc(t, map[string]string{"ACEDATA_TOKEN": "t"}, nil, "run", "--input", in, "--output", out,
			"--endpoint", srv.URL, "--rate", "0", "--no-progress")
		if code != exitOK {
			t.Fatalf("exit %d: %s", code, se)
		}
	}
	created := 0
	for _, root := range []string{filepath.Join(dir, "o"), filepath.Join(dir, "xdg")} {
		filepath.WalkDir(root, func(p string, d fs.DirEntry, err error) error {
			if err != nil || d.IsDir() {
				return nil
			}
			st, _ := os.Stat(p)
			created++
			if st.Mode().Perm() != 0o600 {
				t.Errorf("%s has mode %04o, want 0600", p, st.Mode().Perm())
			}
			if strings.Contains(filepath.Base(p), "tmp") {
				t.Errorf("temporary file left behind: %s", p)
			}
			return nil
		})
	}
	// out.csv, out.xlsx, two checkpoints, two keys, two summaries, cache, cache key
	if created < 10 {
		t.Fatalf("only %d files found", created)
	}
	// An input stricter than 0600 gives an output as strict.
	os.Chmod(in, 0o400)
	strict := filepath.Join(dir, "o", "strict.csv")
	if code, _, se := inproc(t, map[string]string{"ACEDATA_TOKEN": "t"}, nil, "run", "--input", in, "--output", strict,
		"--endpoint", srv.URL, "--rate", "0", "--no-progress"); code != exitOK {
		t.Fatalf("exit %d: %s", code, se)
	}
	if st, _ := os.Stat(strict); st.Mode().Perm() != 0o400 {
		t.Errorf("output of a 0400 input has mode %04o", st.Mode().Perm())
	}
}

func TestTokenSources(t *testing.T) {
	dir := t.TempDir()
	t.Setenv("XDG_CACHE_HOME", filepath.Join(dir, "xdg"))
	in := filepath.Join(dir, "in.csv")
	os.WriteFile(in, []byte("card\n"+strings.Join(sim.GenerateCards(703, 5), "\n")+"\n"), 0o600)
	out := filepath.Join(dir, "out.csv")
	srv := httptest.NewServer(sim.New(sim.Config{Seed: 703, Token: secretToken}))
	defer srv.Close()
	loose := filepath.Join(dir, "token-loose")
	os.WriteFile(loose, []byte(secretToken+"\n"), 0o644)
	tight := filepath.Join(dir, "token-tight")
	os.WriteFile(tight, []byte(secretToken+"\n"), 0o600)
	cases := []struct {
		name    string
		env     map[string]string
		args    []string
		want    int
		message string
	}{
		{"no token", nil, nil, exitUsage, "ACEDATA_TOKEN"},
		{"--token flag refused", nil, []string{"--token", secretToken}, exitUsage, "--token-file"},
		{"--token= flag refused", nil, []string{"--token=" + secretToken}, exitUsage, "visible in ps"},
		{"token file readable by others", nil, []string{"--token-file", loose}, exitUsage, "chmod 600"},
		{"token file 0600", nil, []string{"--token-file", tight}, exitOK, ""},
		{"environment", map[string]string{"ACEDATA_TOKEN": secretToken}, []string{"--restart"}, exitOK, ""},
		{"wrong token is fatal", map[string]string{"ACEDATA_TOKEN": "wrong"}, []string{"--restart", "--no-cache"}, exitFatal, "invalid_token"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			args := append([]string{"run", "--input", in, "--output", out, "--endpoint", srv.URL, "--rate", "0", "--no-progress"}, tc.args...)
			code, so, se := inproc(t, tc.env, nil, args...)
			if code != tc.want || !strings.Contains(se, tc.message) {
				t.Fatalf("exit %d, want %d; stderr:\n%s", code, tc.want, se)
			}
			if strings.Contains(so+se, secretToken) {
				t.Fatalf("the token was printed")
			}
		})
	}
}

func TestFieldEncryptionEndToEnd(t *testing.T) {
	dir := t.TempDir()
	t.Setenv("XDG_CACHE_HOME", filepath.Join(dir, "xdg"))
	privPEM, pubPEM, err := sim.GenerateTestKeyPair(2048)
	if err != nil {
		t.Fatal(err)
	}
	pubFile := filepath.Join(dir, "center.pub.pem")
	os.WriteFile(pubFile, pubPEM, 0o600)
	privFile := filepath.Join(dir, "center.pem")
	os.WriteFile(privFile, privPEM, 0o600)
	key, err := sim.LoadRSAPrivateKey(privFile)
	if err != nil {
		t.Fatal(err)
	}
	cards := sim.GenerateCards(704, 60)
	in := filepath.Join(dir, "in.csv")
	os.WriteFile(in, []byte("card\n"+strings.Join(cards, "\n")+"\n"), 0o600)
	var mu sync.Mutex
	var bodies [][]byte
	srv := httptest.NewServer(sim.New(sim.Config{Seed: 704, DecryptionKey: key, OnBody: func(b []byte) {
		mu.Lock()
		bodies = append(bodies, append([]byte(nil), b...))
		mu.Unlock()
	}}))
	defer srv.Close()
	for _, form := range [][]string{nil, {"--encryption-array"}} {
		out := filepath.Join(dir, fmt.Sprintf("out%d.csv", len(form)))
		args := append([]string{"run", "--input", in, "--output", out, "--endpoint", srv.URL, "--rate", "0",
			"--no-progress", "--no-cache", "--encrypt-card", "--encryption-key", pubFile}, form...)
		code, _, se := inproc(t, map[string]string{"ACEDATA_TOKEN": "t"}, nil, args...)
		if code != exitOK {
			t.Fatalf("encrypted run %v: exit %d\n%s", form, code, se)
		}
		body, _ := os.ReadFile(out)
		lines := strings.Split(strings.TrimSpace(string(body)), "\n")
		for i, c := range cards {
			want := sim.Answer(704, c)
			if !strings.HasPrefix(lines[i+1], c+","+want.Result+","+want.Description+",") {
				t.Fatalf("row %d: %q, want answer %+v", i, lines[i+1], want)
			}
		}
	}
	if len(bodies) != 2*len(cards) {
		t.Fatalf("%d bodies, want %d", len(bodies), 2*len(cards))
	}
	for _, b := range bodies {
		if !bytes.Contains(b, []byte(`"encryption"`)) {
			t.Fatalf("a request went out without encryption: %.80s", b)
		}
		for _, c := range cards {
			if bytes.Contains(b, []byte(c)) {
				t.Fatalf("a clear card went over the wire")
			}
		}
	}
	// Usage errors: a key without the switch, the switch without a key.
	for _, args := range [][]string{{"--encryption-key", pubFile}, {"--encrypt-card"}, {"--encrypt-card", "--encryption-key", privFile}} {
		code, _, se := inproc(t, map[string]string{"ACEDATA_TOKEN": "t"}, nil,
			append([]string{"run", "--input", in, "--output", filepath.Join(dir, "x.csv"), "--endpoint", srv.URL}, args...)...)
		if code != exitUsage || !strings.Contains(se, "encrypt") {
			t.Fatalf("%v: exit %d\n%s", args, code, se)
		}
	}
	// --simulate --encrypt-card works out of the box.
	code, _, se := inproc(t, nil, nil, "run", "--simulate", "--encrypt-card", "--input", in, "--output",
		filepath.Join(dir, "sim.csv"), "--rate", "0", "--no-progress")
	if code != exitOK {
		t.Fatalf("--simulate --encrypt-card: exit %d\n%s", code, se)
	}
}
