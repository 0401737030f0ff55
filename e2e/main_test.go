// Package e2e holds black-box tests of the cardbatch binary: each test runs
// `cardbatch simulate` and `cardbatch run` as child processes, as a user
// would, and checks the product's guarantees against the simulator's ledger
// (read over HTTP) and the files the run leaves. Nothing here imports the
// product's packages: expected values come from the API document
// (shared/api/check-1e.md), the CLI contract (shared/cli.md) and the
// simulator's ledger.
package e2e

import (
	"bufio"
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/csv"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"
)

// bin is the cardbatch binary built by TestMain (with -race).
var bin string

func TestMain(m *testing.M) {
	os.Exit(buildAndRun(m))
}

func buildAndRun(m *testing.M) int {
	dir, err := os.MkdirTemp("", "cardbatch-e2e-")
	if err != nil {
		fmt.Fprintln(os.Stderr, "e2e:", err)
		return 1
	}
	defer os.RemoveAll(dir)
	bin = filepath.Join(dir, "cardbatch")
	build := exec.Command("go", "build", "-race", "-o", bin, "cardbatch")
	build.Dir = ".."
	build.Stdout, build.Stderr = os.Stderr, os.Stderr
	if err := build.Run(); err != nil {
		fmt.Fprintln(os.Stderr, "e2e: building cardbatch with -race:", err)
		return 1
	}
	return m.Run()
}

// token is the API token every run gets in ACEDATA_TOKEN.
const token = "e2e-token-3f9c2a"

// tokenLabel is how the simulator's ledger names token (see the ledger's
// max_calls_per_second_by_token): the first 12 hex digits of its SHA-256.
func tokenLabel() string {
	sum := sha256.Sum256([]byte(token))
	return "sha256:" + hex.EncodeToString(sum[:6])
}

// procTimeout bounds every child process so that a hang fails the test
// instead of the whole suite.
const procTimeout = 2 * time.Minute

// sim is a running `cardbatch simulate`.
type sim struct {
	url    string
	cmd    *exec.Cmd
	stderr *lockedBuffer
}

type lockedBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *lockedBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *lockedBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

var listenLine = regexp.MustCompile(`listening on (http://127\.0\.0\.1:[0-9]+)`)

// startSim starts `cardbatch simulate` on a free loopback port (the kernel
// picks it: --addr 127.0.0.1:0; the simulator logs the address it got) with
// the given flags, and stops it when the test ends.
func startSim(t *testing.T, flags ...string) *sim {
	t.Helper()
	args := append([]string{"simulate", "--addr", "127.0.0.1:0"}, flags...)
	cmd := exec.Command(bin, args...)
	pr, err := cmd.StderrPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatalf("start simulator: %v", err)
	}
	s := &sim{cmd: cmd, stderr: &lockedBuffer{}}
	t.Cleanup(func() {
		_ = cmd.Process.Signal(os.Interrupt)
		done := make(chan struct{})
		go func() { _ = cmd.Wait(); close(done) }()
		select {
		case <-done:
		case <-time.After(10 * time.Second):
			_ = cmd.Process.Kill()
			<-done
		}
	})
	found := make(chan string, 1)
	go func() {
		sc := bufio.NewScanner(pr)
		sent := false
		for sc.Scan() {
			line := sc.Text()
			fmt.Fprintln(s.stderr, line)
			if m := listenLine.FindStringSubmatch(line); m != nil && !sent {
				found <- m[1]
				sent = true
			}
		}
		if !sent {
			close(found)
		}
	}()
	select {
	case u, ok := <-found:
		if !ok {
			t.Fatalf("simulator exited without listening: %s", s.stderr)
		}
		s.url = u
	case <-time.After(30 * time.Second):
		t.Fatalf("simulator did not report its address: %s", s.stderr)
	}
	return s
}

// ledger is the simulator's GET /_sim/ledger.
type ledger struct {
	Calls          int64            `json:"calls"`
	Charged        int64            `json:"charged"`
	ByResult       map[string]int64 `json:"by_result"`
	ByStatus       map[string]int64 `json:"by_status"`
	Dropped        int64            `json:"dropped"`
	ChargedDropped int64            `json:"charged_dropped"`
	DistinctCards  int64            `json:"distinct_cards"`
	ChargedTwice   int64            `json:"cards_charged_more_than_once"`
	MaxPerSecond   int64            `json:"max_calls_per_second"`
	MaxByToken     map[string]int64 `json:"max_calls_per_second_by_token"`
	FirstCall      time.Time        `json:"first_call"`
	LastCall       time.Time        `json:"last_call"`
}

func (s *sim) ledger(t *testing.T) ledger {
	t.Helper()
	resp, err := http.Get(s.url + "/_sim/ledger")
	if err != nil {
		t.Fatalf("read the ledger: %v", err)
	}
	defer resp.Body.Close()
	var l ledger
	if err := json.NewDecoder(resp.Body).Decode(&l); err != nil {
		t.Fatalf("decode the ledger: %v", err)
	}
	return l
}

