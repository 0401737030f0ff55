// Command soak kills `cardbatch run` with SIGKILL at random moments, many
// times over, against `cardbatch simulate` with faults (busy answers, 429s,
// 500s, dropped connections, calls charged whose answer is lost), resuming
// each time, and checks at the end that:
//
//   - the output equals that of an uninterrupted run over the same input
//     against the same simulator (answered_at blanked: it is a time);
//   - the provider charged no less than the summary says, and no more than
//     the summary's charged calls plus its in_doubt;
//   - no card was charged more often than in_doubt allows.
//
// It prints its figures and exits 1 when a check fails. Run it with
// `make soak` (from the module's root); it is not part of `make test`.
package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/csv"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"time"
)

func main() {
	var o options
	flag.IntVar(&o.kills, "kills", 100, "SIGKILLs to land")
	flag.IntVar(&o.rows, "rows", 6000, "input rows")
	flag.Uint64Var(&o.seed, "seed", 1, "seed of the input, the kill times and the simulator")
	flag.DurationVar(&o.minKill, "min-kill", 200*time.Millisecond, "shortest life of a run before its kill")
	flag.DurationVar(&o.maxKill, "max-kill", 1200*time.Millisecond, "longest life of a run before its kill")
	flag.StringVar(&o.faults, "faults", "--busy-prob 0.05 --429-prob 0.03 --500-prob 0.03 --drop-prob 0.03 --charge-drop-prob 0.03 --latency 5ms",
		"the simulator's fault flags")
	flag.StringVar(&o.runFlags, "run-flags", "--rate 50 --concurrency 16 --retries 10 --retry-base 50ms --timeout 5s",
		"flags of every cardbatch run")
	flag.Parse()
	if err := soak(o); err != nil {
		fmt.Fprintln(os.Stderr, "soak:", err)
		os.Exit(1)
	}
}

type options struct {
	kills            int
	rows             int
	seed             uint64
	minKill, maxKill time.Duration
	faults, runFlags string
}

