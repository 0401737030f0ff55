package sim

import (
	"context"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"testing"

	"cardbatch/cardapi"
)

// icbcCard is a Luhn-valid ICBC debit card (prefix 622202).
var icbcCard = cardWithPrefix("622202", 19, 1)

func TestStatusesAndCodes(t *testing.T) {
	tests := []struct {
		name       string
		cfg        Config
		method     string // default POST
		path       string // default cardapi.Path
		token      string
		rawAuth    string // sent verbatim when set
		body       string // default cardBody(icbcCard)
		wantStatus int
		wantCode   string // error answers
		wantResult string // 200 answers
		wantHeader map[string]string
		wantCharge bool
	}{
		{name: "healthy answer", wantStatus: 200, wantResult: "0", wantCharge: true},
		{name: "no token configured, none sent", wantStatus: 200, wantResult: "0", wantCharge: true},
		{name: "no token configured, any token", token: "whatever", wantStatus: 200, wantResult: "0", wantCharge: true},
		{name: "right token", cfg: Config{Token: "T0k"}, token: "T0k", wantStatus: 200, wantResult: "0", wantCharge: true},
		{name: "right token, lower-case scheme", cfg: Config{Token: "T0k"}, rawAuth: "bearer T0k", wantStatus: 200, wantResult: "0", wantCharge: true},
		{name: "wrong token", cfg: Config{Token: "T0k"}, token: "nope", wantStatus: 401, wantCode: "invalid_token"},
		{name: "missing token", cfg: Config{Token: "T0k"}, wantStatus: 401, wantCode: "invalid_token"},
		{name: "token without Bearer", cfg: Config{Token: "T0k"}, rawAuth: "T0k", wantStatus: 401, wantCode: "invalid_token"},
		{name: "auth is checked before faults", cfg: Config{Token: "T0k", BusyProb: 1}, token: "bad", wantStatus: 401, wantCode: "invalid_token"},
		{name: "malformed JSON", body: `{"bank_card": "6222`, wantStatus: 400, wantCode: "bad_request"},
		{name: "not an object", body: `["6222020200112233445"]`, wantStatus: 400, wantCode: "bad_request"},
		{name: "empty body", body: " ", wantStatus: 400, wantCode: "bad_request"},
		{name: "missing bank_card", body: `{"card":"6222020200112233445"}`, wantStatus: 400, wantCode: "bad_request"},
		{name: "empty bank_card", body: `{"bank_card":""}`, wantStatus: 400, wantCode: "bad_request"},
		{name: "null bank_card", body: `{"bank_card":null}`, wantStatus: 400, wantCode: "bad_request"},
		{name: "numeric bank_card", body: `{"bank_card":6222020200112233445}`, wantStatus: 400, wantCode: "bad_request"},
		{name: "body too large", body: `{"bank_card":"` + strings.Repeat("1", maxBody) + `"}`, wantStatus: 400, wantCode: "bad_request"},
		{name: "encryption without a decryption key", body: `{"bank_card":"QUJD","encryption":{"algorithm":"AES-256-CBC"}}`, wantStatus: 400, wantCode: "bad_request"},
		{name: "faults do not hit bad requests", cfg: Config{ServerErrorProb: 1}, body: `{}`, wantStatus: 400, wantCode: "bad_request"},
		{name: "unknown path", path: "/identity/bankcard/check-2e", wantStatus: 404, wantCode: "no_api"},
		{name: "trailing slash is another path", path: cardapi.Path + "/", wantStatus: 404, wantCode: "no_api"},
		{name: "GET on the API", method: http.MethodGet, body: "", wantStatus: 405, wantCode: "method_not_allowed", wantHeader: map[string]string{"Allow": "POST"}},
		{name: "PUT on the API", method: http.MethodPut, wantStatus: 405, wantCode: "method_not_allowed", wantHeader: map[string]string{"Allow": "POST"}},
		{name: "busy forced", cfg: Config{BusyProb: 1}, wantStatus: 200, wantResult: "-2"},
		{name: "unknown result forced", cfg: Config{UnknownResultProb: 1}, wantStatus: 200, wantResult: "-5", wantCharge: true},
		{name: "429 forced", cfg: Config{RateLimitedProb: 1}, wantStatus: 429, wantCode: "too_many_requests", wantHeader: map[string]string{"Retry-After": "1"}},
		{name: "500 forced", cfg: Config{ServerErrorProb: 1}, wantStatus: 500, wantCode: "api_error"},
		{name: "Luhn failure", body: cardBody(breakLuhn(icbcCard)), wantStatus: 200, wantResult: "-3"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			ts := newTestServer(t, tc.cfg)
			method, path, body := tc.method, tc.path, tc.body
			if method == "" {
				method = http.MethodPost
			}
			if path == "" {
				path = cardapi.Path
			}
			if body == "" && method == http.MethodPost {
				body = cardBody(icbcCard)
			}
			var o outcome
			if tc.rawAuth != "" {
				req, _ := http.NewRequest(method, ts.srv.URL+path, strings.NewReader(body))
				req.Header.Set("Authorization", tc.rawAuth)
				resp, err := ts.client.Do(req)
				if err != nil {
					t.Fatal(err)
				}
				resp.Body.Close()
				o = outcome{status: resp.StatusCode, header: resp.Header}
				if tc.wantStatus == 200 {
					o.answer.Result = "0" // checked by status only
				}
			} else {
				o = ts.do(context.Background(), method, path, tc.token, body)
			}
			if o.err != nil {
				t.Fatalf("transport error: %v", o.err)
			}
			if o.status != tc.wantStatus {
				t.Fatalf("status = %d, want %d (body %q)", o.status, tc.wantStatus, o.body)
			}
			for k, v := range tc.wantHeader {
				if got := o.header.Get(k); got != v {
					t.Errorf("header %s = %q, want %q", k, got, v)
				}
			}
			if tc.rawAuth == "" {
				if !o.isJSON {
					t.Fatalf("body is not JSON with a JSON content type: %q (%s)", o.body, o.header.Get("Content-Type"))
				}
				if tc.wantStatus == 200 {
					if o.answer.Result != tc.wantResult {
						t.Errorf("result = %q, want %q", o.answer.Result, tc.wantResult)
					}
					if o.answer.Description == "" {
						t.Error("empty description")
					}
					// result must be a JSON string
					if !strings.Contains(string(o.body), `"result":"`+tc.wantResult+`"`) {
						t.Errorf("result is not a JSON string: %s", o.body)
					}
				} else {
					if o.errBody.Error.Code != tc.wantCode {
						t.Errorf("code = %q, want %q (body %s)", o.errBody.Error.Code, tc.wantCode, o.body)
					}
					if o.errBody.Error.Message == "" {
						t.Error("empty message")
					}
					if !traceIDRe.MatchString(o.errBody.TraceID) {
						t.Errorf("trace_id %q is not UUID-shaped", o.errBody.TraceID)
					}
					if strings.Contains(string(o.body), icbcCard) {
						t.Error("error body echoes the card number")
					}
				}
			}
			l := ts.sim.Ledger()
			wantCharged := int64(0)
			if tc.wantCharge {
				wantCharged = 1
			}
			if l.Charged != wantCharged {
				t.Errorf("ledger charged = %d, want %d", l.Charged, wantCharged)
			}
			if path == cardapi.Path && l.Calls != 1 {
				t.Errorf("ledger calls = %d, want 1", l.Calls)
			}
			if path != cardapi.Path && l.Calls != 0 {
				t.Errorf("ledger calls = %d for another path, want 0", l.Calls)
			}
			if path == cardapi.Path && l.ByStatus[strconv.Itoa(tc.wantStatus)] != 1 {
				t.Errorf("ledger by_status = %v, want one %d", l.ByStatus, tc.wantStatus)
			}
		})
	}
}

