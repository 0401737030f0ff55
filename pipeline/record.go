package pipeline

import (
	"context"

	"cardbatch/checkpoint"
)

// recorder keeps the settled rows: the checkpoint's writer, or nothing (a
// dry run). Record queues a row's state and, when a call was made, that
// call's billing; rows that workers call for are recorded through their slot.
type recorder interface {
	Record(rec checkpoint.RowRecord, call *checkpoint.CallRecord) error
	Slot(i int) slot
}

// slot is one worker's place in the in-flight journal (checkpoint.Slot):
// Begin before a call may leave, Record its outcome, End when the row is
// no longer in flight. Begin and End block until earlier records are
// committed.
type slot interface {
	Ready(ctx context.Context) error
	Begin(ctx context.Context, idx int) error
	Record(rec checkpoint.RowRecord, call *checkpoint.CallRecord) error
	End(ctx context.Context) error
}

// checkpointRecorder records into the checkpoint.
type checkpointRecorder struct{ w *checkpoint.Writer }

func (c checkpointRecorder) Record(rec checkpoint.RowRecord, call *checkpoint.CallRecord) error {
	return c.w.Record(rec, call)
}

func (c checkpointRecorder) Slot(i int) slot { return c.w.Slot(i) }

// nopRecorder keeps nothing: the dry run's.
type nopRecorder struct{}

func (nopRecorder) Record(checkpoint.RowRecord, *checkpoint.CallRecord) error { return nil }
func (nopRecorder) Slot(int) slot                                             { return nopRecorder{} }
func (nopRecorder) Begin(context.Context, int) error                          { return nil }
func (nopRecorder) End(context.Context) error                                 { return nil }
func (nopRecorder) Ready(context.Context) error                               { return nil }