// soak builds cardbatch, runs the reference and the killed runs side by
// side against two simulators of the same seed, and checks the results.
func soak(o options) error {
	start := time.Now()
	dir, err := os.MkdirTemp("", "cardbatch-soak-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(dir)
	bin := filepath.Join(dir, "cardbatch")
	if out, err := exec.Command("go", "build", "-o", bin, ".").CombinedOutput(); err != nil {
		return fmt.Errorf("build cardbatch (run from the module's root): %v\n%s", err, out)
	}
	input := filepath.Join(dir, "in.csv")
	if err := writeInput(input, o.rows, o.seed); err != nil {
		return err
	}
	env := &runEnv{bin: bin, dir: dir, input: input, flags: strings.Fields(o.runFlags)}
	refSim, err := startSim(bin, o)
	if err != nil {
		return err
	}
	defer refSim.stop()
	killSim, err := startSim(bin, o)
	if err != nil {
		return err
	}
	defer killSim.stop()
	refDone := make(chan error, 1)
	go func() { refDone <- env.runToEnd(refSim.url, filepath.Join(dir, "ref", "out.csv")) }()
	k, err := env.killLoop(killSim.url, filepath.Join(dir, "killed", "out.csv"), o)
	if err != nil {
		return err
	}
	if err := <-refDone; err != nil {
		return fmt.Errorf("uninterrupted run: %w", err)
	}
	return report(dir, killSim, k, time.Since(start))
}

// kills is what the kill loop did.
type kills struct {
	landed, runs, missed int
}

// killLoop runs the same command until kills have landed (a run that ends
// before its kill is counted as missed), then once more to its end.
func (e *runEnv) killLoop(url, out string, o options) (kills, error) {
	var k kills
	rng := rand.New(rand.NewPCG(o.seed, 0x50a4))
	if err := os.MkdirAll(filepath.Dir(out), 0o700); err != nil {
		return k, err
	}
	for k.landed < o.kills {
		life := o.minKill + time.Duration(rng.Int64N(int64(o.maxKill-o.minKill)+1))
		landed, code, err := e.runKilled(url, out, life)
		if err != nil {
			return k, err
		}
		k.runs++
		switch {
		case landed:
			k.landed++
		case code == 0:
			k.missed++
			fmt.Printf("the run finished before kill %d: the input is too small for %d kills (raise -rows)\n", k.landed+1, o.kills)
			return k, nil
		default:
			return k, fmt.Errorf("run %d exited %d before its kill", k.runs, code)
		}
		if k.landed%10 == 0 {
			fmt.Printf("%d kills landed (%s)\n", k.landed, time.Now().Format("15:04:05"))
		}
	}
	k.runs++
	return k, e.runToEnd(url, out)
}

// runEnv runs cardbatch.
type runEnv struct {
	bin, dir, input string
	flags           []string
}

func (e *runEnv) command(ctx context.Context, url, out string) *exec.Cmd {
	args := append([]string{"run", "--input", e.input, "--output", out, "--endpoint", url, "--no-progress", "--no-cache"}, e.flags...)
	cmd := exec.CommandContext(ctx, e.bin, args...)
	cmd.Env = []string{"PATH=" + os.Getenv("PATH"), "HOME=" + e.dir, "ACEDATA_TOKEN=soak-token-0123456789"}
	return cmd
}

// runKilled runs the command and kills it (SIGKILL) after life. landed
// reports whether it was still running then; code is its exit code when not.
func (e *runEnv) runKilled(url, out string, life time.Duration) (landed bool, code int, err error) {
	cmd := e.command(context.Background(), url, out)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	if err := cmd.Start(); err != nil {
		return false, 0, err
	}
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	select {
	case err := <-done:
		if cmd.ProcessState == nil {
			return false, 0, err
		}
		if c := cmd.ProcessState.ExitCode(); c != 0 {
			return false, c, fmt.Errorf("exit %d:\n%s", c, stderr.String())
		}
		return false, 0, nil
	case <-time.After(life):
	}
	_ = cmd.Process.Kill() // SIGKILL
	<-done
	return true, 0, nil
}

// runToEnd runs the command to its end and wants exit 0.
func (e *runEnv) runToEnd(url, out string) error {
	if err := os.MkdirAll(filepath.Dir(out), 0o700); err != nil {
		return err
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
	defer cancel()
	cmd := e.command(ctx, url, out)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	if err := cmd.Run(); err != nil {
		return fmt.Errorf("%v:\n%s", err, stderr.String())
	}
	return nil
}

// report compares the outputs and the bills, prints the figures, and
// returns an error when a check fails.
func report(dir string, s *simProc, k kills, took time.Duration) error {
	same, diff, err := sameOutput(filepath.Join(dir, "ref", "out.csv"), filepath.Join(dir, "killed", "out.csv"))
	if err != nil {
		return err
	}
	var sum summary
	if err := readJSON(filepath.Join(dir, "killed", "out.csv.summary.json"), &sum); err != nil {
		return err
	}
	l, err := s.ledger()
	if err != nil {
		return err
	}
	extra := l.Charged - sum.ChargedCalls
	fmt.Printf("kills landed:           %d (runs %d, missed %d)\n", k.landed, k.runs, k.missed)
	fmt.Printf("rows:                   %d\n", sum.Rows)
	fmt.Printf("ledger:                 %d calls, %d charged, %d charged answers lost, %d cards charged more than once\n",
		l.Calls, l.Charged, l.ChargedDropped, l.ChargedTwice)
	fmt.Printf("summary:                %d calls, %d charged, in_doubt %d\n", sum.APICalls, sum.ChargedCalls, sum.InDoubt)
	fmt.Printf("extra charges:          %d (ledger charged - summary charged; must be 0..in_doubt)\n", extra)
	fmt.Printf("output equals an uninterrupted run's: %v\n", same)
	fmt.Printf("took:                   %s\n", took.Round(time.Second))
	var errs []error
	if !same {
		errs = append(errs, fmt.Errorf("the output differs from the uninterrupted run's: %s", diff))
	}
	if extra < 0 || extra > sum.InDoubt {
		errs = append(errs, fmt.Errorf("extra charges %d outside 0..in_doubt %d", extra, sum.InDoubt))
	}
	if l.ChargedTwice > sum.InDoubt {
		errs = append(errs, fmt.Errorf("%d cards charged more than once, in_doubt only %d", l.ChargedTwice, sum.InDoubt))
	}
	if k.landed == 0 {
		errs = append(errs, errors.New("no kill landed"))
	}
	return errors.Join(errs...)
}

// sameOutput compares two CSV outputs cell by cell, answered_at blanked.
func sameOutput(a, b string) (bool, string, error) {
	ra, err := readCSV(a)
	if err != nil {
		return false, "", err
	}
	rb, err := readCSV(b)
	if err != nil {
		return false, "", err
	}
	if len(ra) != len(rb) {
		return false, fmt.Sprintf("%d rows, want %d", len(rb), len(ra)), nil
	}
	at := -1
	for i, h := range ra[0] {
		if h == "answered_at" {
			at = i
		}
	}
	for i := range ra {
		if at >= 0 && i > 0 && len(ra[i]) > at && len(rb[i]) > at {
			ra[i][at], rb[i][at] = "", ""
		}
		if strings.Join(ra[i], "\x00") != strings.Join(rb[i], "\x00") {
			return false, fmt.Sprintf("line %d: %q, want %q", i+1, mask(rb[i]), mask(ra[i])), nil
		}
	}
	return true, "", nil
}

var digits = regexp.MustCompile(`[0-9]{7,}`)

// mask hides the card numbers of a row shown in a message.
func mask(row []string) []string {
	out := make([]string, len(row))
	for i, c := range row {
		out[i] = digits.ReplaceAllStringFunc(c, func(d string) string { return d[:6] + strings.Repeat("*", len(d)-6) })
	}
	return out
}

func readCSV(path string) ([][]string, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	return csv.NewReader(bytes.NewReader(bytes.TrimPrefix(b, []byte("\xef\xbb\xbf")))).ReadAll()
}

func readJSON(path string, v any) error {
	b, err := os.ReadFile(path)
	if err != nil {
		return err
	}
	return json.Unmarshal(b, v)
}

type summary struct {
	Rows         int64 `json:"rows"`
	APICalls     int64 `json:"api_calls"`
	ChargedCalls int64 `json:"charged_calls"`
	InDoubt      int64 `json:"in_doubt"`
}

type ledger struct {
	Calls          int64 `json:"calls"`
	Charged        int64 `json:"charged"`
	ChargedDropped int64 `json:"charged_dropped"`
	ChargedTwice   int64 `json:"cards_charged_more_than_once"`
}

// simProc is a running `cardbatch simulate`.
type simProc struct {
	cmd *exec.Cmd
	url string
}

var listening = regexp.MustCompile(`listening on (http://127\.0\.0\.1:[0-9]+)`)

func startSim(bin string, o options) (*simProc, error) {
	args := append([]string{"simulate", "--addr", "127.0.0.1:0", "--seed", fmt.Sprint(o.seed)}, strings.Fields(o.faults)...)
	cmd := exec.Command(bin, args...)
	pr, err := cmd.StderrPipe()
	if err != nil {
		return nil, err
	}
	if err := cmd.Start(); err != nil {
		return nil, err
	}
	sc := bufio.NewScanner(pr)
	for sc.Scan() {
		if m := listening.FindStringSubmatch(sc.Text()); m != nil {
			go func() { _, _ = io.Copy(io.Discard, pr) }()
			return &simProc{cmd: cmd, url: m[1]}, nil
		}
	}
	_ = cmd.Process.Kill()
	_ = cmd.Wait()
	return nil, errors.New("the simulator exited without listening")
}

func (s *simProc) ledger() (ledger, error) {
	var l ledger
	resp, err := http.Get(s.url + "/_sim/ledger")
	if err != nil {
		return l, err
	}
	defer resp.Body.Close()
	return l, json.NewDecoder(resp.Body).Decode(&l)
}

func (s *simProc) stop() {
	_ = s.cmd.Process.Signal(os.Interrupt)
	_ = s.cmd.Wait()
}

// writeInput writes rows of "name,card": Luhn-valid cards of real issuer
// prefixes, about 10% repeating an earlier row's card and 3% invalid.
func writeInput(path string, rows int, seed uint64) error {
	rng := rand.New(rand.NewPCG(seed, 0xca4d))
	prefixes := []string{"622202", "622588", "625330", "621700", "628841", "439225"}
	var b strings.Builder
	b.WriteString("name,card\n")
	var cards []string
	for i := range rows {
		var c string
		switch r := rng.IntN(100); {
		case r < 10 && len(cards) > 0:
			c = cards[rng.IntN(len(cards))]
		case r < 13:
			c = "12345"
		default:
			body := []byte(prefixes[rng.IntN(len(prefixes))])
			for len(body) < 15 {
				body = append(body, byte('0'+rng.IntN(10)))
			}
			c = string(body) + string(luhnDigit(string(body)))
			cards = append(cards, c)
		}
		fmt.Fprintf(&b, "row%d,%s\n", i+1, c)
	}
	return os.WriteFile(path, []byte(b.String()), 0o600)
}

func luhnDigit(body string) byte {
	sum := 0
	for i := len(body) - 1; i >= 0; i-- {
		d := int(body[i] - '0')
		if (len(body)-1-i)%2 == 0 {
			if d *= 2; d > 9 {
				d -= 9
			}
		}
		sum += d
	}
	return byte('0' + (10-sum%10)%10)
}
