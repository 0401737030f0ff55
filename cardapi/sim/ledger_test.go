package sim

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"maps"
	"math"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"cardbatch/cardapi"
)

// TestDeterministic: with a fixed seed, two simulators give the same
// answers to the same 2,000 cards (faults included, whatever the order and
// concurrency), and a fault-free simulator serves exactly Answer().
func TestDeterministic(t *testing.T) {
	cards := GenerateCards(2024, 2000)
	for i := 0; i < len(cards); i += 10 { // some invalid cards too
		cards[i] = breakLuhn(cards[i])
	}
	faulty := Config{Seed: 99, BusyProb: 0.1, ServerErrorProb: 0.05, BadGatewayProb: 0.05,
		RateLimitedProb: 0.05, UnknownResultProb: 0.05, DropProb: 0.02, SlowProb: 0.5}

	type seen struct {
		status int
		body   string
		err    bool
	}
	run := func(cfg Config, workers int, reverse bool, cards []string) []seen {
		ts := newTestServer(t, cfg)
		out := make([]seen, len(cards))
		idx := make(chan int)
		var wg sync.WaitGroup
		for range workers {
			wg.Go(func() {
				for i := range idx {
					// Two calls per card: the second call's faults are drawn
					// from the card's call count.
					for k := range 2 {
						o := ts.check("", cards[i])
						if k == 1 {
							out[i] = seen{status: o.status, body: string(o.body), err: o.err != nil}
						}
					}
				}
			})
		}
		for j := range cards {
			i := j
			if reverse {
				i = len(cards) - 1 - j
			}
			idx <- i
		}
		close(idx)
		wg.Wait()
		return out
	}

	a := run(faulty, 1, false, cards)
	b := run(faulty, 16, true, cards)
	diff := 0
	for i := range a {
		if a[i] != b[i] {
			diff++
			if diff < 5 {
				t.Errorf("card %d: run 1 %+v, run 2 %+v", i, a[i], b[i])
			}
		}
	}
	if diff > 0 {
		t.Errorf("%d of %d cards answered differently with the same seed", diff, len(cards))
	}
	faults := 0
	for _, x := range a {
		if x.err || x.status != 200 || strings.Contains(x.body, `"result":"-2"`) {
			faults++
		}
	}
	if faults < 200 {
		t.Errorf("only %d faulty answers of %d: the faults were not exercised", faults, len(a))
	}
	faulty.Seed = 100
	c := run(faulty, 16, false, cards[:300])
	same := 0
	for i := range c {
		if a[i] == c[i] {
			same++
		}
	}
	if same == len(c) {
		t.Error("another seed gave the very same run")
	}

	t.Run("Answer agrees with the handler", func(t *testing.T) {
		ts := newTestServer(t, Config{Seed: 99})
		counts := map[string]int{}
		for _, card := range cards {
			o := ts.check("", card)
			if o.status != 200 {
				t.Fatalf("status %d", o.status)
			}
			want := Answer(99, card)
			if o.answer != want {
				t.Fatalf("served %+v, Answer() %+v", o.answer, want)
			}
			wantBody, _ := json.Marshal(want)
			if string(o.body) != string(wantBody) {
				t.Fatalf("served body %s, want %s", o.body, wantBody)
			}
			counts[o.answer.Result]++
		}
		if counts["0"] < 1500 || counts["-3"] != 200 || counts["-1"] == 0 {
			t.Errorf("results %v: want mostly 0, 200 × -3, some -1", counts)
		}
	})
}

