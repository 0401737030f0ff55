// Package sim is an in-process simulator of the upstream check-1e API
// (POST /identity/bankcard/check-1e, see shared/api/check-1e.md): an
// http.Handler that answers like the provider, misbehaves on demand (latency,
// busy answers, 429, 5xx, nginx HTML pages, dropped connections, a per-token
// rate limit, revoked tokens, an exhausted balance) and keeps a ledger of
// what it answered and charged, so that tests can reconcile a run call by
// call. Given the RSA private key (Config.DecryptionKey), it accepts the
// API's field encryption (AES-256-CBC) and answers an encrypted card exactly
// as the clear one.
//
// Determinism: the clean answer for a card is a pure function of (Seed,
// card) (see Answer). The fault draws, latency and trace id of a call are a
// pure function of (Seed, card, n) where n counts the earlier calls for the
// same card; so a fixed seed gives the same answers for the same sequence of
// calls per card, whatever the order and concurrency across cards. Only the
// rate limiter, FailAuthAfter and UsedUpAfterCharged depend on timing and
// arrival order, as they do upstream.
//
// Order of the checks inside a call: method; body (read, not yet judged);
// FailAuthAfter and the token (401 invalid_token); the balance (403
// used_up); the per-token rate limit (429 too_many_requests); the body (400
// bad_request); then the "upstream" part: Override, or one fault draw
// (dropped connection, 429, 500, 502/503, busy "-2", undocumented "-5"),
// else the real answer. Latency applies to the upstream part only: the
// gateway's own rejections (401, 403, 405, 429 from the limiter, 400) come
// back at once.
//
// A wrong method on the API path gets 405 with "Allow: POST" and an error
// body in the provider's form (code "method_not_allowed"): a gateway that
// routes by path answers this way (net/http's own pattern mux does too),
// and it tells a client author exactly what is wrong; 404 no_api is kept for
// unknown paths.
package sim

import (
	"bytes"
	"context"
	"crypto/rsa"
	"crypto/subtle"
	"encoding/json"
	"io"
	"math"
	"math/rand/v2"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"
	"unicode/utf8"

	"golang.org/x/time/rate"
)

// LedgerPath is where the simulator serves its ledger (GET, JSON).
const LedgerPath = "/_sim/ledger"

// Error forms (Config.ErrorForm).
const (
	ErrorFormPlain   = "plain"   // {"error":{...},"trace_id":...}
	ErrorFormSuccess = "success" // the same with "success": false first
)

