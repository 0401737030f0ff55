package pipeline

import (
	"context"
	"errors"
	"io"
	"sync"

	"cardbatch/billing"
	"cardbatch/checkpoint"
)

// liveOutputWindow is how many settled rows may wait for an earlier row
// still being worked on (a card in its retry back-off) before the live
// output gives up and the output is written by the final pass instead.
var liveOutputWindow = 1 << 16

// liveOutputOn lets tests turn the live output off (export_test.go).
var liveOutputOn = true

// liveOutput writes the output while the calls are made, so that a run has
// nothing left to write when its last answer comes in. It reads the input
// a second time, in order, and writes each row as soon as the row is
// settled — its last record of the attempt is queued — exactly as the
// final pass (writeOutput) would render it from the checkpoint once every
// record is committed; TestLiveOutputEqualsFinalPass holds the two equal.
//
// It is used only by an attempt that starts with no finished row (every
// row of the input gets a record in this attempt) and only when the
// attempt dispatches every row: if the run stops early, a worker fails,
// or too many settled rows wait behind a slow one, it is abandoned (its
// file never appears) and writeOutput writes the output as before.
type liveOutput struct {
	cfg *Config

	mu        sync.Mutex
	cond      *sync.Cond
	settled   map[int]checkpoint.RowRecord // settled rows not written yet
	waiting   int                          // the row the writer waits for
	abandoned bool

	// Written by the run goroutine only.
	rw      *rowWriter
	src     Source
	tally   *checkpoint.Tally
	total   int
	answers []answerID       // per row index: the row's answer, for its duplicates
	ids     map[answer]int32 // interned answers
	list    []answer
	err     error
	done    chan struct{}
}

// answer is what a duplicate row shows of the row it repeats.
type answer struct {
	state       checkpoint.State
	result      string
	description string
	bank        string
	accountType int
	err         string
}

// answerID is 1 + an index into liveOutput.list; 0 is none.
type answerID int32

// startLiveOutput opens the input again and the output sink, and starts
// writing. It returns nil (and the final pass will write the output) if
// either cannot be opened.
func startLiveOutput(ctx context.Context, cfg *Config) *liveOutput {
	if !liveOutputOn {
		return nil
	}
	src, err := cfg.OpenSource(ctx)
	if err != nil {
		return nil
	}
	rw, err := newRowWriter(cfg, src)
	if err != nil {
		src.Close()
		return nil
	}
	l := &liveOutput{cfg: cfg, settled: map[int]checkpoint.RowRecord{}, waiting: -1, rw: rw, src: src,
		tally: checkpoint.NewTally(), ids: map[answer]int32{}, done: make(chan struct{})}
	l.cond = sync.NewCond(&l.mu)
	go l.run(ctx)
	return l
}

// settles reports whether a record of state is a row's last in an attempt
// (every state but Retrying: process records Retrying between calls).
func settles(state checkpoint.State) bool {
	return state != checkpoint.Retrying && state != checkpoint.Pending
}