// TestFaultRates: over 10,000 calls, each fault is hit with its configured
// probability, within 3 standard deviations.
func TestFaultRates(t *testing.T) {
	const n, p = 10000, 0.05
	ts := newTestServer(t, Config{Seed: 7, BusyProb: p, RateLimitedProb: p, ServerErrorProb: p,
		BadGatewayProb: p, DropProb: p, UnknownResultProb: p})
	cards := GenerateCards(8, n)
	var mu sync.Mutex
	counts := map[string]int{}
	idx := make(chan int)
	var wg sync.WaitGroup
	for range 32 {
		wg.Go(func() {
			for i := range idx {
				o := ts.check("", cards[i])
				k := "other"
				switch {
				case o.err != nil:
					k = "drop"
				case o.status == 200 && o.answer.Result == "-2":
					k = "busy"
				case o.status == 200 && o.answer.Result == "-5":
					k = "unknown"
				case o.status == 429:
					k = "429"
				case o.status == 500:
					k = "500"
				case o.status == 502 || o.status == 503:
					k = "502/503"
				}
				mu.Lock()
				counts[k]++
				mu.Unlock()
			}
		})
	}
	for i := range n {
		idx <- i
	}
	close(idx)
	wg.Wait()
	sd := math.Sqrt(n * p * (1 - p))
	for _, k := range []string{"busy", "429", "500", "502/503", "drop", "unknown"} {
		if d := math.Abs(float64(counts[k]) - n*p); d > 3*sd {
			t.Errorf("%s: %d of %d, want %v ± %.0f", k, counts[k], n, n*p, 3*sd)
		}
	}
	if got := counts["other"]; math.Abs(float64(got)-n*0.7) > 3*math.Sqrt(n*0.7*0.3) {
		t.Errorf("clean answers: %d of %d, want about 70%%", got, n)
	}
	l := ts.sim.Ledger()
	if l.Dropped != int64(counts["drop"]) || l.ByResult["-2"] != int64(counts["busy"]) || l.ByStatus["429"] != int64(counts["429"]) {
		t.Errorf("ledger %+v disagrees with %v", l, counts)
	}
}

// TestLedgerMatchesClients: 64 concurrent plain net/http clients, with
// every kind of fault, wrong tokens, bad bodies, repeated cards and a rate
// limit: the ledger equals what the clients received, exactly.
func TestLedgerMatchesClients(t *testing.T) {
	const clients, perClient = 64, 100
	ts := newTestServer(t, Config{Seed: 3, Token: "T", BusyProb: 0.05, RateLimitedProb: 0.03,
		ServerErrorProb: 0.03, BadGatewayProb: 0.03, DropProb: 0.03, UnknownResultProb: 0.03,
		RateLimit: 3000, RateBurst: 40})
	pool := GenerateCards(4, 2500)
	for i := 0; i < len(pool); i += 25 {
		pool[i] = breakLuhn(pool[i])
	}

	type tally struct {
		calls     int64
		byStatus  map[string]int64
		byResult  map[string]int64
		charged   int64
		perCard   map[string]int // requests with a card
		chargedBy map[string]int
	}
	newTally := func() *tally {
		return &tally{byStatus: map[string]int64{}, byResult: map[string]int64{}, perCard: map[string]int{}, chargedBy: map[string]int{}}
	}
	tallies := make([]*tally, clients)
	var wg sync.WaitGroup
	for c := range clients {
		tl := newTally()
		tallies[c] = tl
		wg.Go(func() {
			for i := range perClient {
				card := pool[(c*perClient+i*37)%len(pool)]
				token, body := "T", cardBody(card)
				switch {
				case i%50 == 7:
					token = "wrong"
				case i%40 == 3:
					body = `{"bank_card": 622202`
					card = ""
				}
				o := ts.do(context.Background(), http.MethodPost, cardapi.Path, token, body)
				tl.calls++
				tl.byStatus[o.key()]++
				if o.err == nil && o.status == 200 {
					tl.byResult[o.answer.Result]++
				}
				if card != "" {
					tl.perCard[card]++
				}
				if o.charged() {
					tl.charged++
					tl.chargedBy[card]++
				}
			}
		})
	}
	wg.Wait()

	want := newTally()
	for _, tl := range tallies {
		want.calls += tl.calls
		want.charged += tl.charged
		for k, v := range tl.byStatus {
			want.byStatus[k] += v
		}
		for k, v := range tl.byResult {
			want.byResult[k] += v
		}
		for k, v := range tl.perCard {
			want.perCard[k] += v
		}
		for k, v := range tl.chargedBy {
			want.chargedBy[k] += v
		}
	}
	multi := 0
	for _, v := range want.chargedBy {
		if v > 1 {
			multi++
		}
	}

	l := ts.sim.Ledger()
	if l.Calls != want.calls {
		t.Errorf("calls: ledger %d, clients %d", l.Calls, want.calls)
	}
	if l.Charged != want.charged {
		t.Errorf("charged: ledger %d, clients %d", l.Charged, want.charged)
	}
	if !maps.Equal(l.ByStatus, want.byStatus) {
		t.Errorf("by_status: ledger %v, clients %v", l.ByStatus, want.byStatus)
	}
	if !maps.Equal(l.ByResult, want.byResult) {
		t.Errorf("by_result: ledger %v, clients %v", l.ByResult, want.byResult)
	}
	if l.Dropped != want.byStatus["dropped"] || l.Abandoned != 0 {
		t.Errorf("dropped %d abandoned %d, clients saw %d transport errors", l.Dropped, l.Abandoned, want.byStatus["dropped"])
	}
	if l.DistinctCards != len(want.perCard) {
		t.Errorf("distinct cards: ledger %d, clients %d", l.DistinctCards, len(want.perCard))
	}
	if l.CardsChargedMoreThanOnce != multi {
		t.Errorf("cards charged more than once: ledger %d, clients %d", l.CardsChargedMoreThanOnce, multi)
	}
	for card, n := range want.perCard {
		if got := len(ts.sim.AnswersFor(card)); got != n {
			t.Fatalf("%s: %d answers recorded, %d requests sent", maskForTest(card), got, n)
		}
		if got := ts.sim.ChargedCount(card); got != want.chargedBy[card] {
			t.Fatalf("%s: charged %d, clients saw %d", maskForTest(card), got, want.chargedBy[card])
		}
	}
	// Every kind of answer happened.
	for _, k := range []string{"200", "400", "401", "429", "500", "dropped"} {
		if want.byStatus[k] == 0 {
			t.Errorf("no %s in the run: %v", k, want.byStatus)
		}
	}
	if want.byStatus["502"]+want.byStatus["503"] == 0 || want.byResult["-2"] == 0 || want.byResult["-5"] == 0 || want.byResult["-3"] == 0 {
		t.Errorf("a fault kind is missing: %v %v", want.byStatus, want.byResult)
	}
}

