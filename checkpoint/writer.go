package checkpoint

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"cardbatch/billing"
)

// RowRecord is the state of one row after something happened to it.
type RowRecord struct {
	Idx         int
	CardHMAC    []byte // nil for rows without a valid card
	State       State
	DupOf       int // for Duplicate: the index of the first row with the same card
	Result      string
	Description string
	AccountBank string
	AccountType int
	Billing     billing.Class
	Attempts    int // calls made for this row in this run, all attempts
	HTTPStatus  int
	Error       string
	At          time.Time // when the answer was obtained (zero when none)
}

// CallRecord is the billing of one call, counted into the attempt.
type CallRecord struct {
	Billing    billing.Class // Charged, Free, Unknown (in doubt or undocumented code), None (never sent)
	Result     string        // the answer's result code, "" when there was no answer
	HTTPStatus int           // 0 when no response arrived
}

type op struct {
	row  *RowRecord
	call *CallRecord
	ack  chan error
	slot int    // the worker's journal slot, or -1
	seq  uint64 // the worker's record number, for Slot.wait
}

// Writer owns every write of a run. Record never blocks for long (it blocks
// only while the queue is full); Flush blocks until what was queued before
// it is committed. Workers that make calls record through their Slot. All
// methods are safe for concurrent use. After a write error (a failed commit
// or journal write: a full disk, say) nothing more is written, and every
// method, including those already waiting, returns that error at once.
type Writer struct {
	s       *Store
	attempt int
	ops     chan op
	done    chan struct{} // closed when the writer goroutine has stopped
	failed  chan struct{} // closed when err is set
	// hurry asks the writer to commit what it holds now, rather than at the
	// end of its linger: someone waits for a record to be durable.
	hurry    chan struct{}
	failOnce sync.Once
	mu       sync.Mutex
	err      error
	closed   bool
	closeMu  sync.RWMutex // held for reading while sending, for writing by Close

	// conn is the writer's own connection, with its statements prepared once.
	conn          *sql.Conn
	upStmt, cntSt *sql.Stmt

	// durable[i] is the number of slot i's records committed so far; wake[i]
	// is signalled after it grows.
	durable []atomic.Uint64
	wake    []chan struct{}

	busy    atomic.Int64 // nanoseconds spent committing
	commits atomic.Int64

	// counters of the attempt, owned by the writer goroutine
	apiCalls, charged, free, inDoubt, unknown int64
	byResult, byStatus                        map[string]int64
}

// NewWriter starts the writer goroutine for attempt n. Close it to stop it.
func (s *Store) NewWriter(ctx context.Context, attempt int) (*Writer, error) {
	if s.journal == nil {
		return nil, errNoJournal
	}
	w := &Writer{s: s, attempt: attempt, ops: make(chan op, 4096), done: make(chan struct{}), failed: make(chan struct{}), hurry: make(chan struct{}, 1),
		byResult: map[string]int64{}, byStatus: map[string]int64{},
		durable: make([]atomic.Uint64, s.journal.slots), wake: make([]chan struct{}, s.journal.slots)}
	for i := range w.wake {
		w.wake[i] = make(chan struct{}, 1)
	}
	// Continue the attempt's counters if it already has some (never, in
	// practice: a writer per attempt).
	var br, bs string
	err := s.db.QueryRowContext(ctx, `SELECT api_calls, charged_calls, free_calls, in_doubt, unknown_calls, by_result, by_status
		FROM attempts WHERE n = ?`, attempt).Scan(&w.apiCalls, &w.charged, &w.free, &w.inDoubt, &w.unknown, &br, &bs)
	if err != nil {
		return nil, fmt.Errorf("attempt %d: %w", attempt, err)
	}
	_ = json.Unmarshal([]byte(br), &w.byResult)
	_ = json.Unmarshal([]byte(bs), &w.byStatus)
	if w.conn, err = s.db.Conn(ctx); err != nil {
		return nil, err
	}
	for _, p := range []struct {
		st  **sql.Stmt
		sql string
	}{{&w.upStmt, upsertRow}, {&w.cntSt, updateCounts}} {
		if *p.st, err = w.conn.PrepareContext(ctx, p.sql); err != nil {
			w.conn.Close()
			return nil, fmt.Errorf("prepare checkpoint statements: %w", err)
		}
	}
	go w.loop()
	return w, nil
}

