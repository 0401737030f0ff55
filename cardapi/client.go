package cardapi

import (
	"crypto/rand"
	"crypto/rsa"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"math"
	"net"
	"net/http"
	"net/url"
	"strings"
	"time"
)

// Defaults applied by New to the zero fields of a Config.
const (
	// DefaultTimeout is the per-request timeout (waiting for a connection,
	// connecting, the request, the answer's headers and body together).
	DefaultTimeout = 30 * time.Second
	// DefaultMaxConns is the size of the connection pool; it should equal
	// the number of calls in flight (--concurrency).
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

	dialTimeout         = 10 * time.Second
	tcpKeepAlive        = 30 * time.Second
	tlsHandshakeTimeout = 10 * time.Second
	// idleConnTimeout closes a connection idle this long, before the usual
	// server-side keep-alive timeouts (60-75 s) can close it under a call.
	idleConnTimeout = 30 * time.Second
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
	// Timeout bounds one call from its start to the end of the response
	// body (DefaultTimeout when zero).
	Timeout time.Duration
	// MaxConns is the connection pool size: at most MaxConns connections
	// are open at once, and as many are kept alive between calls. Set it to
	// the concurrency (DefaultMaxConns when zero).
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
	// Transport, when set, replaces the client's own *http.Transport
	// (tests). A call is "not sent" when the transport's httptrace
	// WroteRequest hook did not report the request written whole. A
	// RoundTripper that is not an *http.Transport and never calls that hook
	// should return an error wrapping a *net.OpError with Op "dial" when it
	// did not deliver the request; any other error is "may have been sent".
	//
	// When nil, New builds one tuned *http.Transport: keep-alive, a pool of
	// MaxConns connections, TLS 1.2 or later with certificates verified,
	// HTTP/2 when the server offers it, and the proxy the environment names
	// (HTTPS_PROXY, HTTP_PROXY, NO_PROXY, as http.ProxyFromEnvironment reads
	// them).
	Transport http.RoundTripper
}

// Client calls the check-1e API. It is safe for concurrent use by any
// number of goroutines and keeps up to Config.MaxConns connections alive
// between calls.
type Client struct {
	hc      *http.Client
	url     string      // endpoint + Path
	header  http.Header // every request's headers; shared, never modified
	token   string      // for scrubbing excerpts; never logged
	timeout time.Duration
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
	if err := applyDefaults(&cfg); err != nil {
		return nil, err
	}
	token := strings.TrimSpace(cfg.Token)
	for i := 0; i < len(token); i++ {
		if c := token[i]; c <= ' ' || c >= 0x7f {
			return nil, errors.New("cardapi: the token contains spaces, control or non-ASCII characters; check ACEDATA_TOKEN or the token file")
		}
	}
	if cfg.EncryptionKey != nil {
		if err := checkEncryptionKey(cfg.EncryptionKey); err != nil {
			return nil, fmt.Errorf("cardapi: encryption key: %w", err)
		}
	}
	rt := cfg.Transport
	if rt == nil {
		rt = newTransport(cfg.MaxConns)
	}
	_, traced := rt.(*http.Transport)
	h := http.Header{
		"Accept":       {"application/json"},
		"Content-Type": {"application/json"},
		"User-Agent":   {cfg.UserAgent},
	}
	if token != "" {
		h["Authorization"] = []string{"Bearer " + token}
	}
	return &Client{
		// No http.Client.Timeout: Check bounds each call with a context
		// deadline, which costs no goroutine per call.
		hc:      &http.Client{Transport: rt, CheckRedirect: checkRedirect},
		url:     u.String(),
		header:  h,
		token:   token,
		timeout: cfg.Timeout,
		maxBody: cfg.MaxBodyBytes,
		encKey:  cfg.EncryptionKey,
		encArr:  cfg.EncryptionArray,
		rnd:     rand.Reader,
		traced:  traced,
		now:     time.Now,
	}, nil
}

// applyDefaults checks the numeric settings and the user agent of cfg and
// replaces the zero ones by their defaults.
func applyDefaults(cfg *Config) error {
	switch {
	case cfg.Timeout < 0:
		return fmt.Errorf("cardapi: timeout must not be negative (got %v)", cfg.Timeout)
	case cfg.Timeout == 0:
		cfg.Timeout = DefaultTimeout
	}
	switch {
	case cfg.MaxConns < 0:
		return fmt.Errorf("cardapi: connection pool size must not be negative (got %d)", cfg.MaxConns)
	case cfg.MaxConns == 0:
		cfg.MaxConns = DefaultMaxConns
	}
	switch {
	case cfg.MaxBodyBytes < 0:
		return fmt.Errorf("cardapi: body size limit must not be negative (got %d)", cfg.MaxBodyBytes)
	case cfg.MaxBodyBytes == 0:
		cfg.MaxBodyBytes = DefaultMaxBodyBytes
	case cfg.MaxBodyBytes == math.MaxInt64:
		cfg.MaxBodyBytes-- // the reader asks for one byte more than the limit
	}
	if cfg.UserAgent == "" {
		cfg.UserAgent = DefaultUserAgent
	}
	if strings.ContainsAny(cfg.UserAgent, "\r\n") {
		return errors.New("cardapi: user agent must be one line")
	}
	return nil
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
		return nil, errors.New("cardapi: the endpoint must not contain a user name or password; the token comes from ACEDATA_TOKEN or the token file")
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

// newTransport returns the client's one tuned *http.Transport: at most
// maxConns connections per host, all kept alive between calls; TLS 1.2 or
// later, certificates always verified (InsecureSkipVerify is never set);
// the proxy the environment names. The per-call timeout is Check's context
// deadline, not a transport setting.
func newTransport(maxConns int) *http.Transport {
	d := &net.Dialer{Timeout: dialTimeout, KeepAlive: tcpKeepAlive}
	return &http.Transport{
		Proxy:               http.ProxyFromEnvironment,
		DialContext:         d.DialContext,
		ForceAttemptHTTP2:   true,
		MaxIdleConns:        maxConns,
		MaxIdleConnsPerHost: maxConns,
		MaxConnsPerHost:     maxConns,
		IdleConnTimeout:     idleConnTimeout,
		TLSHandshakeTimeout: tlsHandshakeTimeout,
		TLSClientConfig:     &tls.Config{MinVersion: tls.VersionTLS12},
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

// Close closes the client's idle connections. Calls in flight are not
// affected; the Client stays usable.
func (c *Client) Close() { c.hc.CloseIdleConnections() }
