package cardapi

import (
	"bufio"
	"compress/gzip"
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"math"
	"net"
	"net/http"
	"net/url"
	"os"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"
)

// The direct transport: a lean HTTP/1.1 http.RoundTripper for the client's
// one endpoint. Each call runs synchronously on the calling goroutine over a
// pooled keep-alive connection: one write for the whole request, then
// http.ReadResponse on the connection's bufio.Reader. Unlike http.Transport
// it starts no goroutine per connection or per call, which is most of the
// CPU an http.Transport spends on small calls.
//
// It speaks HTTP/1.1 only (ALPN "http/1.1" over TLS), never uses a proxy
// (New keeps http.Transport when the environment names one), does not ask
// for gzip (it decodes a gzip answer a server sends anyway), and bounds
// every round trip, body included, by the client's timeout and by the
// request context.

const (
	directDialTimeout = 10 * time.Second // TCP connect, as newTransport's dialer
	directKeepAlive   = 30 * time.Second // TCP keep-alive probes
	// directMaxIdle is how long an idle connection may be reused (the
	// IdleConnTimeout of newTransport); older ones are closed.
	directMaxIdle = 90 * time.Second
	// directMaxHeaderBytes bounds the status lines and headers of one
	// answer, 1xx answers included (http.Transport's default
	// MaxResponseHeaderBytes).
	directMaxHeaderBytes = 10 << 20
	directReadBufSize    = 4 << 10 // per-connection bufio.Reader
	// directMaxKeptBuf: a request buffer that grew larger is dropped when
	// its connection goes idle rather than kept for the pool's lifetime.
	directMaxKeptBuf = 64 << 10
)

// errNotSent is wrapped by every error of the direct transport that proves
// the server cannot have received a complete request: the call is free and
// may be retried (notSent).
var errNotSent = errors.New("request not sent")

// errClosedBody is returned by Read on a closed answer body.
var errClosedBody = errors.New("http: read on closed response body")

// aLongTimeAgo is a deadline in the past: setting it unblocks any I/O.
var aLongTimeAgo = time.Unix(1, 0)

// directTransport is the lean HTTP/1.1 RoundTripper that New uses by
// default (when no proxy applies to the endpoint). It is safe for
// concurrent use. It serves only its endpoint's scheme and host: a request
// for another origin fails without being sent (the client never makes one:
// checkRedirect follows same-host redirects only).
type directTransport struct {
	scheme  string        // "http" or "https"
	host    string        // the endpoint's host[:port], as in its URL
	addr    string        // host:port dialled
	timeout time.Duration // bound of one round trip, body included; 0: none
	maxIdle int           // idle pool size
	dialer  net.Dialer
	tlsConf *tls.Config // nil for plain http

	mu   sync.Mutex
	idle []*directConn // LIFO: the most recently used connection last
}

// newDirectTransport returns a transport for u's scheme and host keeping
// up to maxConns idle connections; timeout bounds each round trip, the
// reading of the answer body included (0: only the request context does).
func newDirectTransport(u *url.URL, maxConns int, timeout time.Duration) *directTransport {
	port := u.Port()
	if port == "" {
		port = "80"
		if u.Scheme == "https" {
			port = "443"
		}
	}
	t := &directTransport{
		scheme:  u.Scheme,
		host:    u.Host,
		addr:    net.JoinHostPort(u.Hostname(), port),
		timeout: timeout,
		maxIdle: max(maxConns, 1),
		dialer:  net.Dialer{Timeout: directDialTimeout, KeepAlive: directKeepAlive},
		idle:    make([]*directConn, 0, max(maxConns, 1)),
	}
	if u.Scheme == "https" {
		// Certificate verification is always on: InsecureSkipVerify is never set.
		t.tlsConf = &tls.Config{
			ServerName: u.Hostname(),
			MinVersion: tls.VersionTLS12,
			NextProtos: []string{"http/1.1"},
		}
	}
	return t
}

