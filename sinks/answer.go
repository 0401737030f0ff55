package sinks

import (
	"cardbatch/billing"
	"cardbatch/cardnum"
	"cardbatch/sources"
	"strconv"
	"time"
)

// Answer is what cardbatch adds to one output row.
type Answer struct {
	Result, Description, AccountBank string
	AccountType                      int // 0 = none
	Billing, Status, Error           string
	AnsweredAt                       time.Time // zero when the row has no answer
}

// Legacy adapts a Sink that takes whole rows of text to rows with an Answer
// (until every sink takes them directly).
func Legacy(s Sink, width, cardCol int, mask bool) *LegacySink {
	return &LegacySink{s: s, width: width, col: cardCol, mask: mask}
}

// LegacySink is the adapter Legacy returns.
type LegacySink struct {
	s          Sink
	width, col int
	mask       bool
}

// Write writes the row's cells, then the answer's.
func (l *LegacySink) Write(row sources.Row, a Answer) error {
	out := append([]string{}, row.Fields...)
	for len(out) < l.width {
		out = append(out, "")
	}
	extra := append([]string(nil), out[l.width:]...)
	out = out[:l.width]
	if l.mask && l.col < len(out) {
		out[l.col] = cardnum.Mask(cardnum.Normalize(out[l.col]))
	}
	typ, at := "", ""
	if a.AccountType != 0 {
		typ = strconv.Itoa(a.AccountType)
	}
	if !a.AnsweredAt.IsZero() {
		at = a.AnsweredAt.UTC().Format(time.RFC3339)
	}
	out = append(out, a.Result, a.Description, a.AccountBank, typ, billing.AccountTypeName(a.AccountType),
		a.Billing, a.Status, a.Error, at)
	return l.s.Write(append(out, extra...))
}

// Commit commits the wrapped sink.
func (l *LegacySink) Commit(sum *billing.Summary) error { return l.s.Commit(sum) }

// Abort aborts the wrapped sink.
func (l *LegacySink) Abort() error { return l.s.Abort() }

// AddedColumns are the columns appended to every output row.
var AddedColumns = []string{"result", "description", "account_bank", "account_type",
	"account_type_name", "billing", "status", "error", "answered_at"}
