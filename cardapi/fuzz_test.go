package cardapi

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"strconv"
	"strings"
	"testing"
	"unicode/utf8"

	"cardbatch/billing"
)

// fuzzToken is the client's token in FuzzDecode; no Outcome field may hold it.
const fuzzToken = "tok-fuzz-5e4d3c2b1a"

// fuzzRoundTrip answers every request with one fuzzed response, built
// afresh for each request (redirects are followed with the same answer).
type fuzzRoundTrip func() *http.Response

func (f fuzzRoundTrip) RoundTrip(r *http.Request) (*http.Response, error) {
	if r.Body != nil {
		_, _ = io.Copy(io.Discard, r.Body)
		r.Body.Close()
	}
	resp := f()
	resp.Request = r
	return resp, nil
}

// cutReader returns data, then err instead of io.EOF: a body cut short.
type cutReader struct {
	data []byte
	err  error
}

func (c *cutReader) Read(p []byte) (int, error) {
	if len(c.data) == 0 {
		return 0, c.err
	}
	n := copy(p, c.data)
	c.data = c.data[n:]
	return n, nil
}

// Fuzz modes (bits of FuzzDecode's mode).
const (
	fuzzStructured    = 1 << iota // a 200 answer {"result": result, ...} built with encoding/json
	fuzzCardInBody                // the card is inserted into the body
	fuzzCutBody                   // the body ends with an error half-way
	fuzzCardInHeaders             // the card is inserted into Location and Retry-After
	fuzzForce200                  // status 200 whatever status says
	fuzzHTML                      // content-type text/html
	fuzzNumberResult              // structured: result as a JSON number
	fuzzOmitOptional              // structured: description and account_type absent
)

// structuredAnswer returns a 200 body in the documented shape, built with
// encoding/json: result as a string, or as a number (fuzzNumberResult); the
// optional fields present or absent (fuzzOmitOptional); the card as the
// bank's name (fuzzCardInBody). It returns the result and account type the
// body carries, as the API document reads them.
func structuredAnswer(body, result, card string, mode uint8) (data []byte, wantResult string, wantType int) {
	a := map[string]any{"result": result}
	if mode&fuzzNumberResult != 0 {
		n, err := strconv.Atoi(result)
		if err != nil {
			n = -len(result) // 0, -1, -2, ... as often as short texts
		}
		a["result"], wantResult = n, strconv.Itoa(n)
	}
	if mode&fuzzOmitOptional == 0 {
		wantType = len(body) % 6
		a["description"], a["account_type"] = body, wantType
	}
	if mode&fuzzCardInBody != 0 {
		a["account_bank"] = "bank of " + card
	}
	data, err := json.Marshal(a)
	if err != nil {
		panic(err) // cannot happen: strings and ints
	}
	if mode&fuzzNumberResult == 0 {
		// The string as JSON carries it (invalid UTF-8 replaced).
		var back struct{ Result string }
		if err := json.Unmarshal(data, &back); err != nil {
			panic(err)
		}
		wantResult = back.Result
	}
	return data, wantResult, wantType
}

