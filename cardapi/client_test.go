package cardapi

import (
	"context"
	"crypto/tls"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
	"unicode/utf8"

	"cardbatch/billing"
)

const (
	testCard  = "6222020200112233445"
	testToken = "tok-9f8e7d6c5b4a"
)

// newServer starts an httptest server whose handler can be swapped between
// subtests.
type swapServer struct {
	*httptest.Server
	h atomic.Pointer[http.HandlerFunc]
}

func newSwapServer(t *testing.T) *swapServer {
	t.Helper()
	s := &swapServer{}
	s.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		(*s.h.Load())(w, r)
	}))
	t.Cleanup(s.Close)
	return s
}

func (s *swapServer) set(h http.HandlerFunc) { s.h.Store(&h) }

func newClient(t testing.TB, endpoint string, mod func(*Config)) *Client {
	t.Helper()
	cfg := Config{Endpoint: endpoint, Token: testToken, Timeout: 5 * time.Second}
	if mod != nil {
		mod(&cfg)
	}
	c, err := New(cfg)
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	t.Cleanup(c.Close)
	return c
}

// assertClean fails when any text of o contains the card or the token.
func assertClean(t *testing.T, o Outcome, card string) {
	t.Helper()
	texts := map[string]string{
		"Excerpt": o.Excerpt, "Code": o.Code, "Message": o.Message, "TraceID": o.TraceID,
		"Result": o.Answer.Result, "Description": o.Answer.Description, "AccountBank": o.Answer.AccountBank,
	}
	if o.Err != nil {
		texts["Err"] = o.Err.Error()
	}
	for name, s := range texts {
		if card != "" && strings.Contains(s, card) {
			t.Errorf("%s contains the card number: %q", name, s)
		}
		if strings.Contains(s, testToken) {
			t.Errorf("%s contains the token: %q", name, s)
		}
	}
	if len(o.Excerpt) > excerptLimit || !utf8.ValidString(o.Excerpt) {
		t.Errorf("Excerpt not a short valid string: %q", o.Excerpt)
	}
}

func errBody(code, msg string, successFalse bool) string {
	if successFalse {
		return fmt.Sprintf(`{"success":false,"error":{"code":%q,"message":%q},"trace_id":"2efa9340-aa"}`, code, msg)
	}
	return fmt.Sprintf(`{"error":{"code":%q,"message":%q},"trace_id":"2efa9340-aa"}`, code, msg)
}

type answerCase struct {
	name   string
	status int
	header map[string]string
	body   string

	kind       Kind
	bill       billing.Class
	result     string
	desc       string
	bank       string
	acct       int
	code       string
	msg        string
	traceID    string
	retryAfter time.Duration
	excerpt    string // Excerpt must contain it; "" means Excerpt must be empty
}