// Config says how the simulator behaves. The zero Config is a healthy, fast
// simulator that accepts any token (or none), with seed 0.
//
// The fault probabilities (DropProb, RateLimitedProb, ServerErrorProb,
// BadGatewayProb, BusyProb, UnknownResultProb, ChargeDropProb) are exclusive slices of one
// uniform draw per call, in that order, so each is hit with exactly its own
// probability as long as they add up to at most 1 (Validate checks it).
type Config struct {
	// Token, when set, is required as "authorization: Bearer <Token>";
	// anything else gets 401 invalid_token. When empty, any token or none
	// is accepted.
	Token string
	// Seed fixes the answers and every fault draw.
	Seed int64

	// Latency is the mean delay before an upstream answer;
	// LatencyJitter spreads it uniformly over ±LatencyJitter.
	Latency, LatencyJitter time.Duration
	// SlowProb is the probability that a call takes SlowLatency (±
	// LatencyJitter) instead of Latency: the slow tail.
	SlowProb    float64
	SlowLatency time.Duration

	// DropProb: the connection is closed without an answer (hijacked and
	// closed; HTTP/2 streams are reset). Not charged.
	DropProb float64
	// RateLimitedProb: a sporadic HTTP 429 too_many_requests with
	// "Retry-After: 1", below any rate limit.
	RateLimitedProb float64
	// ServerErrorProb: HTTP 500 api_error.
	ServerErrorProb float64
	// BadGatewayProb: HTTP 502 or 503 (half each); half of them an
	// nginx-style HTML page, half a JSON error with code "timeout".
	BadGatewayProb float64
	// BusyProb: HTTP 200 result "-2" "Verification center service busy" (free).
	BusyProb float64
	// UnknownResultProb: HTTP 200 result "-5" "Invalid card number", a code
	// the provider does not document; counted as charged, as the upstream
	// centre does.
	UnknownResultProb float64
	// ChargeDropProb: the upstream answers the card (its real answer, booked
	// in the ledger and charged when its result is billed), then the
	// connection is closed before the answer reaches the client: the call a
	// client must count as in doubt.
	ChargeDropProb float64

	// NotExistProb is the share of valid cards answered "-3" "Bank card
	// does not exist" (free) on every call: a deterministic draw by seed and
	// card, so the same cards get it on every call and every run. Cards that
	// are not 12 to 19 digits or fail the Luhn check always get "-3".
	NotExistProb float64

	// RateLimit is the per-token rate limit in requests per second (0: no
	// limit), a token bucket of RateBurst tokens (0: one second's worth,
	// ceil(RateLimit)). Requests without a token share one bucket. Excess
	// calls get HTTP 429 too_many_requests with "Retry-After: 1".
	RateLimit float64
	RateBurst int

	// FailAuthAfter > 0: every call after the first FailAuthAfter calls gets
	// 401 invalid_token (a token revoked mid-run).
	FailAuthAfter int
	// UsedUpAfterCharged > 0: once that many charged answers were given,
	// every call gets 403 used_up. Exactly UsedUpAfterCharged calls are
	// charged, even under concurrency.
	UsedUpAfterCharged int
	// ErrorForm is ErrorFormPlain, ErrorFormSuccess, or "" to use both: each
	// error answer picks one by a deterministic draw (about half each).
	ErrorForm string

	// Override, when set, is asked for every call that passed the gateway
	// checks (token, balance, rate limit, body); when it returns true its
	// answer replaces the fault draws and the real answer. It must be safe
	// for concurrent use. Latency still applies.
	Override func(card string) (Override, bool)

	// DecryptionKey, when set, lets the simulator accept field encryption
	// (AES-256-CBC, see decrypt.go): a request carrying "encryption" (an
	// object, or an array of one object) has its bank_card decrypted with
	// this key and is then answered exactly as the clear card would be (same
	// answer, same ledger, same fault draws). A malformed or undecryptable
	// block gets 400 bad_request with a message saying what is wrong. When
	// nil, every request carrying "encryption" gets 400 bad_request. A
	// request without "encryption" is served in clear either way.
	DecryptionKey *rsa.PrivateKey
	// DecryptionKeyFile is the PEM file of DecryptionKey (the
	// --decryption-key flag). New does not read it: Config.LoadKeys does,
	// and Validate reports it when LoadKeys was not called.
	DecryptionKeyFile string

	// OnBody, for tests, is called with a copy of every request body the
	// API path reads (POST only, before it is judged; at most 64 KiB + 1
	// byte), from the handler's goroutine: it must be safe for concurrent
	// use. It may be nil.
	OnBody func(body []byte)
}

// Override is a forced answer for one call (Config.Override).
//
// Status 0 means 200. A 200 answer is {"result", "description",
// "account_bank", "account_type"}: Result defaults to "0", the description
// to Message or the simulator's description of that result. Any other
// status gets an error body in the provider's form with Code and Message
// (defaults by status). Body, when set, is sent verbatim instead (JSON
// content type when it starts with '{' or '[', HTML when with '<', plain
// text otherwise); for a 200 the ledger reads its "result" (string or
// number), and a body without one is recorded with no result, uncharged.
// RetryAfter, when set, is sent as the Retry-After header.
type Override struct {
	Status      int
	Result      string
	Code        string
	Message     string
	Body        string // raw body, wins if set
	RetryAfter  string
	AccountBank string
	AccountType int
	// Drop closes the connection without an answer (as DropProb does).
	Drop bool
	// Delay is added to the call's latency (a slow card, for timeout tests).
	Delay time.Duration
}

