package pipeline_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"cardbatch/billing"
	"cardbatch/cache"
	"cardbatch/cardapi"
	"cardbatch/checkpoint"
	"cardbatch/internal/cardkey"
	"cardbatch/pipeline"
	"cardbatch/sinks"
	"cardbatch/sources"
)

// echoCaller is an API that echoes the card it was sent in its texts, each
// card in one spelling: the first call of a card is an HTTP 500 whose
// message holds it, the second an answer whose description and bank name
// hold it (and, for one card, a result code that is the card).
type echoCaller struct {
	spell func(card string) string
	mu    sync.Mutex
	calls map[string]int
}

func (c *echoCaller) Check(_ context.Context, card string) cardapi.Outcome {
	c.mu.Lock()
	c.calls[card]++
	n := c.calls[card]
	c.mu.Unlock()
	s := c.spell(card)
	if n == 1 {
		return cardapi.Outcome{Kind: cardapi.KindRetryable, HTTPStatus: 500, Billing: billing.Free, Sent: true,
			Code: "api_error", Message: "cannot check " + s, Excerpt: "card=" + s}
	}
	return cardapi.Outcome{Kind: cardapi.KindAnswer, HTTPStatus: 200, Billing: billing.Charged, Sent: true,
		Answer: cardapi.Answer{Result: "0", Description: "checked " + s, AccountBank: "Bank of " + s, AccountType: 1}}
}

// spellings of a card as a server might echo it.
var spellings = map[string]func(string) string{
	"spaced":     func(c string) string { return group(c, " ") },
	"dotted":     func(c string) string { return group(c, ".") },
	"full-width": fullWidth,
	"tab-split":  func(c string) string { return c[:8] + "\t" + c[8:] },
}

func group(card, sep string) string {
	var parts []string
	for i := 0; i < len(card); i += 4 {
		parts = append(parts, card[i:min(i+4, len(card))])
	}
	return strings.Join(parts, sep)
}

func fullWidth(card string) string {
	var b strings.Builder
	for _, r := range card {
		b.WriteRune('０' + (r - '0'))
	}
	return b.String()
}

// unspell folds full-width digits to ASCII and drops the separators the
// spellings use, so that a card echoed in any of them reads as its digits.
func unspell(b []byte) []byte {
	s := string(bytes.ToValidUTF8(b, []byte{0}))
	s = strings.Map(func(r rune) rune {
		switch {
		case r >= '０' && r <= '９':
			return '0' + (r - '０')
		case r == ' ' || r == '.' || r == '\t':
			return -1
		}
		return r
	}, s)
	return []byte(s)
}

// TestServerTextScrubbedBeforeStored: whatever spelling a server echoes the
// card in (in an error message, a description, a bank name), the
// checkpoint, the answer cache, the summary (by_bank) and the output with
// the card column masked hold no card; the answers still count (one charged
// call and one free 500 per card).
func TestServerTextScrubbedBeforeStored(t *testing.T) {
	for name, spell := range spellings {
		t.Run(name, func(t *testing.T) {
			dir := t.TempDir()
			fx := writeCSV(t, dir, 40, 5)
			cards := distinct(fx.cards)
			caller := &echoCaller{spell: spell, calls: map[string]int{}}
			out := filepath.Join(dir, "out.csv")
			cachePath := filepath.Join(dir, "cache", "answers.db")
			res := runMasked(t, fx.path, out, cachePath, caller)
			if res.Outcome != pipeline.Finished {
				t.Fatalf("outcome %s, want finished", res.Outcome)
			}
			if res.Summary.ChargedCalls != int64(len(cards)) || res.Summary.FreeCalls != int64(len(cards)) {
				t.Errorf("charged %d free %d, want %d each", res.Summary.ChargedCalls, res.Summary.FreeCalls, len(cards))
			}
			sum, err := json.Marshal(res.Summary)
			if err != nil {
				t.Fatal(err)
			}
			if len(res.Summary.ByBank) == 0 {
				t.Fatalf("no by_bank in %s", sum)
			}
			files := map[string][]byte{"summary": sum}
			for _, p := range []string{out, out + ".checkpoint.db", out + ".checkpoint.db-wal", cachePath, cachePath + "-wal"} {
				if b, err := os.ReadFile(p); err == nil {
					files[filepath.Base(p)] = b
				}
			}
			for what, b := range files {
				flat := unspell(b)
				for c := range cards {
					if bytes.Contains(flat, []byte(c)) {
						t.Errorf("%s holds card %s…", what, c[:6])
					}
				}
			}
			if !bytes.Contains(files["summary"], []byte("Bank of ")) {
				t.Errorf("by_bank lost the bank names: %s", sum)
			}
		})
	}
}

// runMasked runs the pipeline over input with caller, the card column
// masked in the output and the answer cache at cachePath.
func runMasked(t *testing.T, input, out, cachePath string, caller cardapi.Caller) *pipeline.Result {
	t.Helper()
	ctx := context.Background()
	t.Setenv(cardkey.KeyEnv, "")
	store, err := checkpoint.Open(ctx, out+".checkpoint.db")
	if err != nil {
		t.Fatal(err)
	}
	defer store.Close()
	key, err := cardkey.LoadKey(checkpoint.KeyPath(out+".checkpoint.db"), true)
	if err != nil {
		t.Fatal(err)
	}
	answers, err := cache.Open(ctx, cachePath)
	if err != nil {
		t.Fatal(err)
	}
	defer answers.Close()
	tmp := t.TempDir()
	src, err := sources.Open(ctx, sources.Options{Path: input, TmpDir: tmp})
	if err != nil {
		t.Fatal(err)
	}
	defer src.Close()
	res, err := pipeline.Run(ctx, pipeline.Config{
		InputPath: input, Source: src, OutputPath: out, Store: store, Key: key, Caller: caller,
		CreateSink: func() (pipeline.Sink, error) {
			return sinks.Create(sinks.Options{Path: out, Header: src.Header(), CardColumn: src.CardColumn(), TmpDir: tmp, MaskCard: true})
		},
		Settings: map[string]string{"endpoint": "echo"}, Concurrency: 4, Retries: 3,
		RetryBase: time.Millisecond, RetryMax: time.Millisecond, MaxCharged: -1, MaskOutput: true,
		Cache: answers, CacheTTL: time.Hour, CacheNamespace: "echo",
	})
	if err != nil {
		t.Fatal(fmt.Errorf("run: %w", err))
	}
	return res
}
