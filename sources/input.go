package sources

import (
	"context"
	"errors"
	"slices"

	"cardbatch/cardnum"
)

// input is the Input shared by every format: peeked records first, then the
// format's record stream, numbered and given their card cell.
type input struct {
	path      string
	format    string
	header    []string
	hasHeader bool
	cardCol   int
	total     int
	notes     []string
	sheet     string // XLSX: the sheet read
	delim     rune   // CSV, TSV: the field delimiter; 0 otherwise
	bom       bool   // text: the file starts with a byte order mark
	// encoding, when set, names the text encoding decoded from (it may
	// change once, while reading: see Input.Encoding).
	encoding func() string

	pending []record               // peeked data records not yet returned
	read    func() (record, error) // the next non-blank record; io.EOF at the end
	// fill, when set, completes a row (XLSX: Cells, and Card and
	// CardNumericUnsafe from the cell as stored); otherwise Card is the card
	// column's field.
	fill    func(row *Row) error
	closeFn func() error
	// lateNote, when set, gives a note learnt while reading ("" if none),
	// such as an encoding decided past the start of the file.
	lateNote func() string
	// count counts the non-blank records of the file, header included, for
	// CountRows.
	count func(ctx context.Context) (int, error)

	index  int
	err    error // sticky: once Next fails it keeps failing
	closed bool
}

func (in *input) Header() []string { return append([]string(nil), in.header...) }
func (in *input) HasHeader() bool  { return in.hasHeader }
func (in *input) CardColumn() int  { return in.cardCol }
func (in *input) Format() string   { return in.format }
func (in *input) TotalHint() int   { return in.total }
func (in *input) HadBOM() bool     { return in.bom }
func (in *input) Delimiter() rune  { return in.delim }
func (in *input) Sheet() string    { return in.sheet }

// Encoding implements Input.
func (in *input) Encoding() string {
	if in.encoding == nil {
		return ""
	}
	return in.encoding()
}

// Notes implements Input: every note is scrubbed of card numbers, in any
// spelling. A note learnt while reading comes last once it is known.
func (in *input) Notes() []string {
	notes := in.notes
	if in.lateNote != nil {
		if n := in.lateNote(); n != "" && !slices.Contains(notes, n) {
			notes = append(notes[:len(notes):len(notes)], n)
		}
	}
	out := make([]string, len(notes))
	for i, n := range notes {
		out[i] = cardnum.Scrub(n)
	}
	return out
}

// Next implements Input.
func (in *input) Next(ctx context.Context) (Row, error) {
	if in.closed {
		return Row{}, errClosed
	}
	if in.err != nil {
		return Row{}, in.err
	}
	if err := ctxDone(ctx); err != nil {
		return Row{}, err
	}
	var rec record
	if len(in.pending) > 0 {
		rec = in.pending[0]
		in.pending[0] = record{}
		in.pending = in.pending[1:]
	} else {
		var err error
		if rec, err = in.read(); err != nil {
			in.err = err
			return Row{}, err
		}
	}
	row := Row{Index: in.index, Line: rec.line, Fields: rec.fields, Card: cell(rec.fields, in.cardCol)}
	if in.fill != nil {
		if err := in.fill(&row); err != nil {
			in.err = err
			return Row{}, err
		}
	}
	in.index++
	return row, nil
}

// Close implements Input.
func (in *input) Close() error {
	if in.closed {
		return nil
	}
	in.closed = true
	in.pending = nil
	if in.closeFn != nil {
		return in.closeFn()
	}
	return nil
}

// ctxDone returns ctx.Err() if ctx is done, without blocking.
func ctxDone(ctx context.Context) error {
	select {
	case <-ctx.Done():
		return ctx.Err()
	default:
		return nil
	}
}

// errClosed is returned by Next after Close.
var errClosed = errors.New("sources: Next called after Close")

var _ Input = (*input)(nil)