// directConn is one connection with its reusable buffers. It is owned by
// one call at a time (or by the idle pool).
type directConn struct {
	t        *directTransport
	conn     net.Conn        // *net.TCPConn, or *tls.Conn over it
	raw      syscall.RawConn // the TCP socket, for the stale check; nil if not TCP
	tlsState *tls.ConnectionState
	br       *bufio.Reader // reads from the directConn itself (readLimit)
	wbuf     []byte        // the request being written
	bbuf     []byte        // the request body being read
	idleAt   time.Time     // when it entered the idle pool

	readLimit int64 // bytes still allowed for the answer's headers

	abortFn func()             // c.abort, allocated once
	peekFn  func(uintptr) bool // c.peek, allocated once
	peekN   int
	peekErr error
	peekBuf [1]byte
}

// Read feeds the bufio.Reader, refusing answers whose headers exceed
// directMaxHeaderBytes.
func (c *directConn) Read(p []byte) (int, error) {
	if c.readLimit <= 0 {
		return 0, fmt.Errorf("answer headers larger than %d bytes", directMaxHeaderBytes)
	}
	if int64(len(p)) > c.readLimit {
		p = p[:c.readLimit]
	}
	n, err := c.conn.Read(p)
	c.readLimit -= int64(n)
	return n, err
}

// abort unblocks the connection's I/O (the request context ended).
func (c *directConn) abort() { _ = c.conn.SetDeadline(aLongTimeAgo) }

func (c *directConn) close() { _ = c.conn.Close() }

// peek looks at the socket without consuming or waiting: called through
// RawConn.Read, it always reports done.
func (c *directConn) peek(fd uintptr) bool {
	c.peekN, _, c.peekErr = syscall.Recvfrom(int(fd), c.peekBuf[:], syscall.MSG_PEEK|syscall.MSG_DONTWAIT)
	return true
}

// usable reports whether an idle connection is still open and silent: the
// server neither closed it (EOF, reset) nor sent anything unasked.
func (c *directConn) usable() bool {
	if c.raw == nil {
		return true
	}
	if err := c.raw.Read(c.peekFn); err != nil {
		return false
	}
	return c.peekErr == syscall.EAGAIN
}

// CloseIdleConnections closes the idle connections. Connections of calls
// in flight are kept (and pooled when their call ends); the transport
// stays usable.
func (t *directTransport) CloseIdleConnections() {
	t.mu.Lock()
	idle := t.idle
	t.idle = make([]*directConn, 0, t.maxIdle)
	t.mu.Unlock()
	for _, c := range idle {
		c.close()
	}
}

