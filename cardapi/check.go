package cardapi

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptrace"
	"strconv"
	"sync/atomic"
	"time"

	"cardbatch/billing"
)

// Check makes one call for card and classifies it into exactly one Kind, as
// documented on Kind and Outcome. It blocks until the answer has been read,
// the call failed, the client's timeout passed or ctx is done; it never
// panics on a bad answer. When ctx ends the call, the outcome is
// KindRetryable and errors.Is(o.Err, ctx.Err()) holds. No field of the
// Outcome contains card or the token: occurrences in the server's texts are
// masked.
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

// writeTrace tells, through httptrace, whether the transport wrote the
// current request whole. GetConn starts each attempt (a redirect, or the
// transport's own retry of a request it did not write) afresh.
type writeTrace struct {
	wrote atomic.Bool
}

func (w *writeTrace) getConn(string) { w.wrote.Store(false) }

func (w *writeTrace) wroteRequest(info httptrace.WroteRequestInfo) { w.wrote.Store(info.Err == nil) }

func (c *Client) check(ctx context.Context, card string) Outcome {
	if err := ctx.Err(); err != nil {
		return Outcome{Kind: KindRetryable, Billing: billing.None, Err: fmt.Errorf("cardapi: call not sent: %w", err)}
	}
	body, err := c.requestBody(card)
	if err != nil {
		// Only a failing crypto/rand can get here; the error names no card.
		return Outcome{Kind: KindFatal, Billing: billing.None, Err: err}
	}
	rctx, cancel := context.WithTimeout(ctx, c.timeout)
	defer cancel()
	wt := &writeTrace{}
	rctx = httptrace.WithClientTrace(rctx, &httptrace.ClientTrace{GetConn: wt.getConn, WroteRequest: wt.wroteRequest})
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
		sent := wt.wrote.Load() || !c.traced && !dialError(err)
		return c.failed(ctx, rctx, err, sent, 0, time.Since(start))
	}
	data, rerr := io.ReadAll(io.LimitReader(resp.Body, c.maxBody+1))
	resp.Body.Close()
	latency := time.Since(start)
	if rerr != nil && resp.StatusCode == http.StatusOK {
		// The answer was lost mid-body: the call may have been charged.
		return c.failed(ctx, rctx, fmt.Errorf("cardapi: reading the HTTP 200 answer: %w", rerr), true, resp.StatusCode, latency)
	}
	if rerr != nil {
		rerr = fmt.Errorf("cardapi: reading the HTTP %d answer: %w", resp.StatusCode, c.timedOut(ctx, rctx, rerr))
	}
	o := Outcome{HTTPStatus: resp.StatusCode, Sent: true, Latency: latency}
	c.classify(&o, resp.Header, data, rerr, card)
	return o
}

// classify fills o's Kind, Billing and texts from a complete answer (or one
// whose body could not be read whole, rerr): data is at most maxBody+1 bytes.
func (c *Client) classify(o *Outcome, h http.Header, data []byte, rerr error, card string) {
	tooLarge := int64(len(data)) > c.maxBody
	switch st := o.HTTPStatus; {
	case st == http.StatusOK && tooLarge:
		o.Kind, o.Billing, o.Excerpt = KindProtocol, billing.Unknown, c.tooLargeExcerpt()
	case st == http.StatusOK:
		c.decodeAnswer(o, data, card)
	case st == http.StatusTooManyRequests || st >= 500 && st <= 599:
		o.Kind, o.Billing = KindRetryable, billing.Free
		o.RetryAfter = parseRetryAfter(h.Get("Retry-After"), c.now())
		c.decodeError(o, data, card, tooLarge, rerr)
	case st >= 400 && st <= 499:
		o.Kind, o.Billing = KindFatal, billing.Free
		c.decodeError(o, data, card, tooLarge, rerr)
	default:
		// 1xx, 3xx (a redirect that was not followed) and other 2xx. A 2xx
		// other than 200 may have been processed and billed: in doubt.
		o.Kind, o.Billing, o.Err = KindProtocol, billing.Free, rerr
		if st >= 200 && st <= 299 {
			o.Billing = billing.Unknown
		}
		switch loc := h.Get("Location"); {
		case st >= 300 && st <= 399 && loc != "":
			o.Excerpt = c.excerpt([]byte("redirect not followed (only up to 3, to the same host): Location: "+loc), card)
		case tooLarge:
			o.Excerpt = c.tooLargeExcerpt()
		default:
			o.Excerpt = c.excerpt(data, card)
		}
	}
}

// failed is the outcome of a call that got no complete answer: retryable,
// in doubt when the request may have been sent. Err wraps ctx's error when
// ctx ended the call, and says so when the client's timeout (rctx's
// deadline) did.
func (c *Client) failed(ctx, rctx context.Context, err error, sent bool, status int, latency time.Duration) Outcome {
	err = c.timedOut(ctx, rctx, err)
	if cerr := ctx.Err(); cerr != nil && !errors.Is(err, cerr) {
		err = fmt.Errorf("%w: %w", cerr, err)
	}
	o := Outcome{Kind: KindRetryable, HTTPStatus: status, Sent: sent, Billing: billing.None, Err: err, Latency: latency}
	if sent {
		o.Billing = billing.Unknown
	}
	return o
}

// timedOut wraps err with the client's timeout when the call's own deadline
// (rctx), not the caller's ctx, ended it.
func (c *Client) timedOut(ctx, rctx context.Context, err error) error {
	if ctx.Err() == nil && rctx.Err() != nil {
		return fmt.Errorf("cardapi: no complete answer within %v (the per-call timeout): %w", c.timeout, err)
	}
	return err
}

// dialError reports whether a transport error shows that no connection
// was made (dial or DNS failure, refused connection, proxy failure), so no
// request can have reached the API. Used only for a transport that does
// not report to httptrace.
func dialError(err error) bool {
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