func answerCases(now time.Time) []answerCase {
	const okBody = `{"result": "0", "description": "Query successful", "account_bank": "Industrial and Commercial Bank of China", "account_type": 1}`
	cases := []answerCase{
		// The result-code table.
		{name: "result 0", status: 200, body: okBody, kind: KindAnswer, bill: billing.Charged, result: "0",
			desc: "Query successful", bank: "Industrial and Commercial Bank of China", acct: 1},
		{name: "result -1", status: 200, body: `{"result":"-1","description":"No information found"}`,
			kind: KindAnswer, bill: billing.Charged, result: "-1", desc: "No information found"},
		{name: "result -2 busy", status: 200, body: `{"result":"-2","description":"service busy","account_bank":"","account_type":null}`,
			kind: KindRetryable, bill: billing.Free, result: "-2", desc: "service busy"},
		{name: "result -3", status: 200, body: `{"result":"-3","description":"bank card does not exist"}`,
			kind: KindAnswer, bill: billing.Free, result: "-3", desc: "bank card does not exist"},
		{name: "result -4 undocumented", status: 200, body: `{"result":"-4","description":"daily limit"}`,
			kind: KindAnswer, bill: billing.Unknown, result: "-4", desc: "daily limit"},
		{name: "result -5 undocumented", status: 200, body: `{"result":"-5","description":"invalid card number"}`,
			kind: KindAnswer, bill: billing.Unknown, result: "-5", desc: "invalid card number"},
		{name: "result -6 undocumented", status: 200, body: `{"result":"-6"}`,
			kind: KindAnswer, bill: billing.Unknown, result: "-6"},
		// Lenient field types.
		{name: "result as number 0", status: 200, body: `{"result":0,"account_type":2,"account_bank":"China Merchants Bank"}`,
			kind: KindAnswer, bill: billing.Charged, result: "0", bank: "China Merchants Bank", acct: 2},
		{name: "result as number -2", status: 200, body: `{"result":-2}`, kind: KindRetryable, bill: billing.Free, result: "-2"},
		{name: "result as number -3.0", status: 200, body: `{"result":-3.0}`, kind: KindAnswer, bill: billing.Free, result: "-3"},
		{name: "account_type as string", status: 200, body: `{"result":"0","account_type":"3"}`,
			kind: KindAnswer, bill: billing.Charged, result: "0", acct: 3},
		{name: "account_type empty string", status: 200, body: `{"result":"0","account_type":""}`,
			kind: KindAnswer, bill: billing.Charged, result: "0"},
		{name: "account_type garbage ignored", status: 200, body: `{"result":"0","account_type":"debit"}`,
			kind: KindAnswer, bill: billing.Charged, result: "0"},
		{name: "missing optional fields", status: 200, body: `{"result":"-1"}`, kind: KindAnswer, bill: billing.Charged, result: "-1"},
		{name: "escaped unicode description", status: 200, body: `{"result":"0","description":"\u67e5\u8be2\u6210\u529f","extra":{"x":[1,2]}}`,
			kind: KindAnswer, bill: billing.Charged, result: "0", desc: "查询成功"},
		{name: "byte order mark", status: 200, body: "\ufeff" + `{"result":"-1"}`, kind: KindAnswer, bill: billing.Charged, result: "-1"},
		{name: "error json after white space", status: 401, body: "\r\n " + errBody("invalid_token", "bad", false), kind: KindFatal, bill: billing.Free,
			code: "invalid_token", msg: "bad", traceID: "2efa9340-aa"},
		{name: "error field of another shape", status: 403, body: `{"error":"forbidden"}`, kind: KindFatal, bill: billing.Free,
			excerpt: `{"error":"forbidden"}`},
		{name: "description echoes the card", status: 200, body: `{"result":"0","description":"card ` + testCard + ` ok"}`,
			kind: KindAnswer, bill: billing.Charged, result: "0", desc: "card 622202*********3445 ok"},

		// Protocol errors on HTTP 200: in doubt.
		{name: "200 html", status: 200, header: map[string]string{"Content-Type": "text/html"},
			body: "<html>\r\n<body>\tMaintenance</body></html>", kind: KindProtocol, bill: billing.Unknown, excerpt: "<html> <body> Maintenance</body></html>"},
		{name: "200 truncated json", status: 200, body: `{"result":"0","descr`, kind: KindProtocol, bill: billing.Unknown, excerpt: `{"result":"0","descr`},
		{name: "200 empty body", status: 200, body: "", kind: KindProtocol, bill: billing.Unknown, excerpt: "(empty body)"},
		{name: "200 json array", status: 200, body: `[{"result":"0"}]`, kind: KindProtocol, bill: billing.Unknown, excerpt: `[{"result":"0"}]`},
		{name: "200 object without result", status: 200, body: `{"description":"ok"}`, kind: KindProtocol, bill: billing.Unknown, excerpt: `{"description":"ok"}`},
		{name: "200 result null", status: 200, body: `{"result":null}`, kind: KindProtocol, bill: billing.Unknown, excerpt: "null"},
		{name: "200 result empty", status: 200, body: `{"result":""}`, kind: KindProtocol, bill: billing.Unknown, excerpt: `""`},
		{name: "200 result bool", status: 200, body: `{"result":true}`, kind: KindProtocol, bill: billing.Unknown, excerpt: "true"},
		{name: "200 result object", status: 200, body: `{"result":{"code":"0"}}`, kind: KindProtocol, bill: billing.Unknown, excerpt: "code"},
		{name: "200 json null", status: 200, body: `null`, kind: KindProtocol, bill: billing.Unknown, excerpt: "null"},
		{name: "200 trailing garbage", status: 200, body: `{"result":"0"} x`, kind: KindProtocol, bill: billing.Unknown, excerpt: "x"},
		{name: "200 error json", status: 200, body: errBody("api_error", "oops", true), kind: KindProtocol, bill: billing.Unknown,
			code: "api_error", msg: "oops", traceID: "2efa9340-aa", excerpt: "api_error"},
		{name: "200 html echoing card and token", status: 200,
			body: "<pre>bank_card=" + testCard + "\nauthorization: Bearer " + testToken + "</pre>",
			kind: KindProtocol, bill: billing.Unknown, excerpt: "bank_card=622202*********3445 authorization: Bearer [redacted]"},
		{name: "200 body exactly at the limit", status: 200, body: `{"result":"0"}` + strings.Repeat(" ", 4096-14),
			kind: KindAnswer, bill: billing.Charged, result: "0"},
		{name: "200 body over the limit", status: 200, body: `{"result":"0"}` + strings.Repeat(" ", 4096),
			kind: KindProtocol, bill: billing.Unknown, excerpt: "response body larger than 4096 bytes"},

		// 429 and Retry-After.
		{name: "429 too_many_requests seconds", status: 429, header: map[string]string{"Retry-After": "2"},
			body: errBody("too_many_requests", "Too many requests", false), kind: KindRetryable, bill: billing.Free,
			code: "too_many_requests", msg: "Too many requests", traceID: "2efa9340-aa", retryAfter: 2 * time.Second},
		{name: "429 rate_limited fractional", status: 429, header: map[string]string{"Retry-After": "1.5"},
			body: errBody("rate_limited", "slow down", true), kind: KindRetryable, bill: billing.Free,
			code: "rate_limited", msg: "slow down", traceID: "2efa9340-aa", retryAfter: 1500 * time.Millisecond},
		{name: "429 http-date", status: 429, header: map[string]string{"Retry-After": now.Add(45 * time.Second).UTC().Format(http.TimeFormat)},
			body: errBody("too_many_requests", "", false), kind: KindRetryable, bill: billing.Free,
			code: "too_many_requests", traceID: "2efa9340-aa", retryAfter: 45 * time.Second},
		{name: "429 garbage retry-after", status: 429, header: map[string]string{"Retry-After": "soon"},
			body: errBody("too_many_requests", "", false), kind: KindRetryable, bill: billing.Free, code: "too_many_requests", traceID: "2efa9340-aa"},
		{name: "429 huge retry-after clamped", status: 429, header: map[string]string{"Retry-After": "86400"},
			body: errBody("too_many_requests", "", false), kind: KindRetryable, bill: billing.Free, code: "too_many_requests", traceID: "2efa9340-aa",
			retryAfter: MaxRetryAfter},
		{name: "429 without body or header", status: 429, kind: KindRetryable, bill: billing.Free, excerpt: "(empty body)"},

		// 5xx.
		{name: "500 api_error", status: 500, body: errBody("api_error", "internal error", false), kind: KindRetryable, bill: billing.Free,
			code: "api_error", msg: "internal error", traceID: "2efa9340-aa"},
		{name: "502 html from proxy", status: 502, header: map[string]string{"Content-Type": "text/html"},
			body: "<html>\r\n<head><title>502 Bad Gateway</title></head>\r\n<body>\r\n<center><h1>502 Bad Gateway</h1></center>\r\n<hr><center>nginx</center>\r\n</body>\r\n</html>\r\n",
			kind: KindRetryable, bill: billing.Free, excerpt: "<title>502 Bad Gateway</title>"},
		{name: "503 timeout with retry-after", status: 503, header: map[string]string{"Retry-After": "3"},
			body: errBody("timeout", "upstream timeout", true), kind: KindRetryable, bill: billing.Free,
			code: "timeout", msg: "upstream timeout", traceID: "2efa9340-aa", retryAfter: 3 * time.Second},
		{name: "504 timeout", status: 504, body: errBody("timeout", "gateway timeout", false), kind: KindRetryable, bill: billing.Free,
			code: "timeout", msg: "gateway timeout", traceID: "2efa9340-aa"},
		{name: "501 other 5xx", status: 501, body: "not implemented", kind: KindRetryable, bill: billing.Free, excerpt: "not implemented"},
		{name: "599 other 5xx", status: 599, body: "", kind: KindRetryable, bill: billing.Free, excerpt: "(empty body)"},
		{name: "502 html echoing the token", status: 502, body: "<p>Bearer " + testToken + "</p>", kind: KindRetryable, bill: billing.Free,
			excerpt: "<p>Bearer [redacted]</p>"},
		{name: "503 body over the limit", status: 503, body: strings.Repeat("x", 5000), kind: KindRetryable, bill: billing.Free,
			excerpt: "response body larger than 4096 bytes"},

		// Other 4xx.
		{name: "400 non-json", status: 400, body: "Bad Request", kind: KindFatal, bill: billing.Free, excerpt: "Bad Request"},
		{name: "400 message echoes the card", status: 400, body: errBody("bad_request", "bad card "+testCard, false),
			kind: KindFatal, bill: billing.Free, code: "bad_request", msg: "bad card 622202*********3445", traceID: "2efa9340-aa"},
		{name: "405 other 4xx", status: 405, body: errBody("method_not_allowed", "no", false), kind: KindFatal, bill: billing.Free,
			code: "method_not_allowed", msg: "no", traceID: "2efa9340-aa"},
		{name: "418 other 4xx non-json", status: 418, body: "teapot", kind: KindFatal, bill: billing.Free, excerpt: "teapot"},

		// Other statuses.
		{name: "304 not modified", status: 304, kind: KindProtocol, bill: billing.Free, excerpt: "(empty body)"},
		{name: "201 created", status: 201, body: `{"result":"0"}`, kind: KindProtocol, bill: billing.Unknown, excerpt: `{"result":"0"}`},
		{name: "204 no content", status: 204, kind: KindProtocol, bill: billing.Unknown, excerpt: "(empty body)"},
	}
	// The error table of check-1e.md, in both documented body forms.
	for _, e := range []struct {
		status int
		code   string
	}{
		{400, "token_mismatched"}, {401, "token_mismatched"}, {400, "api_not_implemented"}, {400, "bad_request"},
		{400, "no_token"}, {401, "invalid_token"}, {401, "token_expired"}, {403, "used_up"}, {403, "disabled"},
		{403, "forbidden"}, {404, "no_api"},
	} {
		for _, sf := range []bool{false, true} {
			cases = append(cases, answerCase{
				name: fmt.Sprintf("%d %s success:false=%v", e.status, e.code, sf), status: e.status,
				body: errBody(e.code, "message of "+e.code, sf), kind: KindFatal, bill: billing.Free,
				code: e.code, msg: "message of " + e.code, traceID: "2efa9340-aa",
			})
		}
	}
	return cases
}

