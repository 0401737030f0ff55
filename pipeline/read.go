package pipeline

import (
	"context"
	"errors"
	"io"
	"time"

	"cardbatch/checkpoint"
	"cardbatch/sources"
)

// item is one input row on its way through the stages. The stage that
// settles it fills rec; the collector then records and writes it. A row's
// cells travel with it: nothing is rebuilt later by joining on an index.
type item struct {
	row  sources.Row
	card string // the normalised card ("" for a row without a valid one)
	key  uint64 // the card's dedupe key

	rec checkpoint.RowRecord // the row's state once settled
	// how says where the settled state comes from and who records it.
	how settleKind
	// settled is closed by the worker that settles a row sent to the pool;
	// nil for rows settled by the prepare stage.
	settled chan struct{}
	// cacheMAC is the card's key in the answer cache (nil when it is off).
	cacheMAC []byte
	// claim is where the row stands with its card's claim in the cache
	// (claim.go), and claimedAt when the claim was last taken or renewed.
	claim     claimKind
	claimedAt time.Time
}

// settleKind says how a row was settled.
type settleKind int

const (
	settledHere     settleKind = iota // by prepare (invalid, duplicate, cached): the collector records it
	settledByCall                     // by a worker, which recorded it through its journal slot
	settledBefore                     // final in an earlier attempt: its answer comes from the checkpoint
	settledUnsent                     // never sent because the run stopped: written as skipped, not recorded
	settledNoRecord                   // a duplicate already recorded by an earlier attempt
)

// read is the first stage: it hands the source's rows to out in order and
// closes out when the input ends or ctx is done.
func read(ctx context.Context, src Source, out chan<- *item, st *Stats) error {
	defer close(out)
	for {
		row, err := src.Next(ctx)
		if errors.Is(err, io.EOF) {
			return nil
		}
		if err != nil {
			if ctx.Err() != nil {
				return nil
			}
			return err
		}
		st.read.Add(1)
		select {
		case out <- &item{row: row}:
		case <-ctx.Done():
			return nil
		}
	}
}