// FuzzDecode feeds the client's response classification (Check, through an
// in-memory transport) arbitrary statuses, headers and bodies. Properties:
// it never panics; the Outcome has exactly one documented Kind, the one its
// HTTP status calls for (200: answer, retryable or protocol; 429 and 5xx:
// retryable; other 4xx: fatal; anything else: protocol; no response:
// retryable); Billing is a known class, Free for 4xx/5xx and unknown for a
// 200 cut short; Excerpt is at most 200 bytes of valid UTF-8; no field holds
// the card or the token; Retry-After is within [0, MaxRetryAfter]; and a 200
// in the documented shape (structuredAnswer: result a non-empty JSON string
// or a number, account_type a number, optional fields present or absent) is
// an answer (retryable for "-2") carrying that result, its billing class and
// that account type.
//
// Seeds are in testdata/fuzz/FuzzDecode.
func FuzzDecode(f *testing.F) {
	const card = "6222020200112233445"
	f.Add(200, `{"result":"0","description":"Query successful","account_bank":"ICBC","account_type":1}`, "0", "", uint8(0), card)
	f.Add(200, `{"result":-2,"description":"busy"}`, "-2", "", uint8(0), card)
	f.Add(200, "", "-1", "", uint8(fuzzStructured|fuzzCardInBody), card)
	f.Add(401, `{"error":{"code":"invalid_token","message":"The specified token is invalid or wrong."},"trace_id":"2efa9340"}`, "", "", uint8(0), card)
	f.Add(403, `{"success":false,"error":{"code":"used_up","message":"top up"}}`, "", "", uint8(0), card)
	f.Add(429, `{"error":{"code":"too_many_requests"}}`, "", "Thu, 01 Jan 2099 00:00:00 GMT", uint8(0), card)
	f.Add(502, "<html><head><title>502 Bad Gateway</title></head><body>nginx</body></html>", "", "1.5", uint8(fuzzHTML), card)
	f.Add(200, `{"result":"0","account_bank":"`+card+`"}`, "", "", uint8(fuzzCutBody), card)
	f.Add(302, "", "", "http://elsewhere.example/"+card, uint8(fuzzCardInHeaders), card)
	f.Add(200, "\xef\xbb\xbf  {\"result\": 0.0e1}", "", "", uint8(0), "4111111111111111")
	f.Add(200, "", "-2", "", uint8(fuzzStructured|fuzzNumberResult|fuzzOmitOptional), card)
	f.Add(200, "x", "-1", "", uint8(fuzzStructured|fuzzNumberResult), card)
	f.Fuzz(func(t *testing.T, status int, body, result, header string, mode uint8, cardIn string) {
		// The card: 12 to 19 digits, as the pipeline sends.
		digits := strings.Map(func(r rune) rune {
			if r >= '0' && r <= '9' {
				return r
			}
			return -1
		}, cardIn)
		if n := len(digits); n < 12 || n > 19 {
			digits = (digits + card + card)[:12+n%8]
		}
		card := digits

		st := 100 + (status%500+500)%500
		if mode&(fuzzStructured|fuzzForce200) != 0 {
			st = 200
		}
		data := []byte(body)
		var wantResult string
		var wantType int
		if mode&fuzzStructured != 0 {
			data, wantResult, wantType = structuredAnswer(body, result, card, mode)
		} else if mode&fuzzCardInBody != 0 {
			i := len(result) % (len(data) + 1)
			data = append(append(append([]byte{}, data[:i]...), card...), data[i:]...)
		}
		location, retryAfter := header, header
		if mode&fuzzCardInHeaders != 0 {
			location, retryAfter = header+card, card+header
		}
		ctype := "application/json"
		if mode&fuzzHTML != 0 {
			ctype = "text/html"
		}
		rt := fuzzRoundTrip(func() *http.Response {
			h := http.Header{}
			h.Set("Content-Type", ctype)
			if strings.ContainsAny(retryAfter, "\r\n") || strings.ContainsAny(location, "\r\n") {
				// Not a header a real transport can deliver.
			} else {
				h.Set("Retry-After", retryAfter)
				h.Set("Location", location)
			}
			var rc io.ReadCloser = io.NopCloser(bytes.NewReader(data))
			if mode&fuzzCutBody != 0 {
				rc = io.NopCloser(&cutReader{data: data[:len(data)/2], err: io.ErrUnexpectedEOF})
			}
			return &http.Response{StatusCode: st, Status: http.StatusText(st), Proto: "HTTP/1.1", ProtoMajor: 1, ProtoMinor: 1,
				Header: h, Body: rc, ContentLength: -1}
		})
		c, err := New(Config{Endpoint: "http://127.0.0.1:9", Token: fuzzToken, Transport: rt})
		if err != nil {
			t.Fatal(err)
		}
		o := c.Check(context.Background(), card)

		if o.Kind.String() == "unknown" {
			t.Fatalf("Kind %d is none of the documented kinds", o.Kind)
		}
		switch o.Billing {
		case billing.Charged, billing.Free, billing.Unknown, billing.None:
		default:
			t.Fatalf("Billing %q", o.Billing)
		}
		texts := map[string]string{"Excerpt": o.Excerpt, "Code": o.Code, "Message": o.Message, "TraceID": o.TraceID,
			"Result": o.Answer.Result, "Description": o.Answer.Description, "AccountBank": o.Answer.AccountBank}
		if o.Err != nil {
			texts["Err"] = o.Err.Error()
		}
		for name, s := range texts {
			if strings.Contains(s, card) {
				t.Fatalf("%s holds the card %s: %q", name, card, s)
			}
			if strings.Contains(s, fuzzToken) {
				t.Fatalf("%s holds the token: %q", name, s)
			}
		}
		if len(o.Excerpt) > excerptLimit || !utf8.ValidString(o.Excerpt) {
			t.Fatalf("Excerpt of %d bytes (valid UTF-8: %v): %q", len(o.Excerpt), utf8.ValidString(o.Excerpt), o.Excerpt)
		}
		if o.RetryAfter < 0 || o.RetryAfter > MaxRetryAfter {
			t.Fatalf("RetryAfter %v", o.RetryAfter)
		}

		if o.HTTPStatus == 0 {
			// No usable response (an unfollowable redirect): retryable, with the reason.
			if o.Kind != KindRetryable || o.Err == nil {
				t.Fatalf("no response: Kind %v Err %v", o.Kind, o.Err)
			}
			return
		}
		got := o.HTTPStatus
		switch {
		case got == 200 && mode&fuzzCutBody != 0:
			if o.Kind != KindRetryable || o.Billing != billing.Unknown || o.Err == nil {
				t.Fatalf("200 cut short: Kind %v Billing %s Err %v, want retryable, in doubt", o.Kind, o.Billing, o.Err)
			}
		case got == 200:
			if o.Kind == KindFatal {
				t.Fatalf("200: Kind fatal")
			}
			if wantResult != "" {
				wantKind := KindAnswer
				if wantResult == billing.ResultBusy {
					wantKind = KindRetryable
				}
				if o.Kind != wantKind || o.Billing != billing.ClassOf(wantResult) {
					t.Fatalf("200 with result %q: Kind %v Billing %s, want %v %s", wantResult, o.Kind, o.Billing, wantKind, billing.ClassOf(wantResult))
				}
				if !strings.Contains(wantResult, card) && !strings.Contains(wantResult, fuzzToken) && o.Answer.Result != wantResult {
					t.Fatalf("Result %q, the body says %q", o.Answer.Result, wantResult)
				}
				if o.Answer.AccountType != wantType {
					t.Fatalf("AccountType %d, the body says %d", o.Answer.AccountType, wantType)
				}
				if mode&fuzzOmitOptional != 0 && o.Answer.Description != "" {
					t.Fatalf("Description %q, the body has none", o.Answer.Description)
				}
			}
		case got == 429 || got >= 500 && got <= 599:
			if o.Kind != KindRetryable || o.Billing != billing.Free {
				t.Fatalf("HTTP %d: Kind %v Billing %s, want retryable, free", got, o.Kind, o.Billing)
			}
		case got >= 400 && got <= 499:
			if o.Kind != KindFatal || o.Billing != billing.Free {
				t.Fatalf("HTTP %d: Kind %v Billing %s, want fatal, free", got, o.Kind, o.Billing)
			}
		default:
			if o.Kind != KindProtocol {
				t.Fatalf("HTTP %d: Kind %v, want protocol", got, o.Kind)
			}
		}
		if got != st && !(st >= 300 && st <= 399) {
			t.Fatalf("HTTPStatus %d, the server answered %d", got, st)
		}
	})
}