func TestCheckClassification(t *testing.T) {
	srv := newSwapServer(t)
	now := time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)
	c := newClient(t, srv.URL, func(cfg *Config) { cfg.MaxBodyBytes = 4096 })
	c.now = func() time.Time { return now }

	for _, tc := range answerCases(now) {
		t.Run(tc.name, func(t *testing.T) {
			srv.set(func(w http.ResponseWriter, r *http.Request) {
				io.Copy(io.Discard, r.Body)
				for k, v := range tc.header {
					w.Header().Set(k, v)
				}
				if _, ok := tc.header["Content-Type"]; !ok && tc.body != "" {
					w.Header().Set("Content-Type", "application/json")
				}
				w.WriteHeader(tc.status)
				io.WriteString(w, tc.body)
			})
			o := c.Check(context.Background(), testCard)
			assertClean(t, o, testCard)
			if o.Kind != tc.kind || o.Billing != tc.bill {
				t.Errorf("Kind, Billing = %v, %v; want %v, %v (outcome %+v)", o.Kind, o.Billing, tc.kind, tc.bill, o)
			}
			if o.HTTPStatus != tc.status || !o.Sent || o.Err != nil {
				t.Errorf("HTTPStatus, Sent, Err = %d, %v, %v; want %d, true, nil", o.HTTPStatus, o.Sent, o.Err, tc.status)
			}
			want := Answer{Result: tc.result, Description: tc.desc, AccountBank: tc.bank, AccountType: tc.acct}
			if o.Answer != want {
				t.Errorf("Answer = %+v; want %+v", o.Answer, want)
			}
			if o.Code != tc.code || o.Message != tc.msg || o.TraceID != tc.traceID {
				t.Errorf("Code, Message, TraceID = %q, %q, %q; want %q, %q, %q", o.Code, o.Message, o.TraceID, tc.code, tc.msg, tc.traceID)
			}
			if o.RetryAfter != tc.retryAfter {
				t.Errorf("RetryAfter = %v; want %v", o.RetryAfter, tc.retryAfter)
			}
			if tc.excerpt == "" && o.Excerpt != "" || !strings.Contains(o.Excerpt, tc.excerpt) {
				t.Errorf("Excerpt = %q; want it to contain %q", o.Excerpt, tc.excerpt)
			}
			if o.Latency <= 0 {
				t.Errorf("Latency = %v; want > 0", o.Latency)
			}
			wantDoubt := tc.bill == billing.Unknown && tc.kind != KindAnswer
			if o.InDoubt() != wantDoubt {
				t.Errorf("InDoubt = %v; want %v", o.InDoubt(), wantDoubt)
			}
		})
	}
}