func maskForTest(card string) string {
	if len(card) < 10 {
		return "****"
	}
	return card[:6] + strings.Repeat("*", len(card)-10) + card[len(card)-4:]
}

// TestRateLimit: at 100/s for about 2 s, about 100/s + burst calls are
// accepted, the rest get 429 too_many_requests with Retry-After: 1.
func TestRateLimit(t *testing.T) {
	if testing.Short() {
		t.Skip("takes 2 s")
	}
	const limit, burst = 100, 10
	ts := newTestServer(t, Config{RateLimit: limit, RateBurst: burst})
	var mu sync.Mutex
	ok, limited, other := 0, 0, 0
	start := time.Now()
	deadline := start.Add(2 * time.Second)
	var wg sync.WaitGroup
	for w := range 8 {
		wg.Go(func() {
			for i := 0; time.Now().Before(deadline); i++ {
				o := ts.check("", cardWithPrefix("622848", 19, uint64(w*100000+i)))
				mu.Lock()
				switch {
				case o.status == 200:
					ok++
				case o.status == 429 && o.header.Get("Retry-After") == "1" && o.errBody.Error.Code == "too_many_requests":
					limited++
				default:
					other++
				}
				mu.Unlock()
			}
		})
	}
	wg.Wait()
	elapsed := time.Since(start).Seconds()
	maxOK := int(limit*elapsed) + burst + 5
	minOK := int(limit * 2 * 0.8)
	if ok > maxOK || ok < minOK {
		t.Errorf("%d calls accepted in %.2fs, want between %d and %d", ok, elapsed, minOK, maxOK)
	}
	if limited == 0 || other != 0 {
		t.Errorf("%d limited, %d other answers", limited, other)
	}
	l := ts.sim.Ledger()
	if l.ByStatus["429"] != int64(limited) || l.Charged != int64(ok) {
		t.Errorf("ledger %+v", l)
	}
	t.Logf("%d accepted, %d limited in %.2fs", ok, limited, elapsed)

	t.Run("one bucket per token", func(t *testing.T) {
		ts := newTestServer(t, Config{RateLimit: 0.001, RateBurst: 3})
		for _, tok := range []string{"a", "b", ""} {
			for i := range 5 {
				o := ts.check(tok, icbcCard)
				want := 200
				if i >= 3 {
					want = 429
				}
				if o.status != want {
					t.Errorf("token %q call %d: %d, want %d", tok, i, o.status, want)
				}
			}
		}
	})
}

