package cardapi

import (
	"bytes"
	"context"
	"crypto/rand"
	"crypto/rsa"
	"crypto/tls"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"net"
	"net/http"
	"net/http/httptrace"
	"net/url"
	"strconv"
	"strings"
	"sync/atomic"
	"time"
	"unicode/utf8"

	"cardbatch/billing"
)

// Defaults applied by New to the zero fields of a Config.
const (
	// DefaultTimeout is the per-request timeout (connection, request,
	// response headers and body together).
	DefaultTimeout = 30 * time.Second
	// DefaultMaxConns is the size of the keep-alive pool; it should equal the
	// number of calls in flight (--concurrency).
	DefaultMaxConns = 32
	// DefaultMaxBodyBytes is the largest response body the client reads.
	DefaultMaxBodyBytes int64 = 1 << 20
	// DefaultUserAgent is sent when Config.UserAgent is empty.
	DefaultUserAgent = "cardbatch"
)

// MaxRetryAfter is the longest Retry-After the client reports; longer
// (or absurd) server values are clamped to it.
const MaxRetryAfter = 10 * time.Minute

const (
	maxRedirects = 3   // same-host redirects followed before giving up
	excerptLimit = 200 // bytes of an unexpected body kept in Outcome.Excerpt
)

// Config configures a Client. The zero value of every field selects its
// documented default; only Token is needed against the real API.
type Config struct {
	// Endpoint is the API's base URL (DefaultEndpoint when empty); Path is
	// appended to it (unless it already ends with Path). It must be https,
	// or plain http to a loopback host (the simulator).
	Endpoint string
	// Token is sent as "authorization: Bearer <Token>"; the header is
	// omitted when Token is empty. Surrounding white space is trimmed.
	Token string
	// Timeout bounds one call from start to the end of the response body
	// (DefaultTimeout when zero).
	Timeout time.Duration
	// MaxConns is the keep-alive pool size; set it to the concurrency
	// (DefaultMaxConns when zero).
	MaxConns int
	// MaxBodyBytes is the largest response body read (DefaultMaxBodyBytes
	// when zero); a larger one is a protocol error.
	MaxBodyBytes int64
	// UserAgent is the user-agent header (DefaultUserAgent when empty).
	UserAgent string
	// EncryptionKey, when set, turns on field encryption: every call sends
	// bank_card encrypted with AES-256-CBC under a fresh key and IV from
	// crypto/rand, the key wrapped with this RSA public key (PKCS#1 v1.5),
	// as shared/api/check-1e.md describes; the clear card never appears in
	// the request body. Load it with LoadRSAPublicKey. nil sends the card in
	// clear (inside TLS). New refuses a key crypto/rsa cannot encrypt with.
	EncryptionKey *rsa.PublicKey
	// EncryptionArray sends "encryption" as an array of one object (the
	// gateway's OpenAPI form) instead of one object (the upstream form, the
	// default). It matters only when EncryptionKey is set.
	EncryptionArray bool
	// Transport, when set, replaces the client's own transport (tests, the
	// in-process simulator). A RoundTripper that is not an *http.Transport
	// should return an error wrapping a *net.OpError with Op "dial" when it
	// did not deliver the request, so the call is reported as not sent; any
	// other error is treated as "may have been sent" (in doubt).
	//
	// When nil, New uses its own lean HTTP/1.1 transport (see direct.go):
	// each call runs on the calling goroutine over pooled keep-alive
	// connections, and Timeout bounds each round trip, answer body
	// included. It never speaks to a proxy: when the environment names one
	// for the endpoint (HTTPS_PROXY, HTTP_PROXY, NO_PROXY, as
	// http.ProxyFromEnvironment reads them), New uses a tuned
	// *http.Transport instead, which goes through the proxy and may use
	// HTTP/2.
	Transport http.RoundTripper
}