func TestCheckRequest(t *testing.T) {
	for _, tc := range []struct {
		name, token, card, wantBody string
	}{
		{"with token", testToken, testCard, `{"bank_card":"6222020200112233445"}`},
		{"token trimmed", " " + testToken + "\n", testCard, `{"bank_card":"6222020200112233445"}`},
		{"without token", "", "4111111111111111", `{"bank_card":"4111111111111111"}`},
		{"escaped card", testToken, `12"3\4<5>`, `{"bank_card":"12\"3\\4\u003c5\u003e"}`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var got struct {
				method, path, accept, ctype, ua string
				auth                            []string
				hasAuth                         bool
				body                            string
				contentLength                   int64
			}
			srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				b, _ := io.ReadAll(r.Body)
				got.method, got.path, got.body, got.contentLength = r.Method, r.URL.Path, string(b), r.ContentLength
				got.accept, got.ctype, got.ua = r.Header.Get("Accept"), r.Header.Get("Content-Type"), r.Header.Get("User-Agent")
				got.auth, got.hasAuth = r.Header["Authorization"]
				io.WriteString(w, `{"result":"0"}`)
			}))
			defer srv.Close()
			c := newClient(t, srv.URL+"/", func(cfg *Config) { cfg.Token = tc.token })
			o := c.Check(context.Background(), tc.card)
			if o.Kind != KindAnswer {
				t.Fatalf("outcome %+v", o)
			}
			if got.method != http.MethodPost || got.path != Path {
				t.Errorf("request line = %s %s; want POST %s", got.method, got.path, Path)
			}
			if got.accept != "application/json" || got.ctype != "application/json" || got.ua != DefaultUserAgent {
				t.Errorf("accept, content-type, user-agent = %q, %q, %q", got.accept, got.ctype, got.ua)
			}
			if tc.token == "" {
				if got.hasAuth {
					t.Errorf("authorization header sent without a token: %q", got.auth)
				}
			} else if len(got.auth) != 1 || got.auth[0] != "Bearer "+testToken {
				t.Errorf("authorization = %q; want [Bearer %s]", got.auth, testToken)
			}
			if got.body != tc.wantBody || got.contentLength != int64(len(tc.wantBody)) {
				t.Errorf("body = %s (length %d); want %s", got.body, got.contentLength, tc.wantBody)
			}
			var req Request
			if err := json.Unmarshal([]byte(got.body), &req); err != nil || req.BankCard != tc.card {
				t.Errorf("body decodes to %q, %v; want %q", req.BankCard, err, tc.card)
			}
		})
	}
}

type roundTripFunc func(*http.Request) (*http.Response, error)

func (f roundTripFunc) RoundTrip(r *http.Request) (*http.Response, error) { return f(r) }