// Server is the simulator: an http.Handler for the check-1e API and the
// ledger endpoint. It is safe for concurrent use; no lock is held while a
// call waits out its latency.
type Server struct {
	cfg   Config
	cuts  [7]float64 // cumulative fault thresholds, in draw order
	burst int
	clock func() time.Time
	epoch time.Time

	limMu    sync.Mutex
	limiters map[string]*rate.Limiter
	overflow *rate.Limiter

	mu             sync.Mutex // guards the fields below; held for a few counter updates only
	calls          int64
	byResult       map[string]int64
	byStatus       map[int]int64
	dropped        int64
	abandoned      int64
	chargedDropped int64
	win            window
	tokWins        map[string]*tokenWindow // by bearer token
	first          time.Time
	last           time.Time

	charged  atomic.Int64 // written under mu, read anywhere
	distinct atomic.Int64
	multi    atomic.Int64
	seq      atomic.Uint64

	digests *digester
	shards  [numShards]cardShard
	bufPool sync.Pool

	internMu  sync.Mutex
	interned  []string
	internIdx map[string]uint8
}

// callCard is the card of a call with a readable body.
type callCard struct {
	card string
	h    uint64 // cardHash(Seed, card)
	k    digest // the keyed digest the ledger files the card under
}

// maxTokens bounds the per-token limiter map; further tokens share one bucket.
const maxTokens = 4096

// maxBody is the largest request body the simulator reads.
const maxBody = 64 << 10

// New returns a simulator with the given configuration. It does not
// validate cfg (see Config.Validate): probabilities are clamped to [0, 1]
// and negative counts or durations act as zero.
func New(cfg Config) *Server {
	return newServer(cfg, time.Now)
}

func newServer(cfg Config, clock func() time.Time) *Server {
	s := &Server{
		cfg:      cfg,
		clock:    clock,
		epoch:    clock(),
		limiters: make(map[string]*rate.Limiter),
		digests:  newDigester(),
		byResult: make(map[string]int64),
		byStatus: make(map[int]int64),
		tokWins:  make(map[string]*tokenWindow),
	}
	probs := [7]float64{cfg.DropProb, cfg.RateLimitedProb, cfg.ServerErrorProb,
		cfg.BadGatewayProb, cfg.BusyProb, cfg.UnknownResultProb, cfg.ChargeDropProb}
	acc := 0.0
	for i, p := range probs {
		acc += clamp01(p)
		s.cuts[i] = acc
	}
	if cfg.RateLimit > 0 {
		s.burst = cfg.RateBurst
		if s.burst <= 0 {
			s.burst = int(math.Ceil(cfg.RateLimit))
		}
		s.overflow = rate.NewLimiter(rate.Limit(cfg.RateLimit), s.burst)
	}
	for i := range s.shards {
		s.shards[i].cards = newCardMap[digest]()
	}
	s.bufPool.New = func() any { return new(bytes.Buffer) }
	return s
}

func clamp01(p float64) float64 {
	if !(p > 0) { // also NaN
		return 0
	}
	return min(p, 1)
}

// fault kinds, in draw order.
const (
	faultNone = iota
	faultDrop
	faultRateLimited
	faultServerError
	faultBadGateway
	faultBusy
	faultUnknown
	faultChargeDrop
)

func (s *Server) faultOf(u float64) int {
	for i, c := range s.cuts {
		if u < c {
			return i + 1
		}
	}
	return faultNone
}

// draws are the random numbers of one call, all drawn up front in a fixed
// order so that a call's behaviour does not depend on which branch it takes.
type draws struct {
	fault, slow, jitter float64
	bits                uint64
	trace               [2]uint64
}

func newDraws(seed1, seed2 uint64) draws {
	var p rand.PCG
	p.Seed(seed1, seed2)
	return draws{
		fault:  unit(p.Uint64()),
		slow:   unit(p.Uint64()),
		jitter: unit(p.Uint64()),
		bits:   p.Uint64(),
		trace:  [2]uint64{p.Uint64(), p.Uint64()},
	}
}

