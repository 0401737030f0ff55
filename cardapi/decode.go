package cardapi

import (
	"bytes"
	"encoding/json"
	"strconv"
	"strings"

	"cardbatch/billing"
)

// requestBody returns the JSON body of a call for card: encrypted when the
// client has an encryption key, else {"bank_card":"..."} in clear.
func (c *Client) requestBody(card string) ([]byte, error) {
	if c.encKey == nil {
		return json.Marshal(Request{BankCard: card})
	}
	return encryptedBody(card, c.encKey, c.encArr, c.rnd)
}

// wireAnswer is the lenient decoding of a 200 answer, as the API document
// allows: result is a JSON string or number; account_type a number (or a
// numeric string); any field may be absent or null. Only result is
// required, checked by decodeAnswer.
type wireAnswer struct {
	Result      flexString `json:"result"`
	Description flexString `json:"description"`
	AccountBank flexString `json:"account_bank"`
	AccountType flexInt    `json:"account_type"`
}

// decodeAnswer classifies a complete HTTP 200 body.
func (c *Client) decodeAnswer(o *Outcome, data []byte, card string) {
	var w wireAnswer
	if err := json.Unmarshal(trimBOM(data), &w); err != nil || !w.Result.ok || w.Result.s == "" {
		// Not an answer, but the provider may have billed the call.
		o.Kind, o.Billing = KindProtocol, billing.Unknown
		o.Excerpt = c.excerpt(data, card)
		c.decodeErrorBody(o, data, card)
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
	c.decodeErrorBody(o, data, card)
	if o.Code == "" {
		o.Excerpt = c.excerpt(data, card)
	}
}

// decodeErrorBody fills Code, Message and TraceID when data is the
// provider's error JSON, in either documented form.
func (c *Client) decodeErrorBody(o *Outcome, data []byte, card string) {
	var eb ErrorBody
	if obj := jsonObject(data); obj != nil && json.Unmarshal(obj, &eb) == nil {
		o.Code = c.scrub(eb.Error.Code, card)
		o.Message = c.scrub(eb.Error.Message, card)
		o.TraceID = c.scrub(eb.TraceID, card)
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

// flexString decodes a JSON string or number (kept as its text, integral
// numbers normalised: -2.0 becomes "-2"); null and other types leave it
// unset without failing the decoding.
type flexString struct {
	s  string
	ok bool
}

// UnmarshalJSON implements json.Unmarshaler; b is one valid JSON value.
func (f *flexString) UnmarshalJSON(b []byte) error {
	switch {
	case b[0] == '"':
		if err := json.Unmarshal(b, &f.s); err != nil {
			return err
		}
		f.ok = true
	case b[0] == '-' || b[0] >= '0' && b[0] <= '9':
		f.s, f.ok = normalizeNumber(string(b)), true
	}
	return nil
}

// normalizeNumber returns the text of a JSON number, written as an integer
// when it has an integral value that a float64 holds exactly.
func normalizeNumber(s string) string {
	if strings.ContainsAny(s, ".eE") {
		if v, err := strconv.ParseFloat(s, 64); err == nil && v == float64(int64(v)) && v > -1e15 && v < 1e15 {
			return strconv.FormatInt(int64(v), 10)
		}
	}
	return s
}

// flexInt decodes account_type: a JSON number or a numeric string. Anything
// else (null, "", text, a fraction) decodes as 0 without failing.
type flexInt int

// UnmarshalJSON implements json.Unmarshaler; b is one valid JSON value.
func (f *flexInt) UnmarshalJSON(b []byte) error {
	var s flexString
	if err := s.UnmarshalJSON(b); err != nil || !s.ok {
		return nil
	}
	v, err := strconv.Atoi(normalizeNumber(strings.TrimSpace(s.s)))
	if err == nil && v >= 0 && v <= 1<<30 {
		*f = flexInt(v)
	}
	return nil
}
