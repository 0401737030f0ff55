// Package cardapi speaks the upstream "Bank Card Basic Information Query"
// API (POST /identity/bankcard/check-1e): its request and response bodies,
// its result codes and their billing, and an HTTP client that classifies
// every outcome of a call into exactly one Kind.
package cardapi

import (
	"context"
	"time"

	"cardbatch/billing"
)

// Path is the API's path below the endpoint (base URL).
const Path = "/identity/bankcard/check-1e"

// DefaultEndpoint is the provider's documented base URL.
const DefaultEndpoint = "https://api.acedata.cloud"

// Request is the JSON body of a call. Encryption is set only when field
// encryption is on; then BankCard holds base64 ciphertext.
type Request struct {
	BankCard   string `json:"bank_card"`
	Encryption any    `json:"encryption,omitempty"` // *Encryption, or []Encryption in array form
}

// Encryption describes field-level encryption of the request, as the API
// document gives it.
type Encryption struct {
	EncryptList    []string `json:"encrypt_list"`
	CiphertextBlob string   `json:"ciphertext_blob"`
	IV             string   `json:"iv"`
	Algorithm      string   `json:"algorithm"`
	TagList        []string `json:"tag_list,omitempty"`
}

// Answer is a decoded HTTP 200 answer. Result is always a string, whether
// the server sent a JSON string or number. AccountType is 0 when absent.
type Answer struct {
	Result      string `json:"result"`
	Description string `json:"description"`
	AccountBank string `json:"account_bank,omitempty"`
	AccountType int    `json:"account_type,omitempty"`
}

// ErrorBody is the provider's error answer; both documented forms decode
// into it ({"error":{...},"trace_id":...} with or without "success":false).
type ErrorBody struct {
	Success *bool       `json:"success,omitempty"`
	Error   ErrorDetail `json:"error"`
	TraceID string      `json:"trace_id,omitempty"`
}

// ErrorDetail is the code and message of an error answer.
type ErrorDetail struct {
	Code    string `json:"code"`
	Message string `json:"message"`
}

// Kind classifies the outcome of one call. Every call has exactly one Kind.
type Kind int

const (
	// KindAnswer: HTTP 200 with a final result code ("0", "-1", "-3" or an
	// undocumented code). Outcome.Answer and Outcome.Billing are set.
	KindAnswer Kind = iota
	// KindRetryable: worth sending again later: result "-2" (busy; Answer
	// is set), HTTP 429 (RetryAfter set when the server sent one), HTTP 5xx,
	// a timeout or a connection error.
	KindRetryable
	// KindFatal: the run must stop: HTTP 400/401/403/404 (and any other 4xx
	// but 429). Code and Message hold the provider's error code and message.
	// Also a call that could not be built because field encryption failed
	// (crypto/rand failed): HTTPStatus 0, not sent, Err set.
	KindFatal
	// KindProtocol: an answer that is none of the above (not JSON, JSON of
	// another shape, a truncated body, a body over the size limit, a status
	// other than 200, 4xx and 5xx such as a redirect that was not followed).
	// HTTPStatus and Excerpt say what came back. A 4xx or 5xx answer keeps
	// its Kind above whatever its body, with Excerpt set when the body is
	// not the provider's error JSON (or is over the size limit).
	KindProtocol
)

// String returns the Kind's lower-case name ("answer", "retryable",
// "fatal", "protocol"), or "unknown" for a value outside the constants.
func (k Kind) String() string {
	switch k {
	case KindAnswer:
		return "answer"
	case KindRetryable:
		return "retryable"
	case KindFatal:
		return "fatal"
	case KindProtocol:
		return "protocol"
	}
	return "unknown"
}

// Outcome is everything the caller needs to know about one call. It never
// contains the card number or the token.
type Outcome struct {
	Kind Kind
	// HTTPStatus is the response status, 0 when no response arrived.
	HTTPStatus int
	// Answer is the decoded body of an HTTP 200 answer (KindAnswer, or
	// KindRetryable with result "-2").
	Answer Answer
	// Billing is the billing class of this call: the result code's class for
	// a 200 answer; Free for an HTTP 4xx/5xx answer (not billed); Unknown
	// when the call may have reached the provider but its answer was lost
	// (network error after the request was written, timeout, or a protocol
	// error on HTTP 200 or another 2xx): such a call is "in doubt"; None when
	// the request was never sent (Sent is false).
	Billing billing.Class
	// Sent reports whether the request may have reached the server: false
	// when it was not written whole (no connection, a failed TLS handshake,
	// ctx ended while waiting for a pooled connection, the connection broke
	// while it was being written), as httptrace's WroteRequest reports.
	Sent bool
	// RetryAfter is the parsed Retry-After of a 429 or 5xx (0 when absent or
	// unparsable; at most MaxRetryAfter).
	RetryAfter time.Duration
	// Code and Message are the provider's error code and message (4xx/5xx).
	Code, Message string
	// TraceID is the provider's trace_id of an error answer, for support
	// requests ("" when absent).
	TraceID string
	// Excerpt is a short, printable excerpt of an unexpected body
	// (KindProtocol, or a 4xx/5xx whose body is not the provider's error
	// JSON), at most 200 bytes of valid UTF-8, card and token masked. It
	// describes the body when there is nothing to quote ("(empty body)",
	// "response body larger than N bytes").
	Excerpt string
	// Err is the transport error, if any (timeouts, resets, a body cut
	// short). Its text never contains the card number or the token. When
	// ctx ended the call, errors.Is(Err, ctx.Err()) holds.
	Err error
	// Latency is the time from sending the request to the end of the body.
	Latency time.Duration
}

// InDoubt reports whether the call may have been charged although no answer
// was obtained.
func (o Outcome) InDoubt() bool { return o.Billing == billing.Unknown && o.Kind != KindAnswer }

// Caller makes one call for one card. Implementations are safe for
// concurrent use; Check blocks until the call ends or ctx is done, and
// always returns an Outcome (ctx cancellation is a KindRetryable outcome
// whose Err wraps ctx.Err()).
type Caller interface {
	Check(ctx context.Context, card string) Outcome
}