func TestRealisticAnswers(t *testing.T) {
	const seed = 42
	ts := newTestServer(t, Config{Seed: seed})
	type tc struct {
		name   string
		card   string
		result string
		bank   string
		typ    int
	}
	var tests []tc
	for i, b := range BINs() {
		tests = append(tests, tc{name: "BIN " + b.Prefix, card: cardWithPrefix(b.Prefix, b.Length, uint64(i)), result: "0", bank: b.Bank, typ: b.Type})
	}
	tests = append(tests,
		tc{name: "Luhn failure", card: breakLuhn(icbcCard), result: "-3"},
		tc{name: "11 digits", card: cardWithPrefix("62220", 11, 3), result: "-3"},
		tc{name: "20 digits", card: cardWithPrefix("622202", 20, 3), result: "-3"},
		tc{name: "not normalised (spaces)", card: "6222 0202 0011 2233 445", result: "-3"},
		tc{name: "letters", card: "62220202001122334X5", result: "-3"},
		tc{name: "full-width digits", card: "６２２２０２０２００１１２２３３４４５", result: "-3"},
		tc{name: "12 digits is a length the API takes", card: cardWithPrefix("622202", 12, 5), result: "0", bank: bankICBC, typ: 1},
	)
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			o := ts.check("", tt.card)
			if o.status != 200 {
				t.Fatalf("status %d", o.status)
			}
			want := cardapi.Answer{Result: tt.result, AccountBank: tt.bank, AccountType: tt.typ}
			got := o.answer
			got.Description = ""
			if got != want {
				t.Errorf("answer = %+v, want %+v", got, want)
			}
			if a := Answer(seed, tt.card); a != o.answer {
				t.Errorf("Answer() = %+v, served %+v", a, o.answer)
			}
		})
	}

	t.Run("unknown prefixes: -1 mostly, a generic bank for about 10%", func(t *testing.T) {
		found, notFound := 0, 0
		for i := range 5000 {
			card := cardWithPrefix("629999", 16, uint64(i))
			if answers.lookupPrefix(card) != nil {
				t.Fatalf("629999 is in the table")
			}
			a := Answer(seed, card)
			switch a.Result {
			case "0":
				found++
				if a.AccountBank == "" || a.AccountType != 1 {
					t.Fatalf("generic answer %+v", a)
				}
			case "-1":
				notFound++
				if a.AccountBank != "" || a.AccountType != 0 || a.Description != DescNotFound {
					t.Fatalf("not-found answer %+v", a)
				}
			default:
				t.Fatalf("answer %+v for a valid card", a)
			}
		}
		if found < 350 || found > 650 {
			t.Errorf("generic answers: %d of 5000, want about 500", found)
		}
		if a1, a2 := Answer(seed, cardWithPrefix("629999", 16, 1)), Answer(seed, cardWithPrefix("629999", 16, 1)); a1 != a2 {
			t.Error("Answer is not a function")
		}
	})
}