// Record queues a row's new state and, when a call was made, that call's
// billing. Both are committed in the same transaction. Rows that a worker
// makes calls for are recorded through its Slot instead.
func (w *Writer) Record(r RowRecord, c *CallRecord) error {
	return w.send(op{row: &r, call: c, slot: -1})
}

// Slot is one worker's place in the in-flight journal. Its use keeps the
// promise of the journal: a row stays in the journal from before its call
// may leave until its answer is committed, so a run killed at any moment
// leaves every row whose call may have been charged without a committed
// answer in the journal, where the next BeginAttempt finds it. Each worker
// holds its own Slot; a Slot is not safe for concurrent use.
type Slot struct {
	w     *Writer
	i     int
	seq   uint64 // records queued through this slot
	open  bool   // the journal holds a row with no record since Begin
	inUse bool   // the journal holds a row
}

// Slot returns the handle of journal slot i (0 <= i < the slots given to
// BeginAttempt).
func (w *Writer) Slot(i int) *Slot { return &Slot{w: w, i: i} }

// Begin puts row idx in the slot before a call for it may leave. It first
// waits until the slot's previous record is committed (the row that was
// there is then safe to forget). After a write error it returns that error and the
// call must not leave.
func (sl *Slot) Begin(ctx context.Context, idx int) error {
	if sl.open {
		return fmt.Errorf("checkpoint: journal slot %d still holds a row whose call has no record", sl.i)
	}
	if err := sl.wait(ctx); err != nil {
		return err
	}
	if err := sl.w.s.journal.set(sl.i, idx); err != nil {
		return sl.w.fail(err)
	}
	sl.open, sl.inUse = true, true
	return nil
}

// Record queues the new state of the slot's row, like Writer.Record; the row
// stays in the journal until this is committed and the slot is reused or
// ended.
func (sl *Slot) Record(r RowRecord, c *CallRecord) error {
	sl.seq++
	sl.open = false
	return sl.w.send(op{row: &r, call: c, slot: sl.i, seq: sl.seq})
}

// End empties the slot once its last record is committed. A row whose call
// was sent and never recorded (the run was stopped hard mid-call) stays in
// the journal: the next run counts it in doubt.
// After a write error it returns that error and leaves the journal as is.
func (sl *Slot) End(ctx context.Context) error {
	if err := sl.w.Err(); err != nil {
		return err
	}
	if !sl.inUse || sl.open {
		return nil
	}
	if err := sl.wait(ctx); err != nil {
		return err
	}
	if err := sl.w.s.journal.clear(sl.i); err != nil {
		return sl.w.fail(err)
	}
	sl.inUse = false
	return nil
}

// wait returns once every record queued through the slot is committed, or
// the writer's error as soon as it fails.
func (sl *Slot) wait(ctx context.Context) error {
	w := sl.w
	if sl.i < 0 || sl.i >= len(w.durable) {
		return fmt.Errorf("checkpoint: journal slot %d out of range (%d slots)", sl.i, len(w.durable))
	}
	if err := w.Err(); err != nil {
		return err
	}
	for w.durable[sl.i].Load() < sl.seq {
		w.hurryUp()
		select {
		case <-w.wake[sl.i]:
		case <-w.failed:
			return w.Err()
		case <-w.done:
			if w.durable[sl.i].Load() >= sl.seq {
				return nil
			}
			if err := w.Err(); err != nil {
				return err
			}
			return errClosed
		case <-ctx.Done():
			return ctx.Err()
		}
	}
	return nil
}

