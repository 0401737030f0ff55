package sim

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"net/http"
	"strconv"
	"strings"
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
	// Charged counts the calls billed by the provider's table
	// (check-1e.md): answers with result "0", "-1" or an undocumented code
	// such as "-5", including those whose connection was then dropped
	// (ChargedDropped). "-2", "-3" and HTTP errors are free.
	Charged int64 `json:"charged"`
	// ByResult counts HTTP 200 answers sent, by result code (a charged
	// answer whose connection was dropped was never sent: it is in
	// ChargedDropped only).
	ByResult map[string]int64 `json:"by_result"`
	// ByStatus counts calls by HTTP status ("200", "429", ...), plus
	// "dropped" (connection closed without an answer, not charged),
	// "charged_dropped" (charged, then the connection closed before the
	// answer) and "abandoned" (the client went away during the latency;
	// nothing was sent).
	ByStatus map[string]int64 `json:"by_status"`
	// Dropped and Abandoned repeat ByStatus["dropped"] and ["abandoned"].
	// Neither is charged.
	Dropped   int64 `json:"dropped"`
	Abandoned int64 `json:"abandoned"`
	// ChargedDropped repeats ByStatus["charged_dropped"]: calls charged
	// whose answer the client never got (Config.ChargeDropProb).
	ChargedDropped int64 `json:"charged_dropped"`
	// DistinctCards counts the distinct bank_card values received.
	DistinctCards int `json:"distinct_cards"`
	// CardsChargedMoreThanOnce counts the distinct cards charged two times
	// or more: what a client that pays once per card keeps at zero. (The
	// simulator files cards under keyed digests; it never holds a card.)
	CardsChargedMoreThanOnce int `json:"cards_charged_more_than_once"`
	// MaxCallsPerSecond is the busiest second of arrivals: the largest
	// number of calls to the check-1e path that arrived within any
	// half-open interval of one second (an exact sliding window over the
	// arrival times). A client limited to R calls per second with a bucket
	// of B keeps it at most R + B.
	MaxCallsPerSecond int64 `json:"max_calls_per_second"`
	// MaxCallsPerSecondByToken is MaxCallsPerSecond per bearer token, keyed
	// "sha256:" + the first 12 hex digits of the SHA-256 of the token
	// ("none" for calls without one): the token itself is never served.
	MaxCallsPerSecondByToken map[string]int64 `json:"max_calls_per_second_by_token"`
	// FirstCall and LastCall are the arrival times of the first and the
	// latest call (zero before any call): Calls / (LastCall - FirstCall)
	// is the achieved rate.
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

// window finds the busiest second of a sequence of arrival times: it keeps
// the arrivals of the last second (a queue) and the largest number ever held
// at once, i.e. the most arrivals within any half-open interval of one
// second. Exact, and its memory is bounded by the calls of one second.
type window struct {
	times []time.Duration // arrivals within the last second, oldest first, from head
	head  int
	max   int64
}

func (w *window) add(t time.Duration) {
	if n := len(w.times); n > w.head && t < w.times[n-1] {
		t = w.times[n-1] // a clock that stepped back: keep the queue ordered
	}
	for w.head < len(w.times) && w.times[w.head] <= t-time.Second {
		w.head++
	}
	if w.head == len(w.times) {
		w.times, w.head = w.times[:0], 0
	} else if w.head >= 1024 && w.head*2 >= len(w.times) {
		n := copy(w.times, w.times[w.head:])
		w.times, w.head = w.times[:n], 0
	}
	w.times = append(w.times, t)
	w.max = max(w.max, int64(len(w.times)-w.head))
}

// tokenWindow is the busiest-second window of one token.
type tokenWindow struct {
	label string
	win   window
}

// tokenLabel names a token in the ledger without revealing it: "none" for a
// call without a bearer token, else "sha256:" and the first 12 hex digits
// of the SHA-256 of the token.
func tokenLabel(tok string) string {
	if tok == "" {
		return "none"
	}
	sum := sha256.Sum256([]byte(tok))
	return "sha256:" + hex.EncodeToString(sum[:6])
}

// tokenWin returns the window of tok; s.mu is held. Beyond maxTokens
// tokens, further tokens share the window labelled "other".
func (s *Server) tokenWin(tok string) *window {
	if tw, ok := s.tokWins[tok]; ok {
		return &tw.win
	}
	label := tokenLabel(tok)
	if len(s.tokWins) >= maxTokens {
		tok, label = "\x00other", "other"
		if tw, ok := s.tokWins[tok]; ok {
			return &tw.win
		}
	}
	tw := &tokenWindow{label: label}
	s.tokWins[strings.Clone(tok)] = tw
	return &tw.win
}

// arrive counts a call and returns its number (from 1); auth is the call's
// authorization header.
func (s *Server) arrive(auth string) int64 {
	tok, _ := bearer(auth)
	s.mu.Lock()
	now := s.clock()
	s.calls++
	n := s.calls
	if n == 1 {
		s.first = now
	}
	s.last = now
	t := now.Sub(s.epoch)
	s.win.add(t)
	s.tokenWin(tok).add(t)
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
	switch {
	case rp.drop && rp.charged:
		s.chargedDropped++
	case rp.drop:
		s.dropped++
	default:
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
	s.recordCard(c.k, e)
}

// commitAbandoned books a call whose client went away during the latency.
func (s *Server) commitAbandoned(c *callCard) {
	s.mu.Lock()
	s.abandoned++
	s.mu.Unlock()
	if c != nil {
		s.recordCard(c.k, entry{flags: flagAbandoned})
	}
}

// Ledger returns a snapshot of the ledger; the maps are copies.
func (s *Server) Ledger() Ledger {
	s.mu.Lock()
	l := Ledger{
		Calls:                    s.calls,
		Charged:                  s.charged.Load(),
		ByResult:                 make(map[string]int64, len(s.byResult)),
		ByStatus:                 make(map[string]int64, len(s.byStatus)+2),
		Dropped:                  s.dropped,
		Abandoned:                s.abandoned,
		ChargedDropped:           s.chargedDropped,
		MaxCallsPerSecond:        s.win.max,
		MaxCallsPerSecondByToken: make(map[string]int64, len(s.tokWins)),
		FirstCall:                s.first,
		LastCall:                 s.last,
	}
	for k, v := range s.byResult {
		l.ByResult[k] = v
	}
	for k, v := range s.byStatus {
		l.ByStatus[strconv.Itoa(k)] = v
	}
	for _, tw := range s.tokWins {
		l.MaxCallsPerSecondByToken[tw.label] = tw.win.max
	}
	s.mu.Unlock()
	if l.ChargedDropped > 0 {
		l.ByStatus["charged_dropped"] = l.ChargedDropped
	}
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