func TestFaultsForced(t *testing.T) {
	cards := GenerateCards(3, 400)

	t.Run("drop closes the connection and is not charged", func(t *testing.T) {
		ts := newTestServer(t, Config{DropProb: 1})
		o := ts.check("", icbcCard)
		if o.err == nil {
			t.Fatalf("got HTTP %d, want a transport error", o.status)
		}
		l := ts.sim.Ledger()
		if l.Dropped != 1 || l.ByStatus["dropped"] != 1 || l.Charged != 0 || l.Calls != 1 {
			t.Errorf("ledger %+v", l)
		}
		if got := ts.sim.AnswersFor(icbcCard); len(got) != 1 || !got[0].Dropped || got[0].Charged {
			t.Errorf("AnswersFor = %+v", got)
		}
		// The next call on a fresh connection works.
		ts2 := newTestServer(t, Config{})
		if o := ts2.check("", icbcCard); o.status != 200 {
			t.Errorf("status %d after a drop", o.status)
		}
	})

	t.Run("502/503: both statuses, nginx HTML and JSON timeout", func(t *testing.T) {
		ts := newTestServer(t, Config{BadGatewayProb: 1})
		seen := map[string]int{}
		for _, c := range cards {
			o := ts.check("", c)
			if o.status != 502 && o.status != 503 {
				t.Fatalf("status %d", o.status)
			}
			form := "json"
			if o.isJSON {
				if o.errBody.Error.Code != "timeout" || !traceIDRe.MatchString(o.errBody.TraceID) {
					t.Fatalf("JSON body %s", o.body)
				}
			} else {
				form = "html"
				if !strings.HasPrefix(o.header.Get("Content-Type"), "text/html") || !strings.Contains(string(o.body), "<center>nginx</center>") ||
					!strings.Contains(string(o.body), strconv.Itoa(o.status)) {
					t.Fatalf("HTML body %q (%s)", o.body, o.header.Get("Content-Type"))
				}
			}
			seen[strconv.Itoa(o.status)+" "+form]++
		}
		for _, k := range []string{"502 json", "502 html", "503 json", "503 html"} {
			if seen[k] < 50 {
				t.Errorf("%s: %d of %d, want about a quarter (%v)", k, seen[k], len(cards), seen)
			}
		}
		if l := ts.sim.Ledger(); l.Charged != 0 || l.ByStatus["502"]+l.ByStatus["503"] != int64(len(cards)) {
			t.Errorf("ledger %+v", l)
		}
	})

	t.Run("error forms", func(t *testing.T) {
		for _, form := range []string{ErrorFormPlain, ErrorFormSuccess, ""} {
			ts := newTestServer(t, Config{ServerErrorProb: 1, ErrorForm: form})
			with := 0
			for _, c := range cards[:200] {
				o := ts.check("", c)
				if o.status != 500 || o.errBody.Error.Code != "api_error" {
					t.Fatalf("form %q: %d %s", form, o.status, o.body)
				}
				if o.hasSuccess {
					if o.errBody.Success == nil || *o.errBody.Success {
						t.Fatalf(`"success" is not false: %s`, o.body)
					}
					if !strings.HasPrefix(string(o.body), `{"success":false,"error":{`) {
						t.Fatalf("unexpected layout %s", o.body)
					}
					with++
				} else if !strings.HasPrefix(string(o.body), `{"error":{"code":"api_error","message":`) {
					t.Fatalf("unexpected layout %s", o.body)
				}
			}
			switch form {
			case ErrorFormPlain:
				if with != 0 {
					t.Errorf("plain: %d bodies with success", with)
				}
			case ErrorFormSuccess:
				if with != 200 {
					t.Errorf("success: %d of 200 bodies with success", with)
				}
			default:
				if with < 60 || with > 140 {
					t.Errorf("alternating: %d of 200 bodies with success, want about half", with)
				}
			}
		}
	})
}