func unit(x uint64) float64 { return float64(x>>11) * (1.0 / (1 << 53)) }

// cardDraws are the draws of the n-th call (from 0) for the card of hash h.
func cardDraws(h, n uint64) draws { return newDraws(h^0x6661756c74736565, n) }

// seqDraws are the draws of a call without a usable card.
func (s *Server) seqDraws() draws {
	return newDraws(mix64(uint64(s.cfg.Seed)^0x73657164726177), s.seq.Add(1))
}

func (s *Server) latency(d *draws, extra time.Duration) time.Duration {
	base := s.cfg.Latency
	if d.slow < clamp01(s.cfg.SlowProb) {
		base = s.cfg.SlowLatency
	}
	if j := s.cfg.LatencyJitter; j > 0 {
		base += time.Duration((2*d.jitter - 1) * float64(j))
	}
	return max(base, 0) + max(extra, 0)
}

// reply is what the simulator decided to answer.
type reply struct {
	status     int
	result     string // result code of a 200 answer
	body       []byte // a ready body (200 answers, raw overrides); read-only
	ctype      string
	html       bool   // an nginx error page for status
	code, msg  string // error answers
	retryAfter string
	charged    bool
	drop       bool
	upstream   bool          // passed the gateway: latency applies
	delay      time.Duration // extra latency (Override.Delay)
}

// Error messages, in English.
const (
	msgInvalidToken  = "The specified token is invalid or wrong."
	msgUsedUp        = "The balance of your account is used up, please top up and try again."
	msgTooMany       = "Too many requests, please slow down and try again later."
	msgNoAPI         = "The requested API does not exist."
	msgMethod        = "Only POST is allowed for this API."
	msgAPIError      = "An internal error occurred, please try again later."
	msgTimeout       = "The upstream service timed out, please try again later."
	msgBadRequestPfx = "The request is malformed: "
)

func errReply(status int, code, msg string) reply {
	return reply{status: status, code: code, msg: msg}
}

func usedUpReply() reply { return errReply(http.StatusForbidden, "used_up", msgUsedUp) }

func tooManyReply() reply {
	r := errReply(http.StatusTooManyRequests, "too_many_requests", msgTooMany)
	r.retryAfter = "1"
	return r
}

func answerReply(e *answerEntry) reply {
	return reply{status: http.StatusOK, result: e.ans.Result, body: e.body, charged: e.charged, upstream: true}
}

// ServeHTTP serves POST /identity/bankcard/check-1e, GET /_sim/ledger, and
// 404 no_api for every other path.
func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	switch r.URL.Path {
	case Path:
		s.serveCheck(w, r)
	case LedgerPath:
		s.serveLedger(w, r)
	default:
		d := s.seqDraws()
		rp := errReply(http.StatusNotFound, "no_api", msgNoAPI)
		s.write(w, &rp, &d)
	}
}

func (s *Server) serveCheck(w http.ResponseWriter, r *http.Request) {
	callNo := s.arrive(r.Header.Get("Authorization"))
	if r.Method != http.MethodPost {
		d := s.seqDraws()
		rp := errReply(http.StatusMethodNotAllowed, "method_not_allowed", msgMethod)
		w.Header().Set("Allow", http.MethodPost)
		s.commit(nil, &rp)
		s.write(w, &rp, &d)
		return
	}
	card, problem := s.readCard(r)
	var (
		c *callCard
		d draws
	)
	if problem == "" {
		c = &callCard{card: card, h: cardHash(s.cfg.Seed, card), k: s.digests.of(card)}
		d = cardDraws(c.h, s.touch(c.k))
	} else {
		d = s.seqDraws()
	}
	rp := s.decide(r, callNo, c, problem, &d)
	if rp.upstream {
		if lat := s.latency(&d, rp.delay); lat > 0 && !sleepCtx(r.Context(), lat) {
			s.commitAbandoned(c)
			return
		}
	}
	s.commit(c, &rp)
	s.write(w, &rp, &d)
}