func TestMaxCallsPerSecond(t *testing.T) {
	t.Run("sliding window, fake clock", func(t *testing.T) {
		base := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
		now := base
		s := newServer(Config{}, func() time.Time { return now })
		at := func(sec float64, n int) {
			now = base.Add(time.Duration(sec * float64(time.Second)))
			for range n {
				s.arrive("")
			}
		}
		steps := []struct {
			sec  float64
			n    int
			want int64
		}{
			{0, 50, 50},
			{0.5, 50, 100},    // same second
			{1.2, 30, 100},    // 0.5 s and 1.2 s are less than 1 s apart: 80
			{3.0, 60, 100},    // alone
			{3.995, 60, 120},  // 60 + 60 within one second
			{5.0, 70, 120},    // 3.995 + 1.005 s: not together
			{6.0, 70, 120},    // exactly one second after 5.0: not together
			{6.001, 100, 170}, // 70 + 100
		}
		for _, st := range steps {
			at(st.sec, st.n)
			if got := s.Ledger().MaxCallsPerSecond; got != st.want {
				t.Fatalf("after %d calls at %.3fs: max %d, want %d", st.n, st.sec, got, st.want)
			}
		}
		l := s.Ledger()
		if !l.FirstCall.Equal(base) || !l.LastCall.Equal(now) || l.Calls != 490 {
			t.Errorf("first %v last %v calls %d", l.FirstCall, l.LastCall, l.Calls)
		}
	})

	t.Run("a real burst", func(t *testing.T) {
		ts := newTestServer(t, Config{})
		const n = 300
		start := time.Now()
		var wg sync.WaitGroup
		for w := range 30 {
			wg.Go(func() {
				for i := range n / 30 {
					ts.check("", cardWithPrefix("622848", 19, uint64(w*1000+i)))
				}
			})
		}
		wg.Wait()
		elapsed := time.Since(start)
		got := ts.sim.Ledger().MaxCallsPerSecond
		if got > n {
			t.Fatalf("max %d > calls %d", got, n)
		}
		if elapsed < 900*time.Millisecond && got != n {
			t.Errorf("%d calls in %v, max calls per second %d", n, elapsed, got)
		}
		if lower := int64(float64(n) / math.Ceil(elapsed.Seconds()+0.01)); got < lower {
			t.Errorf("max %d, want at least %d (%d calls in %v)", got, lower, n, elapsed)
		}
	})
}