// Client calls the check-1e API. It is safe for concurrent use by any
// number of goroutines and keeps up to Config.MaxConns idle connections
// alive between calls.
type Client struct {
	hc      *http.Client
	url     string      // endpoint + Path
	header  http.Header // every request's headers; shared, never modified
	token   string      // for scrubbing excerpts; never logged
	maxBody int64
	encKey  *rsa.PublicKey   // nil: no field encryption
	encArr  bool             // "encryption" in array form
	rnd     io.Reader        // source of the symmetric keys and IVs: crypto/rand
	traced  bool             // the transport is an *http.Transport: httptrace is reliable
	now     func() time.Time // for Retry-After dates; replaced in tests
}

// New validates cfg and returns a Client. It returns an error when the
// endpoint is not a valid base URL, is plain http to a host that is not a
// loopback address, or when a setting is out of range; the error never
// contains the token.
func New(cfg Config) (*Client, error) {
	ep := cfg.Endpoint
	if ep == "" {
		ep = DefaultEndpoint
	}
	u, err := parseEndpoint(ep)
	if err != nil {
		return nil, err
	}
	timeout := cfg.Timeout
	switch {
	case timeout < 0:
		return nil, fmt.Errorf("cardapi: timeout must not be negative (got %v)", timeout)
	case timeout == 0:
		timeout = DefaultTimeout
	}
	maxConns := cfg.MaxConns
	switch {
	case maxConns < 0:
		return nil, fmt.Errorf("cardapi: connection pool size must not be negative (got %d)", maxConns)
	case maxConns == 0:
		maxConns = DefaultMaxConns
	}
	maxBody := cfg.MaxBodyBytes
	switch {
	case maxBody < 0:
		return nil, fmt.Errorf("cardapi: body size limit must not be negative (got %d)", maxBody)
	case maxBody == 0:
		maxBody = DefaultMaxBodyBytes
	case maxBody == math.MaxInt64:
		maxBody-- // the reader asks for one byte more than the limit
	}
	token := strings.TrimSpace(cfg.Token)
	for i := 0; i < len(token); i++ {
		if c := token[i]; c <= ' ' || c >= 0x7f {
			return nil, errors.New("cardapi: the token contains spaces, control or non-ASCII characters; check ACEDATA_TOKEN or the token file")
		}
	}
	ua := cfg.UserAgent
	if ua == "" {
		ua = DefaultUserAgent
	}
	if strings.ContainsAny(ua, "\r\n") {
		return nil, errors.New("cardapi: user agent must be one line")
	}

	if cfg.EncryptionKey != nil {
		if err := checkEncryptionKey(cfg.EncryptionKey); err != nil {
			return nil, fmt.Errorf("cardapi: encryption key: %w", err)
		}
	}

	rt := cfg.Transport
	clientTimeout := timeout
	if rt == nil {
		if useProxy(u) {
			rt = newTransport(maxConns, timeout)
		} else {
			rt = newDirectTransport(u, maxConns, timeout)
			// The direct transport bounds each round trip itself, body
			// included, with connection deadlines; http.Client's own timeout
			// would cost a goroutine and a timer per call for an
			// http.RoundTripper it does not know.
			clientTimeout = 0
		}
	}
	// With an *http.Transport, the httptrace GotConn hook tells whether a
	// failed call had a connection (could have been sent). The direct
	// transport's errors say it themselves (errNotSent).
	_, traced := rt.(*http.Transport)

	h := http.Header{
		"Accept":       {"application/json"},
		"Content-Type": {"application/json"},
		"User-Agent":   {ua},
	}
	if token != "" {
		h["Authorization"] = []string{"Bearer " + token}
	}
	return &Client{
		hc: &http.Client{
			Transport:     rt,
			Timeout:       clientTimeout,
			CheckRedirect: checkRedirect,
		},
		url:     u.String(),
		header:  h,
		token:   token,
		maxBody: maxBody,
		encKey:  cfg.EncryptionKey,
		encArr:  cfg.EncryptionArray,
		rnd:     rand.Reader,
		traced:  traced,
		now:     time.Now,
	}, nil
}