// Flush returns once everything queued before it is committed.
func (w *Writer) Flush() error {
	ack := make(chan error, 1)
	if err := w.send(op{ack: ack, slot: -1}); err != nil {
		return err
	}
	select {
	case err := <-ack:
		return err
	case <-w.failed:
		return w.Err()
	case <-w.done: // stopped: the flush was answered, or never will be
		select {
		case err := <-ack:
			return err
		default:
		}
		if err := w.Err(); err != nil {
			return err
		}
		return errClosed
	}
}

// Busy returns the time spent in commits so far and their number.
func (w *Writer) Busy() (time.Duration, int64) {
	return time.Duration(w.busy.Load()), w.commits.Load()
}

// fail records err as the writer's error (unless it has one), wakes every
// goroutine waiting on the writer, and returns the writer's error.
func (w *Writer) fail(err error) error {
	w.mu.Lock()
	if w.err == nil {
		w.err = fmt.Errorf("%w; nothing more is recorded: fix the cause, then run the same command again to resume", err)
	}
	err = w.err
	w.mu.Unlock()
	w.failOnce.Do(func() { close(w.failed) })
	return err
}

// Err returns the first write error, if any.
func (w *Writer) Err() error {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.err
}

// Close flushes what is queued, stops the writer and returns the first
// write error. It is idempotent.
func (w *Writer) Close() error {
	w.closeMu.Lock()
	if !w.closed {
		w.closed = true
		close(w.ops)
	}
	w.closeMu.Unlock()
	<-w.done
	return w.Err()
}

var errClosed = errors.New("checkpoint writer is closed")

func (w *Writer) send(o op) (err error) {
	if err := w.Err(); err != nil {
		return err
	}
	w.closeMu.RLock()
	defer w.closeMu.RUnlock()
	if w.closed {
		return errClosed
	}
	select {
	case w.ops <- o:
		return nil
	case <-w.failed:
		return w.Err()
	case <-w.done:
		if err := w.Err(); err != nil {
			return err
		}
		return errClosed
	}
}

const maxBatch = 4096

// linger is how long the writer holds a small batch for more records
// before it commits, unless someone waits for one of them: at the API's
// rates (tens of answers a second) one transaction then carries several
// answers instead of one.
const linger = 100 * time.Millisecond

// Ready returns once every record queued through the slot is committed:
// a worker calls it before it takes its turn at the rate limit, so that
// Begin never waits on the checkpoint between the turn and the call.
func (sl *Slot) Ready(ctx context.Context) error { return sl.wait(ctx) }

// hurryUp asks the writer to commit now.
func (w *Writer) hurryUp() {
	select {
	case w.hurry <- struct{}{}:
	default:
	}
}

// gather adds to batch what is queued now and, unless someone waits,
// what arrives within linger. It reports whether the writer must stop
// after this batch (ops closed or a journal write failed).
func (w *Writer) gather(batch []op) ([]op, bool) {
	var timer *time.Timer
	urgent := batch[0].ack != nil // a Flush waits
	for len(batch) < maxBatch {
		select {
		case o, ok := <-w.ops:
			if !ok {
				return batch, true
			}
			batch = append(batch, o)
			urgent = urgent || o.ack != nil
			continue
		default:
		}
		if urgent {
			return batch, false
		}
		if timer == nil {
			timer = time.NewTimer(linger)
			defer timer.Stop()
		}
		select {
		case o, ok := <-w.ops:
			if !ok {
				return batch, true
			}
			batch = append(batch, o)
			urgent = o.ack != nil
		case <-w.hurry:
			return batch, false
		case <-timer.C:
			return batch, false
		case <-w.failed:
			return batch, true
		}
	}
	return batch, false
}