// decide applies the gateway checks, then the override or the fault draw,
// then the real answer.
func (s *Server) decide(r *http.Request, callNo int64, c *callCard, problem string, d *draws) reply {
	if n := s.cfg.FailAuthAfter; n > 0 && callNo > int64(n) {
		return errReply(http.StatusUnauthorized, "invalid_token", msgInvalidToken)
	}
	tok, _ := bearer(r.Header.Get("Authorization"))
	if s.cfg.Token != "" && subtle.ConstantTimeCompare([]byte(tok), []byte(s.cfg.Token)) != 1 {
		return errReply(http.StatusUnauthorized, "invalid_token", msgInvalidToken)
	}
	if n := s.cfg.UsedUpAfterCharged; n > 0 && s.charged.Load() >= int64(n) {
		return usedUpReply()
	}
	if s.cfg.RateLimit > 0 && !s.limiter(tok).Allow() {
		return tooManyReply()
	}
	if problem != "" {
		return errReply(http.StatusBadRequest, "bad_request", msgBadRequestPfx+problem)
	}
	if s.cfg.Override != nil {
		if ov, ok := s.cfg.Override(c.card); ok {
			rp := overrideReply(ov)
			rp.upstream = true
			return rp
		}
	}
	var rp reply
	switch s.faultOf(d.fault) {
	case faultDrop:
		rp = reply{drop: true}
	case faultRateLimited:
		rp = tooManyReply()
	case faultServerError:
		rp = errReply(http.StatusInternalServerError, "api_error", msgAPIError)
	case faultBadGateway:
		status := http.StatusBadGateway
		if d.bits&1 != 0 {
			status = http.StatusServiceUnavailable
		}
		rp = errReply(status, "timeout", msgTimeout)
		rp.html = d.bits&2 != 0
	case faultBusy:
		rp = answerReply(answers.busy)
	case faultUnknown:
		rp = answerReply(answers.invalid)
	case faultChargeDrop:
		rp = answerReply(answers.clean(c.card, c.h, s.cfg.NotExistProb))
		rp.drop = true
	default:
		rp = answerReply(answers.clean(c.card, c.h, s.cfg.NotExistProb))
	}
	rp.upstream = true
	return rp
}

// bearer extracts the token of an "authorization: Bearer <token>" header.
func bearer(v string) (string, bool) {
	const p = "bearer "
	if len(v) < len(p) || !strings.EqualFold(v[:len(p)], p) {
		return "", false
	}
	return strings.TrimSpace(v[len(p):]), true
}

func (s *Server) limiter(tok string) *rate.Limiter {
	s.limMu.Lock()
	defer s.limMu.Unlock()
	if l, ok := s.limiters[tok]; ok {
		return l
	}
	if len(s.limiters) >= maxTokens {
		return s.overflow
	}
	l := rate.NewLimiter(rate.Limit(s.cfg.RateLimit), s.burst)
	s.limiters[strings.Clone(tok)] = l
	return l
}

// readCard reads the body and returns the card, or a problem (no card
// number in it) for a 400 answer.
func (s *Server) readCard(r *http.Request) (card, problem string) {
	buf := s.bufPool.Get().(*bytes.Buffer)
	defer func() {
		if buf.Cap() <= 4*maxBody {
			buf.Reset()
			s.bufPool.Put(buf)
		}
	}()
	buf.Reset()
	if _, err := buf.ReadFrom(io.LimitReader(r.Body, maxBody+1)); err != nil {
		return "", "the request body could not be read"
	}
	if s.cfg.OnBody != nil {
		s.cfg.OnBody(bytes.Clone(buf.Bytes()))
	}
	if buf.Len() > maxBody {
		return "", "the request body is too large"
	}
	var req struct {
		BankCard   *string         `json:"bank_card"`
		Encryption json.RawMessage `json:"encryption"`
	}
	if err := json.Unmarshal(buf.Bytes(), &req); err != nil {
		if _, ok := err.(*json.UnmarshalTypeError); ok {
			return "", "bank_card must be a string"
		}
		return "", "the body is not a valid JSON object"
	}
	if req.BankCard == nil || *req.BankCard == "" {
		return "", "bank_card is required"
	}
	if len(req.Encryption) > 0 && string(req.Encryption) != "null" {
		return s.decryptCard(*req.BankCard, req.Encryption)
	}
	return *req.BankCard, ""
}

