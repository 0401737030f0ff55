package e2e

import (
	"bytes"
	"fmt"
	"io/fs"
	"math/rand/v2"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"
)

// Guarantee: a card number never appears whole in what a run writes or
// prints, in any spelling (shared/cli.md: spaces, dashes and dots removed,
// full-width digits made ASCII).

// spell writes card in one of the spellings users have.
func spell(card string, how int) string {
	group := func(sep string) string {
		var parts []string
		for i := 0; i < len(card); i += 4 {
			parts = append(parts, card[i:min(i+4, len(card))])
		}
		return strings.Join(parts, sep)
	}
	switch how % 5 {
	case 1:
		return group(" ")
	case 2:
		return group("-")
	case 3:
		return group(".")
	case 4:
		var b strings.Builder
		for _, r := range card {
			b.WriteRune('０' + (r - '0')) // full-width digit
		}
		return b.String()
	}
	return card
}

var escapedFull = regexp.MustCompile(`\\u[fF][fF]1[0-9]`) // a full-width digit, JSON-escaped

// normalise folds full-width digits (U+FF10..U+FF19, raw UTF-8 or
// JSON-escaped) to ASCII and removes separators (space, tab, dot, dash,
// U+3000, U+FF0D, U+FF0E), so that a card written in any spelling reads as
// its digits. It works on bytes: binary files are searched too.
func normalise(b []byte) []byte {
	b = escapedFull.ReplaceAllFunc(b, func(m []byte) []byte { return []byte{m[len(m)-1]} })
	out := make([]byte, 0, len(b))
	for i := 0; i < len(b); i++ {
		c := b[i]
		switch {
		case c == ' ' || c == '\t' || c == '.' || c == '-':
			continue
		case c == 0xef && i+2 < len(b) && b[i+1] == 0xbc && b[i+2] >= 0x90 && b[i+2] <= 0x99:
			out = append(out, '0'+b[i+2]-0x90)
			i += 2
			continue
		case c == 0xef && i+2 < len(b) && b[i+1] == 0xbc && (b[i+2] == 0x8d || b[i+2] == 0x8e):
			i += 2
			continue
		case c == 0xe3 && i+2 < len(b) && b[i+1] == 0x80 && b[i+2] == 0x80:
			i += 2
			continue
		}
		out = append(out, c)
	}
	return out
}

// leaks returns the places (name: card index) where a card shows up.
func leaks(cards []string, haystacks map[string][]byte) []string {
	var found []string
	for name, h := range haystacks {
		n := normalise(h)
		for i, c := range cards {
			if bytes.Contains(n, []byte(c)) {
				found = append(found, fmt.Sprintf("%s: card #%d", name, i+1))
			}
		}
	}
	return found
}

// filesOf reads every file under dir except the input.
func filesOf(t *testing.T, dir, input string) map[string][]byte {
	t.Helper()
	out := map[string][]byte{}
	err := filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() || p == input {
			return err
		}
		b, err := os.ReadFile(p)
		if err != nil {
			return err
		}
		out[strings.TrimPrefix(p, dir+string(filepath.Separator))] = b
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return out
}

// leakInput writes an input whose cards are spelled in every way, with
// Luhn-invalid cards and repeats in another spelling; it returns the path
// and the digits of every card in it.
func leakInput(t *testing.T, dir string, seed uint64) (string, []string) {
	valid := makeCards(seed, 60)
	var cells, digits []string
	for i, c := range valid {
		cells = append(cells, spell(c, i))
		digits = append(digits, c)
	}
	for i := 0; i < 10; i++ {
		bad := breakLuhn(valid[i])
		cells = append(cells, spell(bad, i+2))
		digits = append(digits, bad)
		cells = append(cells, spell(valid[i], i+1)) // a repeat
	}
	in := writeCSV(t, dir, cells)
	b, err := os.ReadFile(in)
	if err != nil {
		t.Fatal(err)
	}
	// The search must be able to fail: it finds every card in the input.
	if got := leaks(digits, map[string][]byte{"input": b}); len(got) != len(digits) {
		t.Fatalf("the leak search finds %d of the %d cards in the input itself", len(got), len(digits))
	}
	return in, digits
}

var leakSimFlags = []string{"--seed", "51", "--busy-prob", "0.1", "--500-prob", "0.05", "--502-prob", "0.05",
	"--drop-prob", "0.05", "--charge-drop-prob", "0.05", "--unknown-prob", "0.02", "--latency", "5ms"}

func TestNoCardLeaks(t *testing.T) {
	t.Parallel()
	for _, format := range []string{"text", "json"} {
		t.Run("log format "+format, func(t *testing.T) {
			t.Parallel()
			dir := t.TempDir()
			s := startSim(t, leakSimFlags...)
			in, cards := leakInput(t, dir, 9)
			out := filepath.Join(dir, "out.csv")
			r := run(t, dir, runArgs(s, in, out, "--rate", "0", "--concurrency", "4", "--retries", "8",
				"--mask-output", "--no-luhn", "--log-format", format, "--cache", filepath.Join(dir, "answers.db"))...)
			if r.code != 0 {
				t.Fatalf("exit %d; stderr:\n%s", r.code, r.stderr)
			}
			// A second run from the cache, and a status of the checkpoint.
			r2 := run(t, dir, runArgs(s, in, filepath.Join(dir, "again.csv"), "--rate", "0", "--mask-output", "--no-luhn",
				"--log-format", format, "--cache", filepath.Join(dir, "answers.db"))...)
			st := run(t, dir, "status", "--checkpoint", out+".checkpoint.db")
			hay := filesOf(t, dir, in)
			if _, ok := hay["out.csv.summary.json"]; !ok || len(hay) < 5 {
				t.Fatalf("files left by the run: %d, no summary", len(hay))
			}
			hay["stdout"], hay["stderr"] = []byte(r.stdout), []byte(r.stderr)
			hay["stdout (cached run)"], hay["stderr (cached run)"] = []byte(r2.stdout), []byte(r2.stderr)
			hay["stdout (status)"], hay["stderr (status)"] = []byte(st.stdout), []byte(st.stderr)
			for _, l := range leaks(cards, hay) {
				t.Errorf("card leaked: %s", l)
			}
		})
	}
	t.Run("after SIGKILL", func(t *testing.T) {
		t.Parallel()
		rng := rand.New(rand.NewPCG(uint64(time.Now().UnixNano()), 9))
		for try := 1; try <= 20; try++ {
			dir := t.TempDir()
			s := startSim(t, append(leakSimFlags, "--latency", "20ms")...)
			in, cards := leakInput(t, dir, 10)
			out := filepath.Join(dir, "out.csv")
			k := killMidRun(t, s, dir, 0, rng, 300*time.Millisecond, runArgs(s, in, out, "--rate", "0", "--concurrency", "4",
				"--mask-output", "--no-luhn", "--cache", filepath.Join(dir, "answers.db"))...)
			if !k.landed {
				continue
			}
			hay := filesOf(t, dir, in)
			hay["stdout"], hay["stderr"] = []byte(k.stdout), []byte(k.stderr)
			for _, l := range leaks(cards, hay) {
				t.Errorf("card leaked after SIGKILL: %s", l)
			}
			t.Logf("try %d: killed after %d calls; files %d", try, s.ledger(t).Calls, len(hay)-2)
			return
		}
		t.Fatal("20 tries and no kill landed mid-run")
	})
}