// parseEndpoint checks a base URL and returns the full URL of the API.
func parseEndpoint(ep string) (*url.URL, error) {
	u, err := url.Parse(ep)
	if err != nil {
		var ue *url.Error
		if errors.As(err, &ue) {
			err = ue.Err // without the URL, which may hold credentials
		}
		return nil, fmt.Errorf("cardapi: the endpoint is not a valid URL: %w", err)
	}
	if u.User != nil {
		return nil, errors.New("cardapi: the endpoint must not contain a user name or password; the token comes from ACEDATA_TOKEN or --token-file")
	}
	if u.Host == "" || u.Hostname() == "" {
		return nil, fmt.Errorf("cardapi: endpoint %q has no host; use a base URL like %s", u.Redacted(), DefaultEndpoint)
	}
	if u.RawQuery != "" || u.Fragment != "" || u.ForceQuery {
		return nil, fmt.Errorf("cardapi: endpoint %q must be a base URL without a query or fragment", u.Redacted())
	}
	switch u.Scheme {
	case "https":
	case "http":
		if !isLoopback(u.Hostname()) {
			return nil, fmt.Errorf("cardapi: endpoint %q: plain http is allowed only for a loopback address (the simulator, e.g. http://127.0.0.1:8080); use https", u.Redacted())
		}
	default:
		return nil, fmt.Errorf("cardapi: endpoint %q: scheme must be https (or http for a loopback simulator)", u.Redacted())
	}
	p := strings.TrimRight(u.Path, "/")
	if !strings.HasSuffix(p, Path) {
		p += Path
	}
	return &url.URL{Scheme: u.Scheme, Host: u.Host, Path: p}, nil
}