func TestCheckContext(t *testing.T) {
	arrived := make(chan struct{}, 1)
	release := make(chan struct{})
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		io.Copy(io.Discard, r.Body)
		arrived <- struct{}{}
		select {
		case <-r.Context().Done():
		case <-release:
		}
	}))
	defer srv.Close()
	defer close(release)
	c := newClient(t, srv.URL, nil)

	t.Run("cancelled in flight", func(t *testing.T) {
		ctx, cancel := context.WithCancel(context.Background())
		go func() { <-arrived; cancel() }()
		o := c.Check(ctx, testCard)
		assertClean(t, o, testCard)
		if !errors.Is(o.Err, context.Canceled) {
			t.Errorf("Err = %v; want context.Canceled", o.Err)
		}
		if o.Kind != KindRetryable || !o.Sent || o.Billing != billing.Unknown {
			t.Errorf("outcome %+v; want retryable, sent, in doubt", o)
		}
	})
	t.Run("deadline in flight", func(t *testing.T) {
		ctx, cancel := context.WithTimeout(context.Background(), 100*time.Millisecond)
		defer cancel()
		o := c.Check(ctx, testCard)
		<-arrived
		if !errors.Is(o.Err, context.DeadlineExceeded) || o.Kind != KindRetryable || o.Billing != billing.Unknown {
			t.Errorf("outcome %+v; want retryable in doubt wrapping DeadlineExceeded", o)
		}
	})
	t.Run("cancelled while reading the body", func(t *testing.T) {
		srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			io.Copy(io.Discard, r.Body)
			w.Header().Set("Content-Length", "100")
			io.WriteString(w, `{"result":"0",`)
			w.(http.Flusher).Flush()
			select {
			case <-r.Context().Done():
			case <-release:
			}
		}))
		defer srv.Close()
		c := newClient(t, srv.URL, nil)
		ctx, cancel := context.WithTimeout(context.Background(), 100*time.Millisecond)
		defer cancel()
		o := c.Check(ctx, testCard)
		if !errors.Is(o.Err, context.DeadlineExceeded) || o.Kind != KindRetryable || o.Billing != billing.Unknown || o.HTTPStatus != 200 {
			t.Errorf("outcome %+v; want retryable HTTP 200 in doubt wrapping DeadlineExceeded", o)
		}
	})
	t.Run("transport error hiding the cancellation", func(t *testing.T) {
		c := newClient(t, "http://127.0.0.1:9", func(cfg *Config) {
			cfg.Transport = roundTripFunc(func(r *http.Request) (*http.Response, error) {
				<-r.Context().Done()
				return nil, errors.New("stream dropped")
			})
		})
		ctx, cancel := context.WithCancel(context.Background())
		time.AfterFunc(20*time.Millisecond, cancel)
		o := c.Check(ctx, testCard)
		if !errors.Is(o.Err, context.Canceled) || !strings.Contains(o.Err.Error(), "stream dropped") || o.Billing != billing.Unknown {
			t.Errorf("outcome %+v; want retryable in doubt wrapping Canceled and the transport error", o)
		}
	})
	t.Run("cancelled before the call", func(t *testing.T) {
		ctx, cancel := context.WithCancel(context.Background())
		cancel()
		o := c.Check(ctx, testCard)
		if !errors.Is(o.Err, context.Canceled) || o.Kind != KindRetryable || o.Sent || o.Billing != billing.None {
			t.Errorf("outcome %+v; want retryable, not sent, wrapping Canceled", o)
		}
	})
}

func TestRedirects(t *testing.T) {
	t.Run("other host not followed", func(t *testing.T) {
		var otherHits atomic.Int32
		var otherAuth atomic.Value
		other := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			otherHits.Add(1)
			otherAuth.Store(r.Header.Get("Authorization"))
			io.WriteString(w, `{"result":"0"}`)
		}))
		defer other.Close()
		for _, code := range []int{301, 302, 307, 308} {
			srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				http.Redirect(w, r, other.URL+Path, code)
			}))
			c := newClient(t, srv.URL, nil)
			o := c.Check(context.Background(), testCard)
			srv.Close()
			assertClean(t, o, testCard)
			if o.Kind != KindProtocol || o.HTTPStatus != code || o.Billing != billing.Free || !strings.Contains(o.Excerpt, "redirect not followed") {
				t.Errorf("%d: outcome %+v; want protocol with the redirect status", code, o)
			}
		}
		if n := otherHits.Load(); n != 0 {
			t.Errorf("the other host got %d requests (authorization %q); want none", n, otherAuth.Load())
		}
	})
	t.Run("same host followed", func(t *testing.T) {
		var movedAuth, movedBody string
		srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			b, _ := io.ReadAll(r.Body)
			if r.URL.Path == Path {
				http.Redirect(w, r, "/v2"+Path, http.StatusTemporaryRedirect)
				return
			}
			movedAuth, movedBody = r.Header.Get("Authorization"), string(b)
			io.WriteString(w, `{"result":"-3"}`)
		}))
		defer srv.Close()
		c := newClient(t, srv.URL, nil)
		o := c.Check(context.Background(), testCard)
		if o.Kind != KindAnswer || o.Answer.Result != "-3" {
			t.Errorf("outcome %+v; want the answer after the redirect", o)
		}
		if movedAuth != "Bearer "+testToken || movedBody != `{"bank_card":"`+testCard+`"}` {
			t.Errorf("redirected request: authorization %q, body %q", movedAuth, movedBody)
		}
	})
	t.Run("same host loop stops after 3", func(t *testing.T) {
		var hits atomic.Int32
		srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			n := hits.Add(1)
			http.Redirect(w, r, fmt.Sprintf("%s?n=%d", Path, n), http.StatusTemporaryRedirect)
		}))
		defer srv.Close()
		c := newClient(t, srv.URL, nil)
		o := c.Check(context.Background(), testCard)
		if o.Kind != KindProtocol || o.HTTPStatus != http.StatusTemporaryRedirect || o.Err != nil {
			t.Errorf("outcome %+v; want protocol 307", o)
		}
		if n := hits.Load(); n != 1+maxRedirects {
			t.Errorf("server saw %d requests; want %d", n, 1+maxRedirects)
		}
	})
}

