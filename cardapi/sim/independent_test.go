package sim

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"strconv"
	"strings"
	"testing"
	"time"
)

// The expectations in this file come from shared/api/check-1e.md (the
// billing table, the error table), written out by hand.

func TestPathIsTheDocumentedOne(t *testing.T) {
	if Path != "/identity/bankcard/check-1e" {
		t.Fatalf("Path %q", Path)
	}
}

// TestBillingTableFromDocument drives one call per documented answer through
// an Override and checks the ledger's charge for each.
func TestBillingTableFromDocument(t *testing.T) {
	tests := []struct {
		name    string
		ov      Override
		charged bool
	}{
		{"0 query successful", Override{Result: "0"}, true},
		{"-1 no information found", Override{Result: "-1"}, true},
		{"-2 service busy", Override{Result: "-2"}, false},
		{"-3 card does not exist", Override{Result: "-3"}, false},
		{"-4 undocumented (daily limit)", Override{Result: "-4"}, true},
		{"-5 undocumented (invalid card)", Override{Result: "-5"}, true},
		{"-6 undocumented (type not supported)", Override{Result: "-6"}, true},
		{"7 undocumented", Override{Result: "7"}, true},
		{"result as a JSON number 0", Override{Body: `{"result":0,"description":"x"}`}, true},
		{"result as a JSON number -3", Override{Body: `{"result":-3,"description":"x"}`}, false},
		{"400 token_mismatched", Override{Status: 400, Code: "token_mismatched"}, false},
		{"401 invalid_token", Override{Status: 401}, false},
		{"403 used_up", Override{Status: 403}, false},
		{"404 no_api", Override{Status: 404}, false},
		{"429 too_many_requests", Override{Status: 429, RetryAfter: "1"}, false},
		{"500 api_error", Override{Status: 500}, false},
		{"502 html", Override{Status: 502, Body: "<html>bad gateway</html>"}, false},
		{"503 timeout", Override{Status: 503}, false},
		{"504 timeout", Override{Status: 504}, false},
		{"dropped before any answer", Override{Drop: true}, false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			ts := newTestServer(t, Config{Override: func(string) (Override, bool) { return tc.ov, true }})
			ts.check("", icbcCard)
			l := ts.sim.Ledger()
			want := int64(0)
			if tc.charged {
				want = 1
			}
			if l.Calls != 1 || l.Charged != want || int64(ts.sim.ChargedCount(icbcCard)) != want {
				t.Errorf("calls %d charged %d (card %d), want 1 call, %d charged", l.Calls, l.Charged, ts.sim.ChargedCount(icbcCard), want)
			}
		})
	}
}

// TestNotExistProb: the share of valid cards answered "-3", deterministic
// by seed and card, and free.
func TestNotExistProb(t *testing.T) {
	cards := GenerateCards(31, 1000)
	tests := []struct {
		name     string
		p        float64
		min, max int // "-3" answers among the 1000 valid cards
	}{
		{"off", 0, 0, 0},
		{"all", 1, 1000, 1000},
		{"a fifth", 0.2, 150, 250}, // binomial sd 12.6: ±4 sd
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			ts := newTestServer(t, Config{Seed: 7, NotExistProb: tc.p})
			var notExist, wantCharged int
			first := make(map[string]string, len(cards))
			for _, c := range cards {
				o := ts.check("tok", c)
				if o.err != nil || o.status != 200 {
					t.Fatalf("status %d err %v", o.status, o.err)
				}
				first[c] = o.answer.Result
				switch o.answer.Result {
				case "-3":
					notExist++
					if o.answer.Description != DescNotExist || o.answer.AccountBank != "" {
						t.Errorf("-3 answer %+v", o.answer)
					}
				case "0", "-1":
					wantCharged++
				default:
					t.Fatalf("result %q", o.answer.Result)
				}
			}
			if notExist < tc.min || notExist > tc.max {
				t.Errorf("%d cards answered -3, want %d..%d", notExist, tc.min, tc.max)
			}
			l := ts.sim.Ledger()
			if l.Charged != int64(wantCharged) || l.ByResult["-3"] != int64(notExist) {
				t.Errorf("ledger charged %d by_result %v; want charged %d, -3 %d", l.Charged, l.ByResult, wantCharged, notExist)
			}
			// The same cards on a second call, and on another server with the seed.
			again := newTestServer(t, Config{Seed: 7, NotExistProb: tc.p})
			for _, c := range cards[:200] {
				if r1, r2 := ts.check("tok", c).answer.Result, again.check("tok", c).answer.Result; r1 != first[c] || r2 != first[c] {
					t.Fatalf("answers %q then %q and %q on another server", first[c], r1, r2)
				}
			}
		})
	}
	t.Run("another seed picks other cards", func(t *testing.T) {
		a := newTestServer(t, Config{Seed: 7, NotExistProb: 0.5})
		b := newTestServer(t, Config{Seed: 8, NotExistProb: 0.5})
		differ := 0
		for _, c := range cards[:200] {
			if (a.check("", c).answer.Result == "-3") != (b.check("", c).answer.Result == "-3") {
				differ++
			}
		}
		if differ < 50 { // expected 100 (half of the cards), sd 7
			t.Errorf("only %d of 200 cards changed with the seed", differ)
		}
	})
	t.Run("Luhn-invalid stays -3 with the knob off", func(t *testing.T) {
		ts := newTestServer(t, Config{})
		bad := cards[0][:len(cards[0])-1] + strconv.Itoa((int(cards[0][len(cards[0])-1]-'0')+1)%10)
		if o := ts.check("", bad); o.answer.Result != "-3" || ts.sim.Ledger().Charged != 0 {
			t.Errorf("Luhn-invalid card: %+v, charged %d", o.answer, ts.sim.Ledger().Charged)
		}
	})
}