// settle hands over a row's last record of the attempt. Safe on nil.
func (l *liveOutput) settle(r *checkpoint.RowRecord) {
	if l == nil {
		return
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.abandoned {
		return
	}
	if len(l.settled) >= liveOutputWindow {
		l.abandonLocked()
		return
	}
	l.settled[r.Idx] = *r
	// Wake the writer only once a batch is ready to be written (finish
	// wakes it for the last rows): a wake-up per row costs more than
	// writing it.
	if l.waiting >= 0 && len(l.settled) >= liveOutputBatch {
		if _, ok := l.settled[l.waiting]; ok {
			l.waiting = -1
			l.cond.Signal()
		}
	}
}

// liveOutputBatch is how many settled rows wake the live output's writer.
const liveOutputBatch = 256

// abandon stops the live output; its file never appears. Safe on nil.
func (l *liveOutput) abandon() {
	if l == nil {
		return
	}
	l.mu.Lock()
	l.abandonLocked()
	l.mu.Unlock()
}

func (l *liveOutput) abandonLocked() {
	if !l.abandoned {
		l.abandoned = true
		l.settled = nil
		l.cond.Broadcast()
	}
}

// wait returns row idx's settled record, or false once abandoned.
func (l *liveOutput) wait(idx int) (checkpoint.RowRecord, bool) {
	l.mu.Lock()
	defer l.mu.Unlock()
	for {
		if l.abandoned {
			return checkpoint.RowRecord{}, false
		}
		if r, ok := l.settled[idx]; ok {
			delete(l.settled, idx)
			l.waiting = -1
			return r, true
		}
		l.waiting = idx
		l.cond.Wait()
	}
}

var errAbandoned = errors.New("live output abandoned")

// run writes every input row as it settles, until the end of the input or
// until the live output is abandoned.
func (l *liveOutput) run(ctx context.Context) {
	defer close(l.done)
	defer l.src.Close()
	for {
		row, err := l.src.Next(ctx)
		if err == io.EOF {
			return
		}
		if err != nil {
			l.err = err
			l.abandon()
			return
		}
		l.total++
		rec, ok := l.wait(row.Index)
		if !ok {
			l.err = errAbandoned
			return
		}
		a, ok := l.answered(&rec)
		if !ok {
			l.err = errors.New("a duplicate row's first row was not written")
			l.abandon()
			return
		}
		l.tally.Add(a)
		if err := l.rw.write(row.Fields, a); err != nil {
			l.err = err
			l.abandon()
			return
		}
	}
}

// answered renders r as checkpoint.Store.Scan would once every record is
// committed: a duplicate shows the answer of the row it repeats (written
// before it, as it comes earlier in the input).
func (l *liveOutput) answered(r *checkpoint.RowRecord) (*checkpoint.Answered, bool) {
	a := &checkpoint.Answered{RowRecord: *r, OrigState: r.State}
	if a.Billing == "" {
		a.Billing = billing.None
	}
	if r.State != checkpoint.Duplicate {
		a.DupOf = -1
		l.remember(r.Idx, answer{state: r.State, result: r.Result, description: r.Description,
			bank: r.AccountBank, accountType: r.AccountType, err: r.Error})
		return a, true
	}
	if r.DupOf < 0 || r.DupOf >= len(l.answers) || l.answers[r.DupOf] == 0 {
		return nil, false
	}
	o := l.list[l.answers[r.DupOf]-1]
	a.OrigState, a.Result, a.Description, a.AccountBank, a.AccountType = o.state, o.result, o.description, o.bank, o.accountType
	if a.Error == "" && !a.OrigState.Final() {
		a.Error = o.err
	}
	return a, true
}

// remember records row idx's answer (interned: a few hundred distinct
// answers cover millions of rows).
func (l *liveOutput) remember(idx int, ans answer) {
	id, ok := l.ids[ans]
	if !ok {
		l.list = append(l.list, ans)
		id = int32(len(l.list))
		l.ids[ans] = id
	}
	for len(l.answers) <= idx {
		l.answers = append(l.answers, 0)
	}
	l.answers[idx] = answerID(id)
}

// finish waits for the live output to write its last row and returns its
// row count and tally, or ok false if it was abandoned (its sink aborted).
func (l *liveOutput) finish() (total int, tally *checkpoint.Tally, ok bool) {
	// Every row is settled: wake the writer for the last ones.
	l.mu.Lock()
	l.cond.Broadcast()
	l.mu.Unlock()
	<-l.done
	if l.err != nil {
		l.rw.sink.Abort()
		return 0, nil, false
	}
	return l.total, l.tally, true
}

// discard abandons the live output and waits for it to stop.
func (l *liveOutput) discard() {
	if l == nil {
		return
	}
	l.abandon()
	<-l.done
	l.rw.sink.Abort()
}