func TestFailAuthAfter(t *testing.T) {
	ts := newTestServer(t, Config{FailAuthAfter: 5})
	for i := 1; i <= 10; i++ {
		o := ts.check("", cardWithPrefix("622848", 19, uint64(i)))
		want := 200
		if i > 5 {
			want = 401
		}
		if o.status != want {
			t.Fatalf("call %d: status %d, want %d", i, o.status, want)
		}
		if want == 401 && o.errBody.Error.Code != "invalid_token" {
			t.Fatalf("call %d: code %q", i, o.errBody.Error.Code)
		}
	}
	if l := ts.sim.Ledger(); l.Charged != 5 || l.ByStatus["401"] != 5 || l.Calls != 10 {
		t.Errorf("ledger %+v", l)
	}
}

func TestUsedUpAfterCharged(t *testing.T) {
	t.Run("sequential: free answers do not count", func(t *testing.T) {
		ts := newTestServer(t, Config{UsedUpAfterCharged: 3})
		seq := []struct {
			card string
			want int
			res  string
		}{
			{breakLuhn(icbcCard), 200, "-3"}, // free
			{cardWithPrefix("622848", 19, 1), 200, "0"},
			{cardWithPrefix("622848", 19, 2), 200, "0"},
			{breakLuhn(icbcCard), 200, "-3"},
			{cardWithPrefix("622848", 19, 3), 200, "0"}, // third charged
			{cardWithPrefix("622848", 19, 4), 403, ""},
			{breakLuhn(icbcCard), 403, ""}, // every call, once used up
		}
		for i, s := range seq {
			o := ts.check("", s.card)
			if o.status != s.want || o.answer.Result != s.res {
				t.Fatalf("call %d: %d %q, want %d %q", i, o.status, o.answer.Result, s.want, s.res)
			}
			if s.want == 403 && o.errBody.Error.Code != "used_up" {
				t.Fatalf("call %d: code %q", i, o.errBody.Error.Code)
			}
		}
		if l := ts.sim.Ledger(); l.Charged != 3 || l.ByStatus["403"] != 2 {
			t.Errorf("ledger %+v", l)
		}
	})

	t.Run("concurrent: exactly N charged", func(t *testing.T) {
		const limit = 50
		ts := newTestServer(t, Config{UsedUpAfterCharged: limit})
		cards := GenerateCards(11, 640)
		var mu sync.Mutex
		charged, usedUp := 0, 0
		var wg sync.WaitGroup
		for w := range 32 {
			wg.Go(func() {
				for _, c := range cards[w*20 : (w+1)*20] {
					o := ts.check("", c)
					mu.Lock()
					if o.charged() {
						charged++
					}
					if o.status == 403 && o.errBody.Error.Code == "used_up" {
						usedUp++
					}
					mu.Unlock()
				}
			})
		}
		wg.Wait()
		if charged != limit {
			t.Errorf("clients saw %d charged answers, want exactly %d", charged, limit)
		}
		if l := ts.sim.Ledger(); l.Charged != limit || l.ByStatus["403"] != int64(usedUp) {
			t.Errorf("ledger charged %d, 403s %d; clients saw %d used_up", l.Charged, l.ByStatus["403"], usedUp)
		}
	})
}