// isLoopback reports whether host (without port) is "localhost" or a
// loopback IP address (127.0.0.0/8, ::1).
func isLoopback(host string) bool {
	if strings.EqualFold(host, "localhost") {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}

// useProxy reports whether http.ProxyFromEnvironment names a proxy for the
// endpoint u (or fails to read the proxy settings): the direct transport
// never speaks to proxies, so New then uses newTransport.
func useProxy(u *url.URL) bool {
	proxy, err := http.ProxyFromEnvironment(&http.Request{URL: u})
	return proxy != nil || err != nil
}

// newTransport returns the tuned *http.Transport used when Config.Transport
// is nil and a proxy applies to the endpoint.
func newTransport(maxConns int, timeout time.Duration) *http.Transport {
	d := &net.Dialer{Timeout: 10 * time.Second, KeepAlive: 30 * time.Second}
	return &http.Transport{
		Proxy:                 http.ProxyFromEnvironment,
		DialContext:           d.DialContext,
		ForceAttemptHTTP2:     true,
		MaxIdleConns:          maxConns,
		MaxIdleConnsPerHost:   maxConns,
		MaxConnsPerHost:       0,
		IdleConnTimeout:       90 * time.Second,
		TLSHandshakeTimeout:   10 * time.Second,
		ExpectContinueTimeout: time.Second,
		ResponseHeaderTimeout: timeout,
		// Certificate verification is always on: InsecureSkipVerify is never set.
		TLSClientConfig: &tls.Config{MinVersion: tls.VersionTLS12},
	}
}

// checkRedirect follows at most maxRedirects redirects, and only to the same
// scheme and host:port, so the authorization header never reaches another
// origin. A refused redirect is returned to Check as the 3xx answer.
func checkRedirect(req *http.Request, via []*http.Request) error {
	first := via[0].URL
	if req.URL.Scheme != first.Scheme || !strings.EqualFold(req.URL.Host, first.Host) {
		return http.ErrUseLastResponse
	}
	if len(via) > maxRedirects {
		return http.ErrUseLastResponse
	}
	return nil
}

// Close closes the client's idle connections (http.Client passes it on to
// the transport). Calls in flight are not affected; the Client stays
// usable.
func (c *Client) Close() { c.hc.CloseIdleConnections() }

// callTrace records whether the transport obtained a connection for a call:
// before that, not a byte of the request can have been written.
type callTrace struct {
	gotConn atomic.Bool
	ct      httptrace.ClientTrace
}

func (t *callTrace) onGotConn(httptrace.GotConnInfo) { t.gotConn.Store(true) }

// Check makes one call for card and classifies it into exactly one Kind, as
// documented on Kind and Outcome. It blocks until the answer has been read,
// the call failed, or ctx is done; it never panics on a bad answer. When ctx
// ends the call, the outcome is KindRetryable and errors.Is(o.Err, ctx.Err())
// holds. No field of the Outcome contains card or the token: occurrences in
// the server's texts are masked.
func (c *Client) Check(ctx context.Context, card string) Outcome {
	o := c.check(ctx, card)
	if o.Err != nil {
		if msg := o.Err.Error(); c.scrub(msg, card) != msg {
			o.Err = &scrubbedError{msg: c.scrub(msg, card), err: o.Err}
		}
	}
	return o
}

// scrubbedError shows a scrubbed text but still unwraps to the original, so
// errors.Is(err, context.Canceled) keeps working.
type scrubbedError struct {
	msg string
	err error
}

func (e *scrubbedError) Error() string { return e.msg }
func (e *scrubbedError) Unwrap() error { return e.err }

func (c *Client) check(ctx context.Context, card string) Outcome {
	if err := ctx.Err(); err != nil {
		return Outcome{Kind: KindRetryable, Billing: billing.None, Err: fmt.Errorf("cardapi: call not sent: %w", err)}
	}
	rctx := ctx
	var tr *callTrace
	if c.traced {
		tr = &callTrace{}
		tr.ct.GotConn = tr.onGotConn
		rctx = httptrace.WithClientTrace(ctx, &tr.ct)
	}
	body, err := c.requestBody(card)
	if err != nil {
		// Only a failing crypto/rand can get here; the error names no card.
		return Outcome{Kind: KindFatal, Billing: billing.None, Err: err}
	}
	req, err := http.NewRequestWithContext(rctx, http.MethodPost, c.url, bytes.NewReader(body))
	if err != nil {
		// Cannot happen: the URL was validated by New. The error names the
		// URL only.
		return Outcome{Kind: KindFatal, Billing: billing.None, Err: fmt.Errorf("cardapi: building the request: %w", err)}
	}
	// Shared by every request: neither http.Client nor a RoundTripper
	// modifies a request's headers (http.Client copies them for redirects).
	req.Header = c.header

	start := time.Now()
	resp, err := c.hc.Do(req)
	if err != nil {
		sent := !notSent(err) && (tr == nil || tr.gotConn.Load())
		return c.failed(ctx, err, sent, 0, time.Since(start))
	}
	data, rerr := io.ReadAll(io.LimitReader(resp.Body, c.maxBody+1))
	resp.Body.Close()
	o := Outcome{HTTPStatus: resp.StatusCode, Sent: true, Latency: time.Since(start)}
	tooLarge := int64(len(data)) > c.maxBody
	if rerr != nil {
		rerr = fmt.Errorf("cardapi: reading the HTTP %d answer: %w", resp.StatusCode, rerr)
	}

	switch st := resp.StatusCode; {
	case st == http.StatusOK:
		switch {
		case rerr != nil:
			// The answer was lost mid-body: the call may have been charged.
			return c.failed(ctx, rerr, true, st, o.Latency)
		case tooLarge:
			o.Kind, o.Billing, o.Excerpt = KindProtocol, billing.Unknown, c.tooLargeExcerpt()
		default:
			c.decodeAnswer(&o, data, card)
		}
	case st == http.StatusTooManyRequests || st >= 500 && st <= 599:
		o.Kind, o.Billing = KindRetryable, billing.Free
		o.RetryAfter = parseRetryAfter(resp.Header.Get("Retry-After"), c.now())
		c.decodeError(&o, data, card, tooLarge, rerr)
	case st >= 400 && st <= 499:
		o.Kind, o.Billing = KindFatal, billing.Free
		c.decodeError(&o, data, card, tooLarge, rerr)
	default:
		// 1xx, 3xx (a redirect that was not followed) and other 2xx. A 2xx
		// other than 200 may have been processed and billed: in doubt.
		o.Kind, o.Billing, o.Err = KindProtocol, billing.Free, rerr
		if st >= 200 && st <= 299 {
			o.Billing = billing.Unknown
		}
		switch loc := resp.Header.Get("Location"); {
		case st >= 300 && st <= 399 && loc != "":
			o.Excerpt = c.excerpt([]byte("redirect not followed (only up to 3, to the same host): Location: "+loc), card)
		case tooLarge:
			o.Excerpt = c.tooLargeExcerpt()
		default:
			o.Excerpt = c.excerpt(data, card)
		}
	}
	return o
}

// failed is the outcome of a call that got no complete answer: retryable,
// in doubt when the request may have been sent. Err wraps ctx's error when
// ctx ended the call.
func (c *Client) failed(ctx context.Context, err error, sent bool, status int, latency time.Duration) Outcome {
	if cerr := ctx.Err(); cerr != nil && !errors.Is(err, cerr) {
		err = fmt.Errorf("%w: %w", cerr, err)
	}
	o := Outcome{Kind: KindRetryable, HTTPStatus: status, Sent: sent, Billing: billing.None, Err: err, Latency: latency}
	if sent {
		o.Billing = billing.Unknown
	}
	return o
}

// notSent reports whether a transport error shows that no complete request
// can have reached the API: no connection was made (dial or DNS failure,
// refused connection, proxy failure), or the direct transport says so
// (errNotSent: TLS handshake failure, a write that failed short, ...).
func notSent(err error) bool {
	if errors.Is(err, errNotSent) {
		return true
	}
	var op *net.OpError
	if errors.As(err, &op) && (op.Op == "dial" || op.Op == "proxyconnect") {
		return true
	}
	var dns *net.DNSError
	return errors.As(err, &dns)
}

func (c *Client) tooLargeExcerpt() string {
	return "response body larger than " + strconv.FormatInt(c.maxBody, 10) + " bytes"
}

// wireAnswer is the lenient decoding of a 200 answer: every field accepts a
// JSON string or number (or null); only result is required.
type wireAnswer struct {
	Result      flexString `json:"result"`
	Description flexString `json:"description"`
	AccountBank flexString `json:"account_bank"`
	AccountType flexInt    `json:"account_type"`
}

// decodeAnswer classifies a complete HTTP 200 body.
func (c *Client) decodeAnswer(o *Outcome, data []byte, card string) {
	var w wireAnswer
	body := trimBOM(data)
	if !scanAnswer(body, &w) {
		w = wireAnswer{}
		if err := json.Unmarshal(body, &w); err != nil {
			w.Result.ok = false
		}
	}
	if !w.Result.ok || w.Result.s == "" {
		// Not an answer, but the provider may have billed the call.
		o.Kind, o.Billing = KindProtocol, billing.Unknown
		o.Excerpt = c.excerpt(data, card)
		var eb ErrorBody
		if obj := jsonObject(data); obj != nil && json.Unmarshal(obj, &eb) == nil {
			o.Code = c.scrub(eb.Error.Code, card)
			o.Message = c.scrub(eb.Error.Message, card)
			o.TraceID = c.scrub(eb.TraceID, card)
		}
		return
	}
	o.Answer = Answer{
		Result:      c.scrub(w.Result.s, card),
		Description: c.scrub(w.Description.s, card),
		AccountBank: c.scrub(w.AccountBank.s, card),
		AccountType: int(w.AccountType),
	}
	o.Billing = billing.ClassOf(o.Answer.Result)
	o.Kind = KindAnswer
	if o.Answer.Result == billing.ResultBusy {
		o.Kind = KindRetryable
	}
}

// decodeError fills Code, Message and TraceID from an error body, or Excerpt
// when the body is not the provider's error JSON.
func (c *Client) decodeError(o *Outcome, data []byte, card string, tooLarge bool, rerr error) {
	switch {
	case rerr != nil:
		o.Err = rerr
		return
	case tooLarge:
		o.Excerpt = c.tooLargeExcerpt()
		return
	}
	var eb ErrorBody
	if obj := jsonObject(data); obj != nil && json.Unmarshal(obj, &eb) == nil {
		o.Code = c.scrub(eb.Error.Code, card)
		o.Message = c.scrub(eb.Error.Message, card)
		o.TraceID = c.scrub(eb.TraceID, card)
	}
	if o.Code == "" {
		o.Excerpt = c.excerpt(data, card)
	}
}

// trimBOM removes a leading UTF-8 byte order mark, which some gateways send
// and encoding/json rejects.
func trimBOM(data []byte) []byte { return bytes.TrimPrefix(data, []byte("\xef\xbb\xbf")) }

// jsonObject returns data without a BOM and leading white space when it
// starts like a JSON object, or nil.
func jsonObject(data []byte) []byte {
	data = bytes.TrimLeft(trimBOM(data), " \t\r\n")
	if len(data) == 0 || data[0] != '{' {
		return nil
	}
	return data
}

// requestBody returns the JSON body of a call for card: encrypted when the
// client has an encryption key, else in clear.
func (c *Client) requestBody(card string) ([]byte, error) {
	if c.encKey == nil {
		return encodeRequest(card), nil
	}
	return encryptedBody(card, c.encKey, c.encArr, c.rnd)
}

// encodeRequest returns the JSON body {"bank_card":"..."} for card. Card
// numbers (digits) are written directly; anything else goes through
// encoding/json for correct escaping.
func encodeRequest(card string) []byte {
	for i := 0; i < len(card); i++ {
		if c := card[i]; c < 0x20 || c >= 0x7f || c == '"' || c == '\\' || c == '<' || c == '>' || c == '&' {
			b, err := json.Marshal(Request{BankCard: card})
			if err != nil { // cannot happen for a string field
				return []byte(`{"bank_card":""}`)
			}
			return b
		}
	}
	const head, tail = `{"bank_card":"`, `"}`
	b := make([]byte, 0, len(head)+len(card)+len(tail))
	b = append(b, head...)
	b = append(b, card...)
	return append(b, tail...)
}

// flexString decodes a JSON string or number (kept as its text, integral
// numbers normalised: -2.0 becomes "-2"); null and other types leave it
// unset without failing the decoding.
type flexString struct {
	s  string
	ok bool
}

func (f *flexString) UnmarshalJSON(b []byte) error {
	switch {
	case len(b) == 0:
	case b[0] == '"':
		if bytes.IndexByte(b, '\\') < 0 && utf8.Valid(b) {
			f.s, f.ok = string(b[1:len(b)-1]), true
			return nil
		}
		var s string
		if err := json.Unmarshal(b, &s); err != nil {
			return err
		}
		f.s, f.ok = s, true
	case b[0] == '-' || b[0] >= '0' && b[0] <= '9':
		f.s, f.ok = normalizeNumber(b), true
	}
	return nil
}

// normalizeNumber returns the text of a JSON number, written as an integer
// when it has an integral value that a float64 holds exactly.
func normalizeNumber(b []byte) string {
	if bytes.ContainsAny(b, ".eE") {
		if v, err := strconv.ParseFloat(string(b), 64); err == nil && v == float64(int64(v)) && v > -1e15 && v < 1e15 {
			return strconv.FormatInt(int64(v), 10)
		}
	}
	return string(b)
}

// flexInt decodes account_type: a JSON number or a numeric string. Anything
// else (null, "", text, a fraction) decodes as 0 without failing.
type flexInt int

func (f *flexInt) UnmarshalJSON(b []byte) error {
	var s flexString
	if err := s.UnmarshalJSON(b); err != nil || !s.ok {
		return nil
	}
	v, err := strconv.Atoi(normalizeNumber([]byte(strings.TrimSpace(s.s))))
	if err == nil && v >= 0 && v <= 1<<30 {
		*f = flexInt(v)
	}
	return nil
}