// RoundTrip makes one HTTP/1.1 exchange on the calling goroutine. Its
// errors wrap errNotSent when no complete request can have reached the
// server, ctx.Err() when the request context ended the call, and
// context.DeadlineExceeded (with Timeout() true) when the transport's
// timeout did. The answer body must be read to EOF for the connection to
// be reused; closing it earlier closes the connection.
func (t *directTransport) RoundTrip(req *http.Request) (*http.Response, error) {
	ctx := req.Context()
	if err := t.checkTarget(req); err != nil {
		closeRequestBody(req)
		return nil, &directError{op: "request", err: err, notSent: true}
	}
	if err := ctx.Err(); err != nil {
		closeRequestBody(req)
		return nil, &directError{op: "before sending", cause: err, notSent: true}
	}
	now := time.Now()
	deadline, own := t.deadline(ctx, now)
	c, err := t.getConn(ctx, now, deadline, own)
	if err != nil {
		closeRequestBody(req)
		return nil, err
	}

	// The request, in one buffer.
	c.bbuf, err = readRequestBody(req, c.bbuf)
	if err != nil {
		t.putIdle(c)
		return nil, &directError{op: "reading the request body", err: err, notSent: true}
	}
	var closeAfter bool
	c.wbuf, closeAfter, err = appendRequest(c.wbuf[:0], req, c.bbuf)
	if err != nil {
		t.putIdle(c)
		return nil, &directError{op: "request", err: err, notSent: true}
	}

	var stop func() bool
	if ctx.Done() != nil {
		stop = context.AfterFunc(ctx, c.abortFn)
	}
	if n, err := c.conn.Write(c.wbuf); err != nil {
		c.close()
		stopAfterFunc(stop)
		// A short write leaves the server with an incomplete request, which
		// it cannot act on.
		return nil, t.fail(ctx, "sending the request", err, own, n < len(c.wbuf))
	}

	c.readLimit = directMaxHeaderBytes
	var resp *http.Response
	for {
		resp, err = http.ReadResponse(c.br, req)
		if err != nil {
			c.close()
			stopAfterFunc(stop)
			if err == io.EOF {
				err = errors.New("server closed the connection without answering (EOF)")
			}
			return nil, t.fail(ctx, "awaiting the answer", err, own, false)
		}
		// Informational answers (100 Continue, 103 Early Hints) precede the
		// real one; 101 is final.
		if resp.StatusCode < 100 || resp.StatusCode > 199 || resp.StatusCode == http.StatusSwitchingProtocols {
			break
		}
	}
	c.readLimit = math.MaxInt64

	keep := !resp.Close && !closeAfter && resp.ProtoMajor == 1 && resp.StatusCode != http.StatusSwitchingProtocols
	resp.TLS = c.tlsState
	if resp.Body == http.NoBody {
		t.release(c, stop, keep)
		return resp, nil
	}
	body := &directBody{t: t, c: c, rc: resp.Body, ctx: ctx, stop: stop, keep: keep, own: own}
	resp.Body = body
	if ce := resp.Header["Content-Encoding"]; len(ce) == 1 && strings.EqualFold(ce[0], "gzip") {
		// Not asked for, but decoded as http.Transport would.
		resp.Header.Del("Content-Encoding")
		resp.Header.Del("Content-Length")
		resp.ContentLength = -1
		resp.Uncompressed = true
		resp.Body = &directGzipBody{body: body}
	}
	return resp, nil
}

// checkTarget refuses a request for another origin than the endpoint's.
func (t *directTransport) checkTarget(req *http.Request) error {
	if req.URL == nil {
		return errors.New("http: nil Request.URL")
	}
	if req.URL.Scheme != t.scheme || !strings.EqualFold(req.URL.Host, t.host) {
		return fmt.Errorf("the transport serves only %s://%s, not %s://%s", t.scheme, t.host, req.URL.Scheme, req.URL.Host)
	}
	return nil
}

// deadline returns the deadline of a round trip starting now: the
// transport's timeout or ctx's deadline, whichever is earlier; own is true
// when it is the transport's.
func (t *directTransport) deadline(ctx context.Context, now time.Time) (d time.Time, own bool) {
	if t.timeout > 0 {
		d, own = now.Add(t.timeout), true
	}
	if cd, ok := ctx.Deadline(); ok && (d.IsZero() || cd.Before(d)) {
		d, own = cd, false
	}
	return d, own
}

// getConn returns an idle connection that is still open, or dials one. The
// connection's deadline is set to deadline.
func (t *directTransport) getConn(ctx context.Context, now, deadline time.Time, own bool) (*directConn, error) {
	for {
		t.mu.Lock()
		n := len(t.idle)
		if n == 0 {
			t.mu.Unlock()
			break
		}
		c := t.idle[n-1]
		t.idle[n-1] = nil
		t.idle = t.idle[:n-1]
		t.mu.Unlock()

		// Every reuse checks the connection is still open and silent (one
		// non-blocking peek, well under a microsecond): a connection the
		// server closed while idle would make the call in doubt, and bytes
		// it sent unasked (a wrong Content-Length) would be read as the
		// call's answer. The deadline is set first: RawConn.Read fails on an
		// expired one.
		if now.Sub(c.idleAt) > directMaxIdle || c.conn.SetDeadline(deadline) != nil || !c.usable() {
			c.close()
			continue
		}
		return c, nil
	}
	return t.dial(ctx, deadline, own)
}