func TestOverride(t *testing.T) {
	special := cardWithPrefix("621700", 19, 9)
	tests := []struct {
		name       string
		ov         Override
		wantStatus int
		wantResult string
		wantCode   string
		wantBody   string // exact body, when set
		wantHeader map[string]string
		wantCharge bool
		wantJSON   bool
	}{
		{name: "not found with a bank", ov: Override{Result: "-1", AccountBank: "Test Bank", AccountType: 2}, wantStatus: 200, wantResult: "-1", wantCharge: true, wantJSON: true},
		{name: "busy", ov: Override{Result: "-2"}, wantStatus: 200, wantResult: "-2", wantJSON: true},
		{name: "undocumented -4", ov: Override{Result: "-4", Message: "Daily limit reached"}, wantStatus: 200, wantResult: "-4", wantCharge: true, wantJSON: true},
		{name: "403 disabled", ov: Override{Status: 403, Code: "disabled", Message: "Account disabled."}, wantStatus: 403, wantCode: "disabled", wantJSON: true},
		{name: "400 token_mismatched, default message", ov: Override{Status: 400, Code: "token_mismatched"}, wantStatus: 400, wantCode: "token_mismatched", wantJSON: true},
		{name: "429 with Retry-After", ov: Override{Status: 429, RetryAfter: "7"}, wantStatus: 429, wantCode: "too_many_requests", wantHeader: map[string]string{"Retry-After": "7"}, wantJSON: true},
		{name: "504 default code", ov: Override{Status: 504}, wantStatus: 504, wantCode: "timeout", wantJSON: true},
		{name: "raw HTML on 200", ov: Override{Body: "<html>proxy login</html>"}, wantStatus: 200, wantBody: "<html>proxy login</html>"},
		{name: "raw JSON, numeric result", ov: Override{Body: `{"result":0,"description":"ok"}`}, wantStatus: 200, wantResult: "0", wantCharge: true, wantBody: `{"result":0,"description":"ok"}`, wantJSON: true},
		{name: "raw truncated JSON", ov: Override{Body: `{"result":"0","descr`}, wantStatus: 200, wantBody: `{"result":"0","descr`},
		{name: "raw JSON on 502", ov: Override{Status: 502, Body: `{"message":"bad gateway"}`}, wantStatus: 502, wantBody: `{"message":"bad gateway"}`, wantJSON: true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			ts := newTestServer(t, Config{Seed: 5, ServerErrorProb: 1, Override: func(card string) (Override, bool) {
				return tc.ov, card == special
			}})
			o := ts.check("", special)
			if o.err != nil || o.status != tc.wantStatus {
				t.Fatalf("got %d %v, want %d", o.status, o.err, tc.wantStatus)
			}
			if tc.wantJSON != o.isJSON {
				t.Errorf("JSON = %v, want %v (%s)", o.isJSON, tc.wantJSON, o.body)
			}
			if tc.wantBody != "" && string(o.body) != tc.wantBody {
				t.Errorf("body %q, want %q", o.body, tc.wantBody)
			}
			if tc.wantResult != "" && o.answer.Result != tc.wantResult {
				t.Errorf("result %q, want %q", o.answer.Result, tc.wantResult)
			}
			if tc.wantCode != "" && o.errBody.Error.Code != tc.wantCode {
				t.Errorf("code %q, want %q", o.errBody.Error.Code, tc.wantCode)
			}
			for k, v := range tc.wantHeader {
				if got := o.header.Get(k); got != v {
					t.Errorf("header %s = %q, want %q", k, got, v)
				}
			}
			if tc.name == "not found with a bank" && (o.answer.AccountBank != "Test Bank" || o.answer.AccountType != 2) {
				t.Errorf("answer %+v", o.answer)
			}
			wantCharged := 0
			if tc.wantCharge {
				wantCharged = 1
			}
			if got := ts.sim.ChargedCount(special); got != wantCharged {
				t.Errorf("ChargedCount = %d, want %d", got, wantCharged)
			}
			if l := ts.sim.Ledger(); l.Charged != int64(wantCharged) || (tc.wantResult != "" && l.ByResult[tc.wantResult] != 1) {
				t.Errorf("ledger %+v", l)
			}
			// Other cards are not overridden: they get the configured 500.
			if o := ts.check("", icbcCard); o.status != 500 {
				t.Errorf("another card: status %d, want 500", o.status)
			}
		})
	}

	t.Run("drop", func(t *testing.T) {
		ts := newTestServer(t, Config{Override: func(string) (Override, bool) { return Override{Drop: true}, true }})
		if o := ts.check("", special); o.err == nil {
			t.Fatalf("got HTTP %d, want a dropped connection", o.status)
		}
		if l := ts.sim.Ledger(); l.Dropped != 1 {
			t.Errorf("ledger %+v", l)
		}
	})
	t.Run("gateway checks come first", func(t *testing.T) {
		ts := newTestServer(t, Config{Token: "T", Override: func(string) (Override, bool) { return Override{Result: "0"}, true }})
		if o := ts.check("bad", special); o.status != 401 {
			t.Errorf("status %d, want 401", o.status)
		}
	})
}

func TestAnswersForAndChargedCount(t *testing.T) {
	ts := newTestServer(t, Config{})
	card := cardWithPrefix("622588", 16, 1)
	for range 3 {
		ts.check("", card)
	}
	ts.check("", breakLuhn(card))
	got := ts.sim.AnswersFor(card)
	if len(got) != 3 {
		t.Fatalf("AnswersFor = %+v", got)
	}
	for _, e := range got {
		if e != (LedgerEntry{Status: 200, Result: "0", Charged: true}) {
			t.Errorf("entry %+v", e)
		}
	}
	if n := ts.sim.ChargedCount(card); n != 3 {
		t.Errorf("ChargedCount = %d", n)
	}
	if n := ts.sim.ChargedCount(breakLuhn(card)); n != 0 {
		t.Errorf("ChargedCount of a -3 card = %d", n)
	}
	if ts.sim.AnswersFor("4111111111111111") != nil {
		t.Error("AnswersFor of an unseen card is not nil")
	}
	l := ts.sim.Ledger()
	if l.DistinctCards != 2 || l.CardsChargedMoreThanOnce != 1 || l.Charged != 3 || l.ByResult["0"] != 3 || l.ByResult["-3"] != 1 {
		t.Errorf("ledger %+v", l)
	}
}