func TestNew(t *testing.T) {
	for _, tc := range []struct {
		name, endpoint string
		wantURL        string
		wantErr        string
	}{
		{"default", "", DefaultEndpoint + Path, ""},
		{"https", "https://example.com", "https://example.com" + Path, ""},
		{"https trailing slash", "https://example.com/", "https://example.com" + Path, ""},
		{"https with prefix", "https://gw.example.com/proxy/", "https://gw.example.com/proxy" + Path, ""},
		{"full api url", "https://example.com" + Path, "https://example.com" + Path, ""},
		{"http loopback v4", "http://127.0.0.1:8080", "http://127.0.0.1:8080" + Path, ""},
		{"http loopback 127/8", "http://127.3.2.1:8080", "http://127.3.2.1:8080" + Path, ""},
		{"http loopback v6", "http://[::1]:8080", "http://[::1]:8080" + Path, ""},
		{"http localhost", "http://LocalHost:8080", "http://LocalHost:8080" + Path, ""},
		{"http remote", "http://example.com", "", "plain http is allowed only for a loopback address"},
		{"http remote ip", "http://10.0.0.1:8080", "", "plain http is allowed only for a loopback address"},
		{"http unspecified", "http://0.0.0.0:8080", "", "plain http is allowed only for a loopback address"},
		{"http localhost lookalike", "http://localhost.example.com", "", "plain http is allowed only for a loopback address"},
		{"ftp", "ftp://example.com", "", "scheme must be https"},
		{"no scheme", "api.acedata.cloud", "", "no host"},
		{"no host", "https://", "", "no host"},
		{"bad url", "https://exa mple.com:x", "", "not a valid URL"},
		{"credentials", "https://user:secretpw@example.com", "", "must not contain a user name"},
		{"query", "https://example.com/?x=1", "", "without a query"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c, err := New(Config{Endpoint: tc.endpoint, Token: testToken})
			if tc.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
					t.Fatalf("New(%q) error = %v; want %q", tc.endpoint, err, tc.wantErr)
				}
				if strings.Contains(err.Error(), "secretpw") || strings.Contains(err.Error(), testToken) {
					t.Errorf("error leaks a secret: %v", err)
				}
				if strings.Contains(tc.wantErr, "loopback") && !strings.Contains(err.Error(), "use https") {
					t.Errorf("error %q does not say to use https", err)
				}
				return
			}
			if err != nil {
				t.Fatalf("New(%q): %v", tc.endpoint, err)
			}
			defer c.Close()
			if c.url != tc.wantURL {
				t.Errorf("URL = %q; want %q", c.url, tc.wantURL)
			}
		})
	}

	for _, tc := range []struct {
		name    string
		cfg     Config
		wantErr string
	}{
		{"negative timeout", Config{Timeout: -1}, "timeout"},
		{"negative pool", Config{MaxConns: -1}, "pool"},
		{"negative body limit", Config{MaxBodyBytes: -1}, "body size"},
		{"token with inner newline", Config{Token: "abc\ndef" + testToken}, "token contains"},
		{"user agent with newline", Config{UserAgent: "a\r\nb"}, "user agent"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := New(tc.cfg)
			if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
				t.Fatalf("New error = %v; want %q", err, tc.wantErr)
			}
			if strings.Contains(err.Error(), testToken) {
				t.Errorf("error leaks the token: %v", err)
			}
		})
	}

	// The one tuned transport New builds, for the defaults and for a pool
	// sized to the concurrency.
	for _, tc := range []struct {
		name      string
		cfg       Config
		wantConns int
		wantTime  time.Duration
	}{
		{"defaults", Config{}, DefaultMaxConns, DefaultTimeout},
		{"pool sized to the concurrency", Config{MaxConns: 7, Timeout: 3 * time.Second}, 7, 3 * time.Second},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c, err := New(tc.cfg)
			if err != nil {
				t.Fatal(err)
			}
			defer c.Close()
			tr, ok := c.hc.Transport.(*http.Transport)
			if !ok || !c.traced {
				t.Fatalf("transport %T (traced %v); want *http.Transport, traced", c.hc.Transport, c.traced)
			}
			if tr.MaxConnsPerHost != tc.wantConns || tr.MaxIdleConnsPerHost != tc.wantConns || tr.MaxIdleConns != tc.wantConns ||
				tr.DisableKeepAlives || tr.IdleConnTimeout <= 0 {
				t.Errorf("pool: max %d, idle per host %d, idle %d, keep-alive off %v, idle timeout %v; want %d, %[5]d, %[5]d, false, > 0",
					tr.MaxConnsPerHost, tr.MaxIdleConnsPerHost, tr.MaxIdleConns, tr.DisableKeepAlives, tr.IdleConnTimeout, tc.wantConns)
			}
			// Check bounds each call with a context deadline, not http.Client's
			// Timeout (a goroutine and a timer per call).
			if c.hc.Timeout != 0 || c.timeout != tc.wantTime || c.maxBody != DefaultMaxBodyBytes || c.hc.CheckRedirect == nil {
				t.Errorf("client timeout %v, call timeout %v, body limit %d, redirect rule set %v",
					c.hc.Timeout, c.timeout, c.maxBody, c.hc.CheckRedirect != nil)
			}
			if tr.Proxy == nil {
				t.Errorf("no proxy function; want the environment's proxy (TestProxyFromEnvironment)")
			}
			if tr.TLSClientConfig == nil || tr.TLSClientConfig.InsecureSkipVerify || tr.TLSClientConfig.MinVersion != tls.VersionTLS12 {
				t.Errorf("TLS verification must be on, TLS 1.2 at least: %+v", tr.TLSClientConfig)
			}
			if _, ok := c.header["Authorization"]; ok {
				t.Errorf("authorization header without a token")
			}
		})
	}
}