// dial opens a new connection (TCP, then TLS for https). Its errors all
// wrap errNotSent.
func (t *directTransport) dial(ctx context.Context, deadline time.Time, own bool) (*directConn, error) {
	dctx := ctx
	if !deadline.IsZero() {
		var cancel context.CancelFunc
		dctx, cancel = context.WithDeadline(ctx, deadline)
		defer cancel()
	}
	nc, err := t.dialer.DialContext(dctx, "tcp", t.addr)
	if err != nil {
		// A *net.OpError with Op "dial".
		return nil, t.fail(ctx, "", err, own, true)
	}
	c := &directConn{t: t, conn: nc}
	if tc, ok := nc.(*net.TCPConn); ok {
		if raw, err := tc.SyscallConn(); err == nil {
			c.raw = raw
		}
	}
	if t.tlsConf != nil {
		tc := tls.Client(nc, t.tlsConf)
		if err := tc.HandshakeContext(dctx); err != nil {
			_ = nc.Close()
			return nil, t.fail(ctx, "TLS handshake with "+t.tlsConf.ServerName, err, own, true)
		}
		st := tc.ConnectionState()
		c.tlsState = &st
		c.conn = tc
	}
	if err := c.conn.SetDeadline(deadline); err != nil {
		c.close()
		return nil, t.fail(ctx, "setting the deadline", err, own, true)
	}
	c.br = bufio.NewReaderSize(c, directReadBufSize)
	c.abortFn = c.abort
	c.peekFn = c.peek
	return c, nil
}

// putIdle returns a healthy connection to the pool, or closes it when the
// pool is full. It also closes the oldest idle connection once it is past
// directMaxIdle.
func (t *directTransport) putIdle(c *directConn) {
	if cap(c.wbuf) > directMaxKeptBuf {
		c.wbuf = nil
	}
	if cap(c.bbuf) > directMaxKeptBuf {
		c.bbuf = nil
	}
	c.idleAt = time.Now()
	var old *directConn
	t.mu.Lock()
	n := len(t.idle)
	if n >= t.maxIdle {
		t.mu.Unlock()
		c.close()
		return
	}
	if n > 0 && c.idleAt.Sub(t.idle[0].idleAt) > directMaxIdle {
		old = t.idle[0]
		copy(t.idle, t.idle[1:])
		t.idle[n-1] = nil
		t.idle = t.idle[:n-1]
	}
	t.idle = append(t.idle, c)
	t.mu.Unlock()
	if old != nil {
		old.close()
	}
}

// release ends a call whose answer was read completely: the connection is
// pooled when keep-alive is allowed, nothing unasked was received, and the
// context's AfterFunc could be stopped (once it has run, the connection may
// carry a past deadline).
func (t *directTransport) release(c *directConn, stop func() bool, keep bool) {
	if stop != nil && !stop() {
		keep = false
	}
	if keep && c.br.Buffered() == 0 {
		t.putIdle(c)
		return
	}
	c.close()
}

func stopAfterFunc(stop func() bool) {
	if stop != nil {
		stop()
	}
}

// fail builds the error of a failed round trip. own says the connection's
// deadline was the transport's timeout rather than ctx's deadline.
func (t *directTransport) fail(ctx context.Context, op string, err error, own, notSent bool) error {
	e := &directError{op: op, err: err, notSent: notSent}
	if cerr := ctx.Err(); cerr != nil {
		e.cause = cerr
	} else if errors.Is(err, os.ErrDeadlineExceeded) || errors.Is(err, context.DeadlineExceeded) {
		// The connection's deadline: the transport's timeout, or ctx's
		// deadline whose own timer has not fired yet.
		e.cause = context.DeadlineExceeded
		if own {
			e.timeout = t.timeout
		}
	}
	return e
}

// directError is an error of the direct transport. It unwraps to the
// underlying error, to the context's error (or context.DeadlineExceeded on
// a timeout), and to errNotSent when no complete request can have reached
// the server.
type directError struct {
	op      string        // what failed; "" when err says it (dial)
	err     error         // the underlying error, may be nil
	cause   error         // ctx.Err(), or context.DeadlineExceeded on a timeout
	timeout time.Duration // the transport's timeout, when that ended the call
	notSent bool
}