func (w *Writer) loop() {
	defer close(w.done)
	defer func() {
		w.upStmt.Close()
		w.cntSt.Close()
		w.conn.Close()
	}()
	batch := make([]op, 0, maxBatch)
	for {
		var o op
		var ok bool
		select {
		case o, ok = <-w.ops:
		case <-w.failed: // a journal write failed
			return
		}
		if !ok {
			return
		}
		var last bool
		batch, last = w.gather(append(batch[:0], o))
		t0 := time.Now()
		err := w.commit(batch)
		w.busy.Add(int64(time.Since(t0)))
		w.commits.Add(1)
		if err != nil {
			err = w.fail(fmt.Errorf("write checkpoint %s: %w", w.s.path, err))
		}
		for _, o := range batch {
			if o.ack != nil {
				o.ack <- err
			}
			if o.slot >= 0 && err == nil {
				w.durable[o.slot].Store(o.seq)
				select {
				case w.wake[o.slot] <- struct{}{}:
				default:
				}
			}
		}
		if err != nil || last && w.Err() != nil {
			// Stop now: whoever waits on the writer has been woken by
			// fail, and whatever is still queued is never written.
			return
		}
		if last {
			return
		}
	}
}

const upsertRow = `INSERT INTO rows (idx, card_hmac, state, dup_of, result, description, account_bank, account_type,
	billing, attempts, http_status, error, attempt_n, answered_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
	ON CONFLICT(idx) DO UPDATE SET card_hmac = COALESCE(excluded.card_hmac, card_hmac), state = excluded.state,
	dup_of = excluded.dup_of, result = excluded.result, description = excluded.description,
	account_bank = excluded.account_bank, account_type = excluded.account_type, billing = excluded.billing,
	attempts = excluded.attempts, http_status = excluded.http_status, error = excluded.error,
	attempt_n = excluded.attempt_n, answered_at = excluded.answered_at`

const updateCounts = `UPDATE attempts SET api_calls = ?, charged_calls = ?, free_calls = ?, in_doubt = ?,
	unknown_calls = ?, by_result = ?, by_status = ? WHERE n = ?`

// commit writes batch in one transaction on the writer's own connection.
// BEGIN and COMMIT are plain statements on that connection so that the
// statements prepared once in NewWriter are used as they are (a database/sql
// Tx would prepare them again for every transaction).
func (w *Writer) commit(batch []op) (err error) {
	ctx := context.Background()
	if _, err := w.conn.ExecContext(ctx, "BEGIN"); err != nil {
		return err
	}
	defer func() {
		if err != nil {
			_, _ = w.conn.ExecContext(ctx, "ROLLBACK")
		}
	}()
	calls := false
	for _, o := range batch {
		if r := o.row; r != nil {
			var dup any
			if r.State == Duplicate {
				dup = r.DupOf
			}
			bill := r.Billing
			if bill == "" {
				bill = billing.None
			}
			if _, err := w.upStmt.ExecContext(ctx, r.Idx, r.CardHMAC, string(r.State), dup, r.Result, r.Description,
				r.AccountBank, r.AccountType, string(bill), r.Attempts, r.HTTPStatus, r.Error, w.attempt, unixOrZero(r.At)); err != nil {
				return err
			}
		}
		if c := o.call; c != nil && c.Billing != billing.None {
			calls = true
			w.count(c)
		}
	}
	if calls {
		br, _ := json.Marshal(w.byResult)
		bs, _ := json.Marshal(w.byStatus)
		if _, err := w.cntSt.ExecContext(ctx,
			w.apiCalls, w.charged, w.free, w.inDoubt, w.unknown, string(br), string(bs), w.attempt); err != nil {
			return err
		}
	}
	_, err = w.conn.ExecContext(ctx, "COMMIT")
	return err
}

// count adds one sent call to the attempt's counters (writer goroutine only).
func (w *Writer) count(c *CallRecord) {
	w.apiCalls++
	if c.Result != "" {
		w.byResult[c.Result]++
	}
	if c.HTTPStatus != 200 {
		key := "none"
		if c.HTTPStatus != 0 {
			key = strconv.Itoa(c.HTTPStatus)
		}
		w.byStatus[key]++
	}
	switch c.Billing {
	case billing.Charged:
		w.charged++
	case billing.Free:
		w.free++
	case billing.Unknown:
		if c.Result != "" { // an answer with an undocumented code: billed as charged
			w.charged++
			w.unknown++
		} else { // no answer: in doubt
			w.inDoubt++
		}
	}
}