func TestLatency(t *testing.T) {
	t.Run("cancelled during the latency: abandoned, not charged", func(t *testing.T) {
		ts := newTestServer(t, Config{Latency: 3 * time.Second})
		ctx, cancel := context.WithTimeout(context.Background(), 100*time.Millisecond)
		defer cancel()
		o := ts.do(ctx, http.MethodPost, cardapi.Path, "", cardBody(icbcCard))
		if o.err == nil || !errors.Is(o.err, context.DeadlineExceeded) {
			t.Fatalf("got %d %v, want a deadline error", o.status, o.err)
		}
		deadline := time.Now().Add(2 * time.Second)
		for ts.sim.Ledger().Abandoned == 0 && time.Now().Before(deadline) {
			time.Sleep(5 * time.Millisecond)
		}
		l := ts.sim.Ledger()
		if l.Abandoned != 1 || l.ByStatus["abandoned"] != 1 || l.Charged != 0 || l.Calls != 1 || len(l.ByResult) != 0 {
			t.Fatalf("ledger %+v", l)
		}
		if got := ts.sim.AnswersFor(icbcCard); len(got) != 1 || !got[0].Abandoned || got[0].Charged || got[0].Status != 0 {
			t.Errorf("AnswersFor = %+v", got)
		}
		if n := ts.sim.ChargedCount(icbcCard); n != 0 {
			t.Errorf("ChargedCount = %d", n)
		}
	})

	t.Run("latency is applied to upstream answers only", func(t *testing.T) {
		const lat = 60 * time.Millisecond
		tests := []struct {
			name string
			cfg  Config
			slow bool
		}{
			{"mean latency", Config{Latency: lat}, true},
			{"slow tail", Config{SlowProb: 1, SlowLatency: lat}, true},
			{"override delay", Config{Override: func(string) (Override, bool) { return Override{Delay: lat}, true }}, true},
			{"faults wait too", Config{Latency: lat, ServerErrorProb: 1}, true},
			{"gateway rejections are immediate", Config{Latency: 10 * time.Second, Token: "T"}, false},
		}
		for _, tc := range tests {
			t.Run(tc.name, func(t *testing.T) {
				ts := newTestServer(t, tc.cfg)
				start := time.Now()
				o := ts.check("", icbcCard)
				took := time.Since(start)
				if o.err != nil {
					t.Fatal(o.err)
				}
				if tc.slow && took < lat-5*time.Millisecond {
					t.Errorf("took %v, want at least %v", took, lat)
				}
				if !tc.slow && took > 5*time.Second {
					t.Errorf("a 401 took %v", took)
				}
			})
		}
	})

	t.Run("jitter stays within bounds", func(t *testing.T) {
		s := New(Config{Latency: 100 * time.Millisecond, LatencyJitter: 30 * time.Millisecond, SlowProb: 0.1, SlowLatency: time.Second})
		slow := 0
		for i := range 2000 {
			d := cardDraws(uint64(i), 0)
			l := s.latency(&d, 0)
			switch {
			case l >= 970*time.Millisecond && l <= 1030*time.Millisecond:
				slow++
			case l < 70*time.Millisecond || l > 130*time.Millisecond:
				t.Fatalf("latency %v out of bounds", l)
			}
		}
		if slow < 140 || slow > 260 {
			t.Errorf("%d slow calls of 2000, want about 200", slow)
		}
	})
}

func TestLedgerEndpoint(t *testing.T) {
	ts := newTestServer(t, Config{BusyProb: 0.3, Seed: 1})
	cards := GenerateCards(5, 50)
	for _, c := range cards {
		ts.check("", c)
	}
	resp, err := ts.client.Get(ts.srv.URL + LedgerPath)
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 200 || !strings.HasPrefix(resp.Header.Get("Content-Type"), "application/json") {
		t.Fatalf("%d %s", resp.StatusCode, resp.Header.Get("Content-Type"))
	}
	var m map[string]json.RawMessage
	if err := json.Unmarshal(body, &m); err != nil {
		t.Fatal(err)
	}
	for _, k := range []string{"calls", "charged", "by_result", "by_status", "dropped", "abandoned", "distinct_cards",
		"cards_charged_more_than_once", "max_calls_per_second", "first_call", "last_call"} {
		if _, ok := m[k]; !ok {
			t.Errorf("key %q missing from %s", k, body)
		}
	}
	var got Ledger
	if err := json.Unmarshal(body, &got); err != nil {
		t.Fatal(err)
	}
	want := ts.sim.Ledger()
	if got.Calls != 50 || got.Calls != want.Calls || got.Charged != want.Charged || !maps.Equal(got.ByResult, want.ByResult) ||
		!maps.Equal(got.ByStatus, want.ByStatus) || !got.LastCall.Equal(want.LastCall) {
		t.Errorf("served %+v, Ledger() %+v", got, want)
	}
	for _, c := range cards {
		if strings.Contains(string(body), c) || strings.Contains(string(body), c[:12]) {
			t.Fatal("the ledger shows a card number")
		}
	}
	resp, err = ts.client.Post(ts.srv.URL+LedgerPath, "application/json", strings.NewReader("{}"))
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 405 {
		t.Errorf("POST ledger: %d", resp.StatusCode)
	}
	// An empty ledger has empty maps, not null, and no times.
	empty, _ := json.Marshal(New(Config{}).Ledger())
	if !strings.Contains(string(empty), `"by_result":{}`) || strings.Contains(string(empty), "first_call") {
		t.Errorf("empty ledger %s", empty)
	}
}