// TestChargeDrop: the upstream answers and charges, then the connection is
// closed; the client sees a transport error.
func TestChargeDrop(t *testing.T) {
	cards := GenerateCards(32, 40)
	ts := newTestServer(t, Config{Seed: 3, ChargeDropProb: 1})
	for _, c := range cards {
		if o := ts.check("", c); o.err == nil {
			t.Fatalf("got HTTP %d, want a dropped connection", o.status)
		}
	}
	ts.check("", cards[0]) // the same card again: charged twice
	l := ts.sim.Ledger()
	n := int64(len(cards) + 1)
	if l.Calls != n || l.Charged != n || l.ChargedDropped != n || l.ByStatus["charged_dropped"] != n ||
		l.Dropped != 0 || len(l.ByResult) != 0 || l.CardsChargedMoreThanOnce != 1 {
		t.Errorf("ledger %+v; want %d calls, all charged and dropped, no answer sent, one card charged twice", l, n)
	}
	if es := ts.sim.AnswersFor(cards[0]); len(es) != 2 || !es[0].Charged || !es[0].Dropped || es[0].Status != 0 {
		t.Errorf("card entries %+v", es)
	}

	t.Run("a free answer dropped is not charged", func(t *testing.T) {
		ts := newTestServer(t, Config{ChargeDropProb: 1, NotExistProb: 1})
		if o := ts.check("", cards[1]); o.err == nil {
			t.Fatalf("HTTP %d, want a drop", o.status)
		}
		if l := ts.sim.Ledger(); l.Charged != 0 || l.Dropped != 1 || l.ChargedDropped != 0 {
			t.Errorf("ledger %+v", l)
		}
	})
	t.Run("a share of calls", func(t *testing.T) {
		ts := newTestServer(t, Config{Seed: 4, ChargeDropProb: 0.25, NotExistProb: 0})
		cards := GenerateCards(33, 400)
		drops := 0
		for _, c := range cards {
			if o := ts.check("", c); o.err != nil {
				drops++
			}
		}
		l := ts.sim.Ledger()
		if drops < 60 || drops > 140 { // 100 expected, sd 8.7
			t.Errorf("%d drops of 400", drops)
		}
		if l.ChargedDropped != int64(drops) || l.Charged != 400 || l.ByResult["0"]+l.ByResult["-1"] != int64(400-drops) {
			t.Errorf("ledger %+v with %d drops", l, drops)
		}
	})
}

// TestBusiestSecondPerToken checks the exact sliding window per token, with
// a fake clock, and the token labels served over HTTP.
func TestBusiestSecondPerToken(t *testing.T) {
	base := time.Date(2026, 3, 4, 5, 6, 7, 0, time.UTC)
	now := base
	s := newServer(Config{}, func() time.Time { return now })
	label := func(tok string) string {
		sum := sha256.Sum256([]byte(tok))
		return "sha256:" + hex.EncodeToString(sum[:])[:12]
	}
	steps := []struct {
		at   time.Duration
		auth string
		n    int
	}{
		{0, "Bearer alpha", 10},
		{900 * time.Millisecond, "Bearer alpha", 5},   // alpha: 15 within a second
		{1000 * time.Millisecond, "Bearer beta", 12},  // beta 12; overall 15+12 at 0.9..1.0 = 17 (0 s is out)
		{1500 * time.Millisecond, "bearer alpha", 3},  // alpha: 5+3 = 8
		{1999 * time.Millisecond, "", 4},              // none: 4; overall (0.999, 1.999]: 12+3+4 = 19
		{2000 * time.Millisecond, "Bearer beta", 1},   // (1.0, 2.0]: 3+4+1 = 8
		{2100 * time.Millisecond, "Bearer gamma", 30}, // gamma 30; overall 3+4+1+30 = 38
	}
	for _, st := range steps {
		now = base.Add(st.at)
		for range st.n {
			s.arrive(st.auth)
		}
	}
	l := s.Ledger()
	want := map[string]int64{label("alpha"): 15, label("beta"): 12, label("gamma"): 30, "none": 4}
	if fmt.Sprint(l.MaxCallsPerSecondByToken) != fmt.Sprint(want) || l.MaxCallsPerSecond != 38 {
		t.Errorf("busiest second %d by token %v; want 38, %v", l.MaxCallsPerSecond, l.MaxCallsPerSecondByToken, want)
	}
	if !l.FirstCall.Equal(base) || !l.LastCall.Equal(base.Add(2100*time.Millisecond)) || l.Calls != 65 {
		t.Errorf("first %v last %v calls %d", l.FirstCall, l.LastCall, l.Calls)
	}

	t.Run("served as JSON without the token", func(t *testing.T) {
		ts := newTestServer(t, Config{})
		ts.check("secret-token-1", icbcCard)
		resp, err := ts.client.Get(ts.srv.URL + LedgerPath)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		var got struct {
			Calls   int64            `json:"calls"`
			ByToken map[string]int64 `json:"max_calls_per_second_by_token"`
			Max     int64            `json:"max_calls_per_second"`
			First   time.Time        `json:"first_call"`
			Last    time.Time        `json:"last_call"`
		}
		if err := json.Unmarshal(b, &got); err != nil {
			t.Fatal(err)
		}
		if got.Calls != 1 || got.Max != 1 || got.ByToken[label("secret-token-1")] != 1 || got.First.IsZero() || !got.Last.Equal(got.First) {
			t.Errorf("ledger %s", b)
		}
		if bytesContain(b, "secret-token-1") || bytesContain(b, icbcCard) {
			t.Errorf("the ledger shows the token or the card: %s", b)
		}
	})
}

func bytesContain(b []byte, s string) bool { return strings.Contains(string(b), s) }
