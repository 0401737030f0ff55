package pipeline

import (
	"context"
	"time"

	"cardbatch/checkpoint"
)

// collector is the last stage, one goroutine: it takes the rows back in
// input order as they settle, records those the prepare stage settled, and
// writes every row to the sink through render.
type collector struct {
	rec   recorder
	sink  Sink
	prior *priorRows // rows final before this attempt; nil when none
	tally *checkpoint.Tally
	stats *Stats
	rows  int // rows written
	// firsts remembers the answer of every card's first row, for the rows
	// that repeat it (answers are interned: a run has few distinct ones).
	firsts map[int32]firstRef
	intern map[answerKey]int32
	table  []answerKey
}

// firstRef is a first row's answer: an index into table, and its time.
type firstRef struct {
	answer int32
	at     int64 // Unix seconds, 0 when none
}

// answerKey is the part of a row's state that its duplicates show.
type answerKey struct {
	state              checkpoint.State
	result, desc, bank string
	accountType        int
	errText            string
}

func newCollector(rec recorder, sink Sink, prior *priorRows, stats *Stats) *collector {
	return &collector{rec: rec, sink: sink, prior: prior, tally: checkpoint.NewTally(), stats: stats,
		firsts: make(map[int32]firstRef, 1024), intern: map[answerKey]int32{}}
}

// run writes the rows of ordered as they settle, until ordered is closed
// or ctx ends (a hard stop: the output is then abandoned).
func (c *collector) run(ctx context.Context, ordered <-chan *item) error {
	for it := range ordered {
		if it.settled != nil {
			select {
			case <-it.settled:
			case <-ctx.Done():
				return nil
			}
		}
		if ctx.Err() != nil {
			return nil
		}
		if err := c.collect(it); err != nil {
			return err
		}
	}
	return nil
}

// collect records and writes one settled row.
func (c *collector) collect(it *item) error {
	a := checkpoint.Answered{RowRecord: it.rec, OrigState: it.rec.State}
	switch it.how {
	case settledHere:
		if err := c.rec.Record(it.rec, nil); err != nil {
			return err
		}
	case settledBefore:
		prev, err := c.prior.get(it.row.Index)
		if err != nil {
			return err
		}
		a = prev
	case settledUnsent:
		a.State, a.OrigState, a.Error = checkpoint.Skipped, checkpoint.Skipped, "not sent: the run stopped before this row"
	}
	if a.State == checkpoint.Duplicate {
		c.resolve(&a)
	} else if it.card != "" {
		c.remember(int32(it.row.Index), &a)
	}
	c.tally.Add(&a)
	c.rows++
	return c.sink.Write(it.row, render(&a))
}

// remember keeps a first row's answer for its duplicates.
func (c *collector) remember(idx int32, a *checkpoint.Answered) {
	k := answerKey{state: a.State, result: a.Result, desc: a.Description, bank: a.AccountBank,
		accountType: a.AccountType, errText: a.Error}
	id, ok := c.intern[k]
	if !ok {
		id = int32(len(c.table))
		c.table = append(c.table, k)
		c.intern[k] = id
	}
	var at int64
	if !a.At.IsZero() {
		at = a.At.Unix()
	}
	c.firsts[idx] = firstRef{answer: id, at: at}
}

// resolve gives a duplicate row its first row's answer.
func (c *collector) resolve(a *checkpoint.Answered) {
	ref, ok := c.firsts[int32(a.DupOf)]
	if !ok {
		return
	}
	k := c.table[ref.answer]
	a.OrigState, a.Result, a.Description, a.AccountBank, a.AccountType = k.state, k.result, k.desc, k.bank, k.accountType
	if !k.state.Final() {
		a.Error = k.errText
	}
	if ref.at != 0 {
		a.At = time.Unix(ref.at, 0).UTC()
	}
}