// overrideReply turns a test's Override into a reply.
func overrideReply(ov Override) reply {
	if ov.Drop {
		return reply{drop: true, delay: ov.Delay}
	}
	status := ov.Status
	if status == 0 {
		status = http.StatusOK
	}
	rp := reply{status: status, retryAfter: ov.RetryAfter, delay: ov.Delay}
	switch {
	case ov.Body != "":
		rp.body = []byte(ov.Body)
		rp.ctype = sniffType(ov.Body)
		if status == http.StatusOK {
			rp.result = resultOf(rp.body)
			rp.charged = rp.result != "" && chargedResult(rp.result)
		}
	case status == http.StatusOK:
		res := ov.Result
		if res == "" {
			res = resultOK
		}
		desc := ov.Message
		if desc == "" {
			desc = describe(res)
		}
		e := newAnswerEntry(wireAnswer{Result: res, Description: desc, AccountBank: ov.AccountBank, AccountType: ov.AccountType})
		rp.result, rp.body, rp.charged = res, e.body, e.charged
	default:
		rp.code, rp.msg = ov.Code, ov.Message
		if rp.code == "" {
			rp.code = defaultCode(status)
		}
		if rp.msg == "" {
			rp.msg = defaultMessage(rp.code)
		}
	}
	return rp
}

func describe(result string) string {
	switch result {
	case resultOK:
		return DescOK
	case resultNotFound:
		return DescNotFound
	case resultBusy:
		return DescBusy
	case resultNotExist:
		return DescNotExist
	case ResultInvalidCard:
		return DescInvalid
	}
	return "Unknown result"
}

func defaultCode(status int) string {
	switch status {
	case http.StatusBadRequest:
		return "bad_request"
	case http.StatusUnauthorized:
		return "invalid_token"
	case http.StatusForbidden:
		return "used_up"
	case http.StatusNotFound:
		return "no_api"
	case http.StatusTooManyRequests:
		return "too_many_requests"
	case http.StatusInternalServerError:
		return "api_error"
	}
	if status >= 500 {
		return "timeout"
	}
	return "bad_request"
}

func defaultMessage(code string) string {
	switch code {
	case "invalid_token":
		return msgInvalidToken
	case "used_up":
		return msgUsedUp
	case "no_api":
		return msgNoAPI
	case "too_many_requests":
		return msgTooMany
	case "api_error":
		return msgAPIError
	case "timeout":
		return msgTimeout
	}
	return "The request failed."
}

func sniffType(body string) string {
	t := strings.TrimLeft(body, " \t\r\n")
	switch {
	case strings.HasPrefix(t, "{"), strings.HasPrefix(t, "["):
		return "application/json"
	case strings.HasPrefix(t, "<"):
		return "text/html"
	}
	return "text/plain; charset=utf-8"
}

// resultOf reads "result" (string or number) from a JSON body; "" if none.
func resultOf(body []byte) string {
	var v struct {
		Result json.RawMessage `json:"result"`
	}
	if json.Unmarshal(body, &v) != nil || len(v.Result) == 0 {
		return ""
	}
	var s string
	if json.Unmarshal(v.Result, &s) == nil {
		return s
	}
	var n json.Number
	if json.Unmarshal(v.Result, &n) == nil {
		return n.String()
	}
	return ""
}

// sleepCtx waits d; it reports false when ctx ended first.
func sleepCtx(ctx context.Context, d time.Duration) bool {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return true
	case <-ctx.Done():
		return false
	}
}