func (e *directError) Error() string {
	var b strings.Builder
	b.WriteString("cardapi: ")
	if e.notSent {
		b.WriteString("request not sent: ")
	}
	if e.op != "" {
		b.WriteString(e.op)
		b.WriteString(": ")
	}
	switch {
	case e.cause == nil:
		b.WriteString(e.err.Error())
	case e.timeout > 0 && e.op != "":
		b.WriteString("no complete answer within the client's timeout of ")
		b.WriteString(e.timeout.String())
		b.WriteString(" (" + e.cause.Error() + ")")
	default:
		b.WriteString(e.cause.Error())
		// The I/O error our own deadline caused says nothing more.
		if e.err != nil && !errors.Is(e.err, os.ErrDeadlineExceeded) {
			b.WriteString(" (" + e.err.Error() + ")")
		}
	}
	return b.String()
}

func (e *directError) Unwrap() []error {
	errs := make([]error, 0, 3)
	for _, err := range []error{e.err, e.cause} {
		if err != nil {
			errs = append(errs, err)
		}
	}
	if e.notSent {
		errs = append(errs, errNotSent)
	}
	return errs
}

// Timeout reports whether a deadline ended the call (http.Client's
// url.Error asks its Err directly).
func (e *directError) Timeout() bool {
	if e.cause != nil {
		return e.cause == context.DeadlineExceeded
	}
	var ne net.Error
	return errors.As(e.err, &ne) && ne.Timeout()
}

// directBody is an answer body. Reading it to EOF returns the connection to
// the pool (when keep-alive is allowed); closing it earlier closes the
// connection without draining it. Close is idempotent and may be called
// concurrently with Read.
type directBody struct {
	t     *directTransport
	c     *directConn
	rc    io.Reader // the body reader of http.ReadResponse
	ctx   context.Context
	stop  func() bool // stops the context's AfterFunc; may be nil
	keep  bool
	own   bool
	state atomic.Int32 // bodyOpen, bodyDone (EOF or error), bodyClosed
	err   error        // once done: io.EOF or the read error (Read only)
}

const (
	bodyOpen int32 = iota
	bodyDone
	bodyClosed
)

func (b *directBody) Read(p []byte) (int, error) {
	switch b.state.Load() {
	case bodyDone:
		return 0, b.err
	case bodyClosed:
		return 0, errClosedBody
	}
	n, err := b.rc.Read(p)
	switch {
	case err == nil:
		return n, nil
	case err == io.EOF:
		if b.state.CompareAndSwap(bodyOpen, bodyDone) {
			b.err = io.EOF
			b.t.release(b.c, b.stop, b.keep)
		}
		return n, io.EOF
	default:
		err = b.t.fail(b.ctx, "reading the answer body", err, b.own, false)
		if b.state.CompareAndSwap(bodyOpen, bodyDone) {
			b.err = err
			b.c.close()
			stopAfterFunc(b.stop)
		}
		return n, err
	}
}

func (b *directBody) Close() error {
	if b.state.Swap(bodyClosed) == bodyOpen {
		// Not read to its end: what is left would have to be read before
		// the connection could carry another call.
		b.c.close()
		stopAfterFunc(b.stop)
	}
	return nil
}

// directGzipBody decodes a gzip answer lazily.
type directGzipBody struct {
	body *directBody
	zr   *gzip.Reader
	err  error
}

func (g *directGzipBody) Read(p []byte) (int, error) {
	if g.zr == nil {
		if g.err == nil {
			g.zr, g.err = gzip.NewReader(g.body)
		}
		if g.err != nil {
			return 0, g.err
		}
	}
	return g.zr.Read(p)
}

func (g *directGzipBody) Close() error { return g.body.Close() }

func closeRequestBody(req *http.Request) {
	if req.Body != nil {
		_ = req.Body.Close()
	}
}

