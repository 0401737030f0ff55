package pipeline

import (
	"context"
	"errors"
	"fmt"
	"io"
	"strconv"

	"cardbatch/billing"
	"cardbatch/cardnum"
	"cardbatch/checkpoint"
)

// writeOutput reads the input again and merges it, row by row, with the
// checkpoint's records (both in index order) into the sink. A row the
// checkpoint does not hold was never reached (the run stopped early) and is
// written as skipped. The sink's file appears only when every row is
// written; on any error it is aborted and an earlier output stays as it was.
// It returns the Tally of the checkpoint's rows, counted on the way.
func writeOutput(ctx context.Context, cfg *Config) (tally *checkpoint.Tally, err error) {
	src, err := cfg.OpenSource(ctx)
	if err != nil {
		return nil, err
	}
	defer src.Close()
	rw, err := newRowWriter(cfg, src)
	if err != nil {
		return nil, err
	}
	defer func() {
		if err != nil {
			rw.sink.Abort()
		}
	}()
	total := 0
	var pending bool // a source row has been read but not written yet
	var row struct {
		idx    int
		fields []string
	}
	next := func() error {
		r, err := src.Next(ctx)
		if err != nil {
			return err
		}
		row.idx, row.fields, pending = r.Index, r.Fields, true
		total++
		return nil
	}
	emit := func(a *checkpoint.Answered) error {
		pending = false
		return rw.write(row.fields, a)
	}
	skipped := &checkpoint.Answered{RowRecord: checkpoint.RowRecord{State: checkpoint.Skipped, Billing: billing.None,
		Error: "not sent: the run stopped before this row"}, OrigState: checkpoint.Skipped}
	tally = checkpoint.NewTally()
	err = scanAhead(ctx, cfg.Store, func(a *checkpoint.Answered) error {
		tally.Add(a)
		for {
			if !pending {
				if err := next(); err != nil {
					if errors.Is(err, io.EOF) {
						return fmt.Errorf("the checkpoint has row %d but the input has only %d rows: has the input changed?", a.Idx+1, total)
					}
					return err
				}
			}
			if row.idx < a.Idx {
				if err := emit(skipped); err != nil {
					return err
				}
				continue
			}
			if row.idx > a.Idx {
				return fmt.Errorf("checkpoint row %d does not match the input: has the input changed?", a.Idx+1)
			}
			return emit(a)
		}
	})
	if err != nil {
		return nil, err
	}
	for {
		if !pending {
			if err := next(); err != nil {
				if errors.Is(err, io.EOF) {
					break
				}
				return nil, err
			}
		}
		if err := emit(skipped); err != nil {
			return nil, err
		}
	}
	return tally, commitOutput(ctx, cfg, rw.sink, total, tally)
}

// commitOutput records the input's row count and commits sink with the
// billing summary (rows counted by tally). The caller aborts the sink on
// an error before the commit.
func commitOutput(ctx context.Context, cfg *Config, sink Sink, total int, tally *checkpoint.Tally) error {
	if err := cfg.Store.SetTotalRows(ctx, total); err != nil {
		return err
	}
	sum, err := cfg.Store.SummaryFrom(ctx, tally)
	if err != nil {
		return err
	}
	return sink.Commit(cfg.decorate(sum))
}

// rowWriter writes output rows: the input's cells, then the answer columns.
type rowWriter struct {
	sink       Sink
	width, col int // the input's header width and card column
	mask       bool
}

// newRowWriter creates the sink for src's rows, header included.
func newRowWriter(cfg *Config, src Source) (*rowWriter, error) {
	header := src.Header()
	outHeader := append(append([]string{}, header...), AnswerColumns...)
	sink, err := cfg.CreateSink(outHeader, src.CardColumn())
	if err != nil {
		return nil, err
	}
	return &rowWriter{sink: sink, width: len(header), col: src.CardColumn(), mask: cfg.MaskOutput}, nil
}

// write writes one input row with its answer.
func (rw *rowWriter) write(fields []string, a *checkpoint.Answered) error {
	out := make([]string, 0, rw.width+len(AnswerColumns)+2)
	out = append(out, fields...)
	for len(out) < rw.width {
		out = append(out, "")
	}
	extra := []string(nil)
	if len(out) > rw.width {
		// A ragged row longer than the header: keep its extra cells after
		// the answer columns so the answer columns stay aligned.
		extra = append(extra, out[rw.width:]...)
		out = out[:rw.width]
	}
	if rw.mask && rw.col < len(out) {
		out[rw.col] = cardnum.Mask(cardnum.Normalize(out[rw.col]))
	}
	out = append(out, answerCells(a)...)
	out = append(out, extra...)
	return rw.sink.Write(out)
}

// answerCells renders the answer columns of one row.
func answerCells(a *checkpoint.Answered) []string {
	typ := ""
	if a.AccountType != 0 {
		typ = strconv.Itoa(a.AccountType)
	}
	status := string(a.State.OutputStatus())
	desc := a.Description
	errText := a.Error
	if a.State == checkpoint.Duplicate {
		if !a.OrigState.Final() {
			errText = fmt.Sprintf("same card as row %d, which has no final answer yet", a.DupOf+1)
		}
		if desc == "" {
			desc = fmt.Sprintf("same card as row %d", a.DupOf+1)
		}
	}
	bill := string(a.Billing)
	if bill == "" || bill == string(billing.Unknown) {
		if a.Billing == billing.Unknown {
			bill = string(billing.Charged) // in doubt: may have been charged
		} else {
			bill = string(billing.None)
		}
	}
	return []string{a.Result, desc, a.AccountBank, typ, billing.AccountTypeName(a.AccountType), bill, status, errText}
}

// scanAhead is Store.Scan with the reading of the checkpoint on its own
// goroutine, batches of rows handed over through a channel, so that SQLite's
// work overlaps fn's (reading the input, writing the output).
func scanAhead(ctx context.Context, store *checkpoint.Store, fn func(a *checkpoint.Answered) error) error {
	const batchSize = 512
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	batches := make(chan []checkpoint.Answered, 4)
	scanErr := make(chan error, 1)
	go func() {
		defer close(batches)
		batch := make([]checkpoint.Answered, 0, batchSize)
		err := store.Scan(ctx, func(a *checkpoint.Answered) error {
			batch = append(batch, *a)
			if len(batch) == batchSize {
				select {
				case batches <- batch:
				case <-ctx.Done():
					return ctx.Err()
				}
				batch = make([]checkpoint.Answered, 0, batchSize)
			}
			return nil
		})
		if err == nil && len(batch) > 0 {
			select {
			case batches <- batch:
			case <-ctx.Done():
				err = ctx.Err()
			}
		}
		scanErr <- err
	}()
	for batch := range batches {
		for i := range batch {
			if err := fn(&batch[i]); err != nil {
				cancel()
				for range batches { // let the scanner finish
				}
				<-scanErr
				return err
			}
		}
	}
	return <-scanErr
}
