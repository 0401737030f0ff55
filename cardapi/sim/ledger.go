package sim

import (
	"encoding/json"
	"net/http"
	"strconv"
	"time"
)

// Ledger is the simulator's account of what it answered and charged: the
// figures a run's billing summary must reconcile with. Once no call is in
// flight, the values of ByStatus add up to Calls, Charged is the number of
// answers with a charged (or undocumented) result code, and ByResult counts
// every HTTP 200 answer by result code.
type Ledger struct {
	// Calls counts every request to the check-1e path: answered, dropped,
	// abandoned, rejected (401, 403, 405, 429, 400) alike.
	Calls int64 `json:"calls"`
	// Charged counts answers whose result code is billed: "0", "-1" and
	// undocumented codes such as "-5".
	Charged int64 `json:"charged"`
	// ByResult counts HTTP 200 answers by result code.
	ByResult map[string]int64 `json:"by_result"`
	// ByStatus counts calls by HTTP status ("200", "429", ...), plus
	// "dropped" (connection closed without an answer) and "abandoned"
	// (the client went away during the latency; nothing was sent).
	ByStatus map[string]int64 `json:"by_status"`
	// Dropped and Abandoned repeat ByStatus["dropped"] and ["abandoned"].
	// Neither is charged.
	Dropped   int64 `json:"dropped"`
	Abandoned int64 `json:"abandoned"`
	// DistinctCards counts the distinct bank_card values received.
	DistinctCards int `json:"distinct_cards"`
	// CardsChargedMoreThanOnce counts the cards charged two times or more:
	// what a client that pays once per card keeps at zero.
	CardsChargedMoreThanOnce int `json:"cards_charged_more_than_once"`
	// MaxCallsPerSecond is the largest number of calls received within one
	// second, measured over a sliding window of 100 buckets of 10 ms: it
	// never counts calls more than a second apart together, and it may miss
	// at most the calls of one 10 ms bucket at the window's edge.
	MaxCallsPerSecond int64 `json:"max_calls_per_second"`
	// FirstCall and LastCall are the arrival times of the first and the
	// latest call (zero before any call).
	FirstCall time.Time `json:"first_call,omitzero"`
	LastCall  time.Time `json:"last_call,omitzero"`
}

// LedgerEntry is one answer a card got, in the order the simulator gave
// them (AnswersFor).
type LedgerEntry struct {
	Status    int    `json:"status"`           // HTTP status; 0 when dropped or abandoned
	Result    string `json:"result,omitempty"` // result code of an HTTP 200 answer
	Code      string `json:"code,omitempty"`   // error code of a JSON error answer
	Charged   bool   `json:"charged"`
	Dropped   bool   `json:"dropped,omitempty"`
	Abandoned bool   `json:"abandoned,omitempty"`
}

// window counts calls in 100 buckets of 10 ms.
type window struct {
	buckets [100]int64
	tick    int64 // tick of the newest bucket
	total   int64 // calls in the window
	max     int64
}

const tickLen = 10 * time.Millisecond

func (w *window) add(tick int64) {
	switch {
	case tick <= w.tick:
		// Same bucket, or a clock read that lost a race: count it in the
		// newest bucket.
	case tick-w.tick >= int64(len(w.buckets)):
		w.buckets = [len(w.buckets)]int64{}
		w.total = 0
		w.tick = tick
	default:
		for t := w.tick + 1; t <= tick; t++ {
			i := t % int64(len(w.buckets))
			w.total -= w.buckets[i]
			w.buckets[i] = 0
		}
		w.tick = tick
	}
	w.buckets[w.tick%int64(len(w.buckets))]++
	w.total++
	w.max = max(w.max, w.total)
}

// arrive counts a call and returns its number (from 1).
func (s *Server) arrive() int64 {
	s.mu.Lock()
	now := s.clock()
	s.calls++
	n := s.calls
	if n == 1 {
		s.first = now
	}
	s.last = now
	s.win.add(int64(now.Sub(s.epoch) / tickLen))
	s.mu.Unlock()
	return n
}

// commit books rp (turning a charged answer into 403 used_up once the
// balance is exhausted) before it is written, so that a client never sees
// an answer the ledger does not hold. c is the call's card, if any.
func (s *Server) commit(c *callCard, rp *reply) {
	s.mu.Lock()
	if rp.charged {
		if n := s.cfg.UsedUpAfterCharged; n > 0 && s.charged.Load() >= int64(n) {
			*rp = usedUpReply()
		} else {
			s.charged.Add(1)
		}
	}
	if rp.drop {
		s.dropped++
	} else {
		s.byStatus[rp.status]++
		if rp.status == http.StatusOK && rp.result != "" {
			s.byResult[rp.result]++
		}
	}
	s.mu.Unlock()
	if c == nil {
		return
	}
	e := entry{status: uint16(rp.status)}
	switch {
	case rp.drop:
		e.status, e.flags = 0, flagDropped
	case rp.status == http.StatusOK:
		e.result = s.intern(rp.result)
	case !rp.html && rp.body == nil:
		e.code = s.intern(rp.code)
	}
	if rp.charged {
		e.flags |= flagCharged
	}
	s.recordCard(c.card, c.h, e)
}

// commitAbandoned books a call whose client went away during the latency.
func (s *Server) commitAbandoned(c *callCard) {
	s.mu.Lock()
	s.abandoned++
	s.mu.Unlock()
	if c != nil {
		s.recordCard(c.card, c.h, entry{flags: flagAbandoned})
	}
}

// Ledger returns a snapshot of the ledger; the maps are copies.
func (s *Server) Ledger() Ledger {
	s.mu.Lock()
	l := Ledger{
		Calls:             s.calls,
		Charged:           s.charged.Load(),
		ByResult:          make(map[string]int64, len(s.byResult)),
		ByStatus:          make(map[string]int64, len(s.byStatus)+2),
		Dropped:           s.dropped,
		Abandoned:         s.abandoned,
		MaxCallsPerSecond: s.win.max,
		FirstCall:         s.first,
		LastCall:          s.last,
	}
	for k, v := range s.byResult {
		l.ByResult[k] = v
	}
	for k, v := range s.byStatus {
		l.ByStatus[strconv.Itoa(k)] = v
	}
	s.mu.Unlock()
	if l.Dropped > 0 {
		l.ByStatus["dropped"] = l.Dropped
	}
	if l.Abandoned > 0 {
		l.ByStatus["abandoned"] = l.Abandoned
	}
	l.DistinctCards = int(s.distinct.Load())
	l.CardsChargedMoreThanOnce = int(s.multi.Load())
	return l
}

func (s *Server) serveLedger(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodGet && r.Method != http.MethodHead {
		w.Header().Set("Allow", "GET, HEAD")
		http.Error(w, "method not allowed", http.StatusMethodNotAllowed)
		return
	}
	b, err := json.MarshalIndent(s.Ledger(), "", "  ")
	if err != nil {
		http.Error(w, err.Error(), http.StatusInternalServerError)
		return
	}
	b = append(b, '\n')
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-store")
	_, _ = w.Write(b)
}