// readRequestBody reads and closes req.Body into dst (reused).
func readRequestBody(req *http.Request, dst []byte) ([]byte, error) {
	dst = dst[:0]
	if req.Body == nil || req.Body == http.NoBody {
		return dst, nil
	}
	defer req.Body.Close()
	if want := req.ContentLength + 1; want > 1 && int64(cap(dst)) < want {
		// One byte more than announced: the read that finds EOF needs room.
		dst = make([]byte, 0, want)
	}
	for {
		if len(dst) == cap(dst) {
			dst = append(dst, 0)[:len(dst)]
		}
		n, err := req.Body.Read(dst[len(dst):cap(dst)])
		dst = dst[:len(dst)+n]
		if err == io.EOF {
			break
		}
		if err != nil {
			return dst, err
		}
	}
	if req.ContentLength > 0 && int64(len(dst)) != req.ContentLength {
		return dst, fmt.Errorf("http: ContentLength=%d with Body length %d", req.ContentLength, len(dst))
	}
	return dst, nil
}

// appendRequest appends the HTTP/1.1 request req with body to b. It
// refuses a method, target, host or header that could break the framing
// (CR, LF and other control characters), as http.Transport does. It
// reports whether the request asks for the connection to be closed.
func appendRequest(b []byte, req *http.Request, body []byte) ([]byte, bool, error) {
	method := req.Method
	if method == "" {
		method = http.MethodGet
	}
	if !validToken(method) {
		return b, false, fmt.Errorf("net/http: invalid method %q", method)
	}
	target := req.URL.RequestURI()
	if !validFieldValue(target) || strings.ContainsAny(target, " \t") {
		return b, false, errors.New("net/http: invalid request target")
	}
	host := req.Host
	if host == "" {
		host = req.URL.Host
	}
	if !validFieldValue(host) {
		return b, false, errors.New("http: invalid Host header")
	}
	b = append(b, method...)
	b = append(b, ' ')
	b = append(b, target...)
	b = append(b, " HTTP/1.1\r\nHost: "...)
	b = append(b, host...)
	b = append(b, "\r\n"...)

	closeAfter := req.Close
	hasUA := false
	for k, vs := range req.Header {
		switch k {
		case "Host", "Content-Length", "Transfer-Encoding", "Trailer":
			continue // written from the request's fields
		case "User-Agent":
			hasUA = true
		case "Connection":
			for _, v := range vs {
				closeAfter = closeAfter || hasToken(v, "close")
			}
		}
		if !validToken(k) {
			return b, false, fmt.Errorf("net/http: invalid header field name %q", k)
		}
		for _, v := range vs {
			v = strings.Trim(v, " \t")
			if !validFieldValue(v) {
				return b, false, fmt.Errorf("net/http: invalid header field value for %q", k)
			}
			if k == "User-Agent" && v == "" {
				continue // an empty User-Agent means none, as in net/http
			}
			b = append(b, k...)
			b = append(b, ": "...)
			b = append(b, v...)
			b = append(b, "\r\n"...)
		}
	}
	if !hasUA {
		b = append(b, "User-Agent: Go-http-client/1.1\r\n"...)
	}
	if req.Close {
		b = append(b, "Connection: close\r\n"...)
	}
	if len(body) > 0 || method != http.MethodGet && method != http.MethodHead {
		b = append(b, "Content-Length: "...)
		b = strconv.AppendInt(b, int64(len(body)), 10)
		b = append(b, "\r\n"...)
	}
	b = append(b, "\r\n"...)
	b = append(b, body...)
	return b, closeAfter, nil
}

// validToken reports whether s is a non-empty RFC 9110 token (a method or
// a header name).
func validToken(s string) bool {
	if s == "" {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case c >= 'a' && c <= 'z', c >= 'A' && c <= 'Z', c >= '0' && c <= '9':
		case strings.IndexByte("!#$%&'*+-.^_`|~", c) >= 0:
		default:
			return false
		}
	}
	return true
}

// validFieldValue reports whether s holds no control character other than
// a horizontal tab (in particular no CR or LF).
func validFieldValue(s string) bool {
	for i := 0; i < len(s); i++ {
		if c := s[i]; c < ' ' && c != '\t' || c == 0x7f {
			return false
		}
	}
	return true
}

// hasToken reports whether the comma-separated list v contains token
// (case-insensitive).
func hasToken(v, token string) bool {
	for v != "" {
		var item string
		item, v, _ = strings.Cut(v, ",")
		if strings.EqualFold(strings.TrimSpace(item), token) {
			return true
		}
	}
	return false
}
