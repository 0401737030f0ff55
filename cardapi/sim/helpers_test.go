package sim

import (
	"context"
	"encoding/json"
	"io"
	"math/rand/v2"
	"net/http"
	"net/http/httptest"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"cardbatch/cardapi"
)

// testServer wraps a simulator in an httptest.Server with a plain net/http
// client whose pool fits 64 concurrent callers.
type testServer struct {
	sim    *Server
	srv    *httptest.Server
	client *http.Client
}

func newTestServer(t testing.TB, cfg Config) *testServer {
	t.Helper()
	return wrap(t, New(cfg))
}

func wrap(t testing.TB, s *Server) *testServer {
	t.Helper()
	srv := httptest.NewServer(s)
	tr := &http.Transport{MaxIdleConns: 256, MaxIdleConnsPerHost: 128}
	ts := &testServer{sim: s, srv: srv, client: &http.Client{Transport: tr, Timeout: 10 * time.Second}}
	t.Cleanup(func() {
		tr.CloseIdleConnections()
		srv.Close()
	})
	return ts
}

// outcome is what a plain net/http client saw for one call.
type outcome struct {
	err        error // transport error (a dropped connection)
	status     int
	header     http.Header
	body       []byte
	answer     cardapi.Answer    // HTTP 200 JSON answers
	errBody    cardapi.ErrorBody // JSON error answers
	hasSuccess bool              // the error body had a "success" key
	isJSON     bool
}

// docCharged is the billing table of shared/api/check-1e.md, written out:
// "0" and "-1" charged, "-2" and "-3" free, any other code charged.
func docCharged(result string) bool {
	switch result {
	case "-2", "-3":
		return false
	}
	return true
}

// charged applies the API document's billing: a 200 answer with a charged
// or undocumented result code.
func (o outcome) charged() bool {
	return o.err == nil && o.status == http.StatusOK && o.answer.Result != "" &&
		docCharged(o.answer.Result)
}

// key is the ledger's ByStatus key of the outcome.
func (o outcome) key() string {
	if o.err != nil {
		return "dropped"
	}
	return strconv.Itoa(o.status)
}

func cardBody(card string) string {
	b, _ := json.Marshal(map[string]string{"bank_card": card})
	return string(b)
}

// do sends one request; token "" sends no authorization header.
func (ts *testServer) do(ctx context.Context, method, path, token, body string) outcome {
	req, err := http.NewRequestWithContext(ctx, method, ts.srv.URL+path, strings.NewReader(body))
	if err != nil {
		return outcome{err: err}
	}
	req.Header.Set("Accept", "application/json")
	req.Header.Set("Content-Type", "application/json")
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	resp, err := ts.client.Do(req)
	if err != nil {
		return outcome{err: err}
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		return outcome{err: err}
	}
	o := outcome{status: resp.StatusCode, header: resp.Header, body: b}
	if strings.HasPrefix(resp.Header.Get("Content-Type"), "application/json") && json.Valid(b) {
		o.isJSON = true
		if resp.StatusCode == http.StatusOK {
			var raw struct {
				Result      json.RawMessage `json:"result"`
				Description string          `json:"description"`
				AccountBank string          `json:"account_bank"`
				AccountType int             `json:"account_type"`
			}
			_ = json.Unmarshal(b, &raw)
			o.answer = cardapi.Answer{Description: raw.Description, AccountBank: raw.AccountBank, AccountType: raw.AccountType}
			var s string
			if json.Unmarshal(raw.Result, &s) == nil {
				o.answer.Result = s
			} else if len(raw.Result) > 0 {
				o.answer.Result = string(raw.Result)
			}
		} else {
			_ = json.Unmarshal(b, &o.errBody)
			var m map[string]json.RawMessage
			_ = json.Unmarshal(b, &m)
			_, o.hasSuccess = m["success"]
		}
	}
	return o
}

func (ts *testServer) check(token, card string) outcome {
	return ts.do(context.Background(), http.MethodPost, cardapi.Path, token, cardBody(card))
}

// cardWithPrefix returns a Luhn-valid card of the given length.
func cardWithPrefix(prefix string, length int, seed uint64) string {
	b := make([]byte, length)
	copy(b, prefix)
	return string(fillCard(rand.New(rand.NewPCG(seed, 1)), b, len(prefix)))
}

// breakLuhn changes the last digit so the check fails.
func breakLuhn(card string) string {
	b := []byte(card)
	b[len(b)-1] = '0' + (b[len(b)-1]-'0'+1)%10
	return string(b)
}

var traceIDRe = regexp.MustCompile(`^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$`)