func TestTLS(t *testing.T) {
	srv := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		io.WriteString(w, `{"result":"0","account_type":1}`)
	}))
	srv.Config.ErrorLog = log.New(io.Discard, "", 0) // the refused handshake is logged otherwise
	srv.StartTLS()
	defer srv.Close()

	t.Run("trusted", func(t *testing.T) {
		c := newClient(t, srv.URL, func(cfg *Config) { cfg.Transport = srv.Client().Transport })
		if o := c.Check(context.Background(), testCard); o.Kind != KindAnswer || o.Answer.AccountType != 1 {
			t.Errorf("outcome %+v; want an answer", o)
		}
	})
	t.Run("untrusted certificate is refused and not sent", func(t *testing.T) {
		c := newClient(t, srv.URL, nil)
		o := c.Check(context.Background(), testCard)
		assertClean(t, o, testCard)
		if o.Kind != KindRetryable || o.Sent || o.Billing != billing.None || o.Err == nil || !strings.Contains(o.Err.Error(), "certificate") {
			t.Errorf("outcome %+v; want a certificate error, not sent", o)
		}
	})
}

func TestHTTP2(t *testing.T) {
	var proto atomic.Int32
	srv := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		proto.Store(int32(r.ProtoMajor))
		if r.Header.Get("Authorization") != "Bearer "+testToken {
			w.WriteHeader(401)
			io.WriteString(w, errBody("invalid_token", "bad", false))
			return
		}
		io.WriteString(w, `{"result":"-3"}`)
	}))
	srv.EnableHTTP2 = true
	srv.StartTLS()
	defer srv.Close()
	c := newClient(t, srv.URL, func(cfg *Config) { cfg.Transport = srv.Client().Transport })
	for range 3 {
		if o := c.Check(context.Background(), testCard); o.Kind != KindAnswer || o.Answer.Result != "-3" || !o.Sent {
			t.Fatalf("outcome %+v", o)
		}
	}
	if p := proto.Load(); p != 2 {
		t.Errorf("server saw HTTP/%d; want HTTP/2", p)
	}
}

func TestParseRetryAfter(t *testing.T) {
	now := time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)
	for _, tc := range []struct {
		in   string
		want time.Duration
	}{
		{"", 0}, {"  ", 0}, {"0", 0}, {"1", time.Second}, {" 2 ", 2 * time.Second}, {"1.5", 1500 * time.Millisecond},
		{".25", 250 * time.Millisecond}, {"600", MaxRetryAfter}, {"601", MaxRetryAfter}, {"99999999999999999999999", MaxRetryAfter},
		{"-1", 0}, {"+1", 0}, {"1e3", 0}, {"Inf", 0}, {"NaN", 0}, {"1.2.3", 0}, {".", 0}, {"soon", 0},
		{now.Add(30 * time.Second).Format(http.TimeFormat), 30 * time.Second},
		{now.Add(-30 * time.Second).Format(http.TimeFormat), 0},
		{now.Add(time.Hour).Format(http.TimeFormat), MaxRetryAfter},
		{now.Add(90 * time.Second).Format(time.RFC850), 90 * time.Second},
		{now.Add(5 * time.Second).Format(time.ANSIC), 5 * time.Second},
		{"Sun, 99 Foo 2026 00:00:00 GMT", 0},
	} {
		if got := parseRetryAfter(tc.in, now); got != tc.want {
			t.Errorf("parseRetryAfter(%q) = %v; want %v", tc.in, got, tc.want)
		}
	}
}

func TestExcerpt(t *testing.T) {
	c := &Client{token: testToken}
	for _, tc := range []struct {
		name, body, want string
	}{
		{"empty", "", "(empty body)"},
		{"blank", " \r\n\t", "(blank body)"},
		{"controls", "a\x00b\x1bc\x7fd\u202ee", "a b c d e"},
		{"collapse", "  a \r\n\r\n  b  ", "a b"},
		{"invalid utf-8", "a\xffb", "a\ufffdb"},
		{"card", "x" + testCard + "y", "x622202*********3445y"},
		{"token", "Bearer " + testToken, "Bearer [redacted]"},
		{"card across the cut", strings.Repeat("a", 195) + testCard, strings.Repeat("a", 195) + "62220"},
		{"long", strings.Repeat("é", 300), strings.Repeat("é", 100)},
		{"long odd", "x" + strings.Repeat("é", 300), "x" + strings.Repeat("é", 99)},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got := c.excerpt([]byte(tc.body), testCard)
			if got != tc.want {
				t.Errorf("excerpt = %q; want %q", got, tc.want)
			}
			if len(got) > excerptLimit || !utf8.ValidString(got) || strings.Contains(got, testCard) {
				t.Errorf("excerpt %q breaks its guarantee", got)
			}
		})
	}
}

func TestMaskCard(t *testing.T) {
	for in, want := range map[string]string{
		"6222020200112233445": "622202*********3445",
		"6228480402564890018": "622848*********0018",
		"4111111111111111":    "411111******1111",
		"123456789012":        "12********12",
		"12345":               "12*45",
		"1234":                "****",
		"":                    "",
	} {
		if got := maskCard(in); got != want {
			t.Errorf("maskCard(%q) = %q; want %q", in, got, want)
		}
	}
}

// concurrentAnswer answers by the last digit of the card, so every outcome
// can be checked against the card that was sent.
func concurrentHandler(w http.ResponseWriter, r *http.Request) {
	var req Request
	if err := json.NewDecoder(r.Body).Decode(&req); err != nil || len(req.BankCard) < 12 {
		http.Error(w, "bad body", http.StatusBadRequest)
		return
	}
	card := req.BankCard
	switch card[len(card)-1] {
	case '0', '1':
		fmt.Fprintf(w, `{"result":"0","account_bank":"bank %s","account_type":1}`, card[6:12])
	case '2':
		fmt.Fprintf(w, `{"result":"-1","account_bank":"bank %s"}`, card[6:12])
	case '3':
		io.WriteString(w, `{"result":"-2"}`)
	case '4':
		fmt.Fprintf(w, `{"result":-3,"account_bank":"bank %s"}`, card[6:12])
	case '5':
		w.Header().Set("Retry-After", "1")
		w.WriteHeader(429)
		io.WriteString(w, errBody("rate_limited", "", false))
	case '6':
		w.WriteHeader(503)
		io.WriteString(w, "<html>busy "+card+"</html>")
	case '7':
		w.WriteHeader(401)
		io.WriteString(w, errBody("invalid_token", "bad", true))
	case '8':
		io.WriteString(w, `{"result":"-5"}`)
	default:
		io.WriteString(w, `<html>`+card)
	}
}

