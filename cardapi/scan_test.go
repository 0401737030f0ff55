package cardapi

import (
	"encoding/json"
	"testing"
)

var scanSeeds = []string{
	`{"result":"0","description":"Query successful","account_bank":"Industrial and Commercial Bank of China","account_type":1}`,
	`{"result":"-1","description":"查询无结果","account_bank":"","account_type":"2"}`,
	` { "result" : -3 , "description" : null , "account_type" : 2.0 , "trace_id" : "abc" } `,
	`{"result":"0","account_bank":"Bank \u003cA\u003e \"B\"","trace_id":"t\/1"}`,
	`{"Result":"0","RESULT":"-1"}`,
	`{"result":"0","result":null}`,
	`{"account_type":3,"account_type":"x"}`,
	`{"account_type":1e2,"result":1.5e1}`,
	`{"result":"\x"}`,
	`{"trace_id":"\x","result":"0"}`,
	`{"trace_id":"\u12G4","result":"0"}`,
	`{"result":"0",}`,
	`{"result":"0"} x`,
	`{"result":01}`,
	`{"result":-}`,
	`{"result":true,"description":false}`,
	`{"résult":"0"}`,
	"{\"result\":\"0\x01\"}",
	"{\"result\":\"\xff\xfe\"}",
	`{}`,
	`[]`,
	``,
	`{"result":"0","nested":{"a":1}}`,
	`{"result":"0","extra":[1,2]}`,
}

// FuzzScanAnswer: whenever the fast path accepts a body, it decodes exactly
// what encoding/json decodes; a body encoding/json refuses is never accepted.
func FuzzScanAnswer(f *testing.F) {
	for _, s := range scanSeeds {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		var want wireAnswer
		werr := json.Unmarshal(data, &want)
		var got wireAnswer
		if !scanAnswer(data, &got) {
			return
		}
		if werr != nil {
			t.Fatalf("fast path accepted %q, which encoding/json refuses: %v", data, werr)
		}
		if got != want {
			t.Fatalf("%q: fast path %+v, encoding/json %+v", data, got, want)
		}
	})
}

// TestScanAnswerTakesTheCommonAnswers: the fast path is the one the API's
// ordinary answers take (else it saves nothing).
func TestScanAnswerTakesTheCommonAnswers(t *testing.T) {
	for _, s := range scanSeeds[:8] {
		var w wireAnswer
		if !scanAnswer([]byte(s), &w) {
			t.Errorf("fast path refused %s", s)
		}
	}
	for _, s := range []string{`{"result":"\x"}`, `{"trace_id":"\x","result":"0"}`, `{"result":"0",}`, `{"result":"0"} x`,
		`{"result":01}`, `{"résult":"0"}`, "{\"result\":\"0\x01\"}", `{"result":"0","nested":{"a":1}}`, `{"result":"0","extra":[1,2]}`, ``, `[]`} {
		var w wireAnswer
		if scanAnswer([]byte(s), &w) {
			t.Errorf("fast path accepted %q; it must leave it to encoding/json", s)
		}
	}
}