// write sends rp. A drop hijacks the connection and closes it (HTTP/1.x) or
// aborts the handler (HTTP/2, where hijacking is not possible).
func (s *Server) write(w http.ResponseWriter, rp *reply, d *draws) {
	if rp.drop {
		conn, _, err := http.NewResponseController(w).Hijack()
		if err != nil {
			panic(http.ErrAbortHandler)
		}
		_ = conn.Close()
		return
	}
	h := w.Header()
	if rp.retryAfter != "" {
		h.Set("Retry-After", rp.retryAfter)
	}
	var (
		body  []byte
		ctype = "application/json"
		buf   *bytes.Buffer
	)
	switch {
	case rp.body != nil:
		body = rp.body
		if rp.ctype != "" {
			ctype = rp.ctype
		}
	case rp.html:
		body = []byte(nginxPage(rp.status))
		ctype = "text/html"
	default:
		buf = s.bufPool.Get().(*bytes.Buffer)
		b := buf.AvailableBuffer()
		success := false
		switch s.cfg.ErrorForm {
		case ErrorFormSuccess:
			success = true
		case ErrorFormPlain:
		default:
			success = d.bits&4 != 0
		}
		b = appendError(b, rp.code, rp.msg, d.trace, success)
		buf.Write(b) // keeps a grown backing array in the pool
		body = buf.Bytes()
	}
	h.Set("Content-Type", ctype)
	h.Set("Content-Length", strconv.Itoa(len(body)))
	w.WriteHeader(rp.status)
	_, _ = w.Write(body)
	if buf != nil {
		buf.Reset()
		s.bufPool.Put(buf)
	}
}

func nginxPage(status int) string {
	if status == http.StatusServiceUnavailable {
		return "<html>\r\n<head><title>503 Service Temporarily Unavailable</title></head>\r\n<body>\r\n" +
			"<center><h1>503 Service Temporarily Unavailable</h1></center>\r\n<hr><center>nginx</center>\r\n</body>\r\n</html>\r\n"
	}
	return "<html>\r\n<head><title>502 Bad Gateway</title></head>\r\n<body>\r\n" +
		"<center><h1>502 Bad Gateway</h1></center>\r\n<hr><center>nginx</center>\r\n</body>\r\n</html>\r\n"
}

// appendError appends the provider's error body.
func appendError(b []byte, code, msg string, trace [2]uint64, success bool) []byte {
	b = append(b, '{')
	if success {
		b = append(b, `"success":false,`...)
	}
	b = append(b, `"error":{"code":`...)
	b = appendJSONString(b, code)
	b = append(b, `,"message":`...)
	b = appendJSONString(b, msg)
	b = append(b, `},"trace_id":"`...)
	b = appendTraceID(b, trace)
	return append(b, `"}`...)
}

// appendTraceID appends a UUID-v4-shaped id (8-4-4-4-12 hex digits).
func appendTraceID(b []byte, t [2]uint64) []byte {
	const hexd = "0123456789abcdef"
	var raw [16]byte
	for i := 0; i < 8; i++ {
		raw[i] = byte(t[0] >> (56 - 8*i))
		raw[8+i] = byte(t[1] >> (56 - 8*i))
	}
	raw[6] = raw[6]&0x0f | 0x40 // version 4
	raw[8] = raw[8]&0x3f | 0x80 // RFC 4122 variant
	for i, c := range raw {
		if i == 4 || i == 6 || i == 8 || i == 10 {
			b = append(b, '-')
		}
		b = append(b, hexd[c>>4], hexd[c&0x0f])
	}
	return b
}

// appendJSONString appends s as a JSON string; invalid UTF-8 becomes U+FFFD.
func appendJSONString(b []byte, s string) []byte {
	const hexd = "0123456789abcdef"
	b = append(b, '"')
	for _, r := range s { // range yields U+FFFD for invalid bytes
		switch {
		case r == '"' || r == '\\':
			b = append(b, '\\', byte(r))
		case r < 0x20:
			b = append(b, '\\', 'u', '0', '0', hexd[r>>4], hexd[r&0x0f])
		default:
			b = utf8.AppendRune(b, r)
		}
	}
	return append(b, '"')
}