func checkConcurrentOutcome(t *testing.T, card string, o Outcome) {
	t.Helper()
	assertClean(t, o, card)
	bank := "bank " + card[6:12]
	ok := false
	switch card[len(card)-1] {
	case '0', '1':
		ok = o.Kind == KindAnswer && o.Billing == billing.Charged && o.Answer.Result == "0" && o.Answer.AccountBank == bank && o.Answer.AccountType == 1
	case '2':
		ok = o.Kind == KindAnswer && o.Billing == billing.Charged && o.Answer.Result == "-1" && o.Answer.AccountBank == bank
	case '3':
		ok = o.Kind == KindRetryable && o.Billing == billing.Free && o.Answer.Result == "-2"
	case '4':
		ok = o.Kind == KindAnswer && o.Billing == billing.Free && o.Answer.Result == "-3" && o.Answer.AccountBank == bank
	case '5':
		ok = o.Kind == KindRetryable && o.HTTPStatus == 429 && o.RetryAfter == time.Second && o.Code == "rate_limited"
	case '6':
		ok = o.Kind == KindRetryable && o.HTTPStatus == 503 && strings.Contains(o.Excerpt, "busy "+maskCard(card))
	case '7':
		ok = o.Kind == KindFatal && o.HTTPStatus == 401 && o.Code == "invalid_token"
	case '8':
		ok = o.Kind == KindAnswer && o.Billing == billing.Unknown && o.Answer.Result == "-5"
	default:
		ok = o.Kind == KindProtocol && o.Billing == billing.Unknown && o.Excerpt == "<html>"+maskCard(card)
	}
	if !ok {
		t.Errorf("card %s: unexpected outcome %+v", maskCard(card), o)
	}
}

func TestConcurrentCalls(t *testing.T) {
	const goroutines, calls = 64, 50
	srv := httptest.NewServer(http.HandlerFunc(concurrentHandler))
	defer srv.Close()
	c := newClient(t, srv.URL, func(cfg *Config) { cfg.MaxConns = goroutines })
	var wg sync.WaitGroup
	for g := range goroutines {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range calls {
				card := fmt.Sprintf("622202%02d%04d%04d%d", g, i, g*calls+i, (g+i)%10)
				checkConcurrentOutcome(t, card, c.Check(context.Background(), card))
			}
		}()
	}
	wg.Wait()
}

// TestKeepAlive checks that calls reuse connections: MaxConns workers
// calling as fast as they can open about MaxConns connections, not one per
// call. (Not exactly MaxConns: net/http drops a connection whose request
// write it has not seen end within 50 ms of reading the answer, which a
// loaded machine can cause; its own tests raise that limit.)
func TestKeepAlive(t *testing.T) {
	const maxConns, calls = 8, 200
	var newConns, requests atomic.Int64
	allIn := make(chan struct{})
	answer := func(w http.ResponseWriter, r *http.Request) {
		io.Copy(io.Discard, r.Body)
		// The first maxConns requests wait for each other, so the pool is
		// filled with exactly maxConns connections (Go's transport may
		// otherwise dial one spare while a connection is being returned).
		if n := requests.Add(1); n <= maxConns {
			if n == maxConns {
				close(allIn)
			}
			select {
			case <-allIn:
			case <-time.After(5 * time.Second):
				t.Error("the first requests did not arrive together")
			}
		}
		io.WriteString(w, `{"result":"0","description":"ok","account_type":1}`)
	}
	var handler atomic.Pointer[http.HandlerFunc]
	h := http.HandlerFunc(answer)
	handler.Store(&h)
	srv := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		(*handler.Load())(w, r)
	}))
	srv.Config.ConnState = func(_ net.Conn, s http.ConnState) {
		if s == http.StateNew {
			newConns.Add(1)
		}
	}
	srv.Start()
	defer srv.Close()
	c := newClient(t, srv.URL, func(cfg *Config) { cfg.MaxConns = maxConns })
	var wg sync.WaitGroup
	for range maxConns {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for range calls {
				if o := c.Check(context.Background(), testCard); o.Kind != KindAnswer {
					t.Errorf("outcome %+v", o)
					return
				}
			}
		}()
	}
	wg.Wait()
	if n := newConns.Load(); n < maxConns || n > 2*maxConns {
		t.Errorf("%d calls by %d workers opened %d connections; want %d (at most %d)", maxConns*calls, maxConns, n, maxConns, 2*maxConns)
	}
	// Error answers with a body keep the connection too.
	h503 := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.WriteHeader(503)
		io.WriteString(w, errBody("timeout", "later", false))
	})
	handler.Store(&h503)
	before := newConns.Load()
	for range 20 {
		if o := c.Check(context.Background(), testCard); o.HTTPStatus != 503 {
			t.Fatalf("outcome %+v", o)
		}
	}
	if n := newConns.Load() - before; n > 2 {
		t.Errorf("20 sequential 503 answers opened %d new connections; want none (at most 2)", n)
	}
}