// summary is the run's billing summary (shared/cli.md).
type summary struct {
	Rows         int64            `json:"rows"`
	APICalls     int64            `json:"api_calls"`
	ChargedCalls int64            `json:"charged_calls"`
	FreeCalls    int64            `json:"free_calls"`
	ByResult     map[string]int64 `json:"by_result"`
	Invalid      int64            `json:"invalid"`
	Duplicates   int64            `json:"duplicates"`
	Failed       int64            `json:"failed"`
	InDoubt      int64            `json:"in_doubt"`
	CacheHits    int64            `json:"cache_hits"`
	Skipped      int64            `json:"skipped"`
}

func readSummary(t *testing.T, path string) summary {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("read the summary: %v", err)
	}
	var s summary
	if err := json.Unmarshal(b, &s); err != nil {
		t.Fatalf("decode the summary %s: %v", b, err)
	}
	return s
}

// result is a finished (or killed) `cardbatch run`.
type result struct {
	code           int // exit code; -1 when killed by a signal
	stdout, stderr string
}

// cli builds the command line of a child cardbatch in dir, with the token
// in its environment and its user folders inside dir.
func cli(ctx context.Context, dir string, args ...string) *exec.Cmd {
	cmd := exec.CommandContext(ctx, bin, args...)
	cmd.Dir = dir
	cmd.Env = []string{
		"PATH=" + os.Getenv("PATH"),
		"HOME=" + dir,
		"XDG_CACHE_HOME=" + filepath.Join(dir, "xdg-cache"),
		"ACEDATA_TOKEN=" + token,
	}
	return cmd
}

// run runs cardbatch to its end.
func run(t *testing.T, dir string, args ...string) result {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), procTimeout)
	defer cancel()
	cmd := cli(ctx, dir, args...)
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	err := cmd.Run()
	if err != nil && cmd.ProcessState == nil {
		t.Fatalf("cardbatch %s: %v", strings.Join(args, " "), err)
	}
	if ctx.Err() != nil {
		t.Fatalf("cardbatch %s did not finish within %v; stderr:\n%s", strings.Join(args, " "), procTimeout, errb.String())
	}
	return result{code: cmd.ProcessState.ExitCode(), stdout: out.String(), stderr: errb.String()}
}

// runArgs are the flags of a quick run against s.
func runArgs(s *sim, in, out string, extra ...string) []string {
	return append([]string{"run", "--input", in, "--output", out, "--endpoint", s.url,
		"--no-progress", "--retry-base", "50ms", "--timeout", "10s"}, extra...)
}

// table is a CSV output: its header and rows.
type table struct {
	header []string
	rows   [][]string
}

func readTable(t *testing.T, path string) table {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatalf("open the output: %v", err)
	}
	defer f.Close()
	b, err := io.ReadAll(f)
	if err != nil {
		t.Fatal(err)
	}
	b = bytes.TrimPrefix(b, []byte("\xef\xbb\xbf"))
	recs, err := csv.NewReader(bytes.NewReader(b)).ReadAll()
	if err != nil || len(recs) == 0 {
		t.Fatalf("read the output %s: %v", path, err)
	}
	return table{header: recs[0], rows: recs[1:]}
}

func (tb table) col(t *testing.T, name string) int {
	t.Helper()
	for i, h := range tb.header {
		if h == name {
			return i
		}
	}
	t.Fatalf("output has no column %q: %v", name, tb.header)
	return -1
}

// count returns how many rows have each value of the named column.
func (tb table) count(t *testing.T, name string) map[string]int64 {
	i := tb.col(t, name)
	m := map[string]int64{}
	for _, r := range tb.rows {
		m[r[i]]++
	}
	return m
}

// Cards. The tests make their own card numbers (independently of the
// product's card code): real issuer prefixes, random digits, the Luhn check
// digit.

var prefixes = []struct {
	bin    string
	length int
}{{"622202", 19}, {"622588", 16}, {"625330", 16}, {"621700", 19}, {"628841", 16}, {"439225", 16}}

func luhnDigit(body string) byte {
	sum := 0
	for i := len(body) - 1; i >= 0; i-- {
		d := int(body[i] - '0')
		if (len(body)-1-i)%2 == 0 {
			d *= 2
			if d > 9 {
				d -= 9
			}
		}
		sum += d
	}
	return byte('0' + (10-sum%10)%10)
}

// makeCards returns n distinct Luhn-valid cards, a pure function of seed.
func makeCards(seed uint64, n int) []string {
	rng := rand.New(rand.NewPCG(seed, 0xe2e))
	seen := map[string]bool{}
	var out []string
	for len(out) < n {
		p := prefixes[rng.IntN(len(prefixes))]
		b := []byte(p.bin)
		for len(b) < p.length-1 {
			b = append(b, byte('0'+rng.IntN(10)))
		}
		c := string(append(b, luhnDigit(string(b))))
		if !seen[c] {
			seen[c] = true
			out = append(out, c)
		}
	}
	return out
}

// breakLuhn changes the check digit: the card fails the Luhn check.
func breakLuhn(card string) string {
	last := card[len(card)-1]
	return card[:len(card)-1] + string('0'+(last-'0'+1)%10)
}

// writeCSV writes a "name,card" CSV input and returns its path.
func writeCSV(t *testing.T, dir string, cards []string) string {
	t.Helper()
	var b strings.Builder
	b.WriteString("name,card\n")
	for i, c := range cards {
		fmt.Fprintf(&b, "row%d,%s\n", i+1, c)
	}
	p := filepath.Join(dir, "in.csv")
	if err := os.WriteFile(p, []byte(b.String()), 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}
