package sources

import (
	"context"
	"errors"
	"io"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
)

// Card numbers used in tests: valid Luhn, 16 and 19 digits.
const (
	cardA = "6222021234567890128"
	cardB = "6228480402564890018"
	cardC = "4111111111111111"
	cardD = "6212261202011584340"
)

// writeTemp writes data to name in a fresh temporary folder and returns its
// path.
func writeTemp(t testing.TB, name string, data []byte) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), name)
	if err := os.WriteFile(p, data, 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}

// openT opens an input and closes it at the end of the test.
func openT(t testing.TB, opts Options) Input {
	t.Helper()
	in, err := Open(context.Background(), opts)
	if err != nil {
		t.Fatalf("Open(%s): %v", filepath.Base(opts.Path), err)
	}
	t.Cleanup(func() {
		if err := in.Close(); err != nil {
			t.Errorf("Close: %v", err)
		}
	})
	return in
}

// readAll reads every row and checks the Next contract on the way: Index
// consecutive from 0, io.EOF at the end and again after it.
func readAll(t testing.TB, in Input) []Row {
	t.Helper()
	var rows []Row
	for {
		r, err := in.Next(context.Background())
		if err == io.EOF {
			if r.Fields != nil || r.Index != 0 || r.Card != "" {
				t.Fatalf("Next returned a row with io.EOF: %+v", r)
			}
			break
		}
		if err != nil {
			t.Fatalf("Next after %d rows: %v", len(rows), err)
		}
		if r.Index != len(rows) {
			t.Fatalf("row %d has Index %d", len(rows), r.Index)
		}
		rows = append(rows, r)
	}
	if _, err := in.Next(context.Background()); err != io.EOF {
		t.Fatalf("Next after EOF: %v, want io.EOF", err)
	}
	if h := in.TotalHint(); h >= 0 && h != len(rows) {
		t.Errorf("TotalHint = %d, read %d rows", h, len(rows))
	}
	return rows
}

// fieldsOf returns the Fields of rows.
func fieldsOf(rows []Row) [][]string {
	out := make([][]string, len(rows))
	for i, r := range rows {
		out[i] = r.Fields
	}
	return out
}

// linesOf returns the Line of rows.
func linesOf(rows []Row) []int {
	out := make([]int, len(rows))
	for i, r := range rows {
		out[i] = r.Line
	}
	return out
}

// cardsOf returns the Card of rows.
func cardsOf(rows []Row) []string {
	out := make([]string, len(rows))
	for i, r := range rows {
		out[i] = r.Card
	}
	return out
}

// expect describes what an input should read as; zero fields are not
// checked (except where noted).
type expect struct {
	format    string
	header    []string
	hasHeader bool
	cardCol   int
	fields    [][]string
	lines     []int
	cards     []string // nil: not checked
	notes     []string // substrings that some note must contain
}

// check opens opts and compares everything with e.
func (e expect) check(t *testing.T, opts Options) []Row {
	t.Helper()
	in := openT(t, opts)
	if e.format != "" && in.Format() != e.format {
		t.Errorf("Format = %q, want %q", in.Format(), e.format)
	}
	if e.header != nil && !reflect.DeepEqual(in.Header(), e.header) {
		t.Errorf("Header = %q, want %q", in.Header(), e.header)
	}
	if in.HasHeader() != e.hasHeader {
		t.Errorf("HasHeader = %v, want %v", in.HasHeader(), e.hasHeader)
	}
	if in.CardColumn() != e.cardCol {
		t.Errorf("CardColumn = %d, want %d", in.CardColumn(), e.cardCol)
	}
	for _, want := range e.notes {
		if !containsNote(in.Notes(), want) {
			t.Errorf("no note contains %q; notes: %q", want, in.Notes())
		}
	}
	total := in.TotalHint()
	rows := readAll(t, in)
	if total != len(rows) {
		t.Errorf("TotalHint = %d, want %d", total, len(rows))
	}
	if e.fields != nil && !reflect.DeepEqual(fieldsOf(rows), e.fields) {
		t.Errorf("fields:\n got %q\nwant %q", fieldsOf(rows), e.fields)
	}
	if e.lines != nil && !reflect.DeepEqual(linesOf(rows), e.lines) {
		t.Errorf("lines = %v, want %v", linesOf(rows), e.lines)
	}
	if e.cards != nil && !reflect.DeepEqual(cardsOf(rows), e.cards) {
		t.Errorf("cards = %q, want %q", cardsOf(rows), e.cards)
	}
	return rows
}

func containsNote(notes []string, sub string) bool {
	for _, n := range notes {
		if strings.Contains(n, sub) {
			return true
		}
	}
	return false
}

// inputError opens opts, expects an *InputError and returns it.
func inputError(t *testing.T, opts Options) *InputError {
	t.Helper()
	in, err := Open(context.Background(), opts)
	if err == nil {
		in.Close()
		t.Fatalf("Open(%s) succeeded, want an InputError", filepath.Base(opts.Path))
	}
	var ie *InputError
	if !errors.As(err, &ie) {
		t.Fatalf("Open(%s) = %T %v, want *InputError", filepath.Base(opts.Path), err, err)
	}
	return ie
}

// noWholeCard fails if msg holds one of the test card numbers whole.
func noWholeCard(t *testing.T, msg string) {
	t.Helper()
	for _, c := range []string{cardA, cardB, cardC, cardD} {
		if strings.Contains(msg, c) {
			t.Errorf("message holds a whole card number: %s", msg)
		}
	}
}

// countT runs CountRows and checks that Open's TotalHint is either unknown
// (-1) or, when Open read the whole file, the same count.
func countT(t testing.TB, opts Options) int {
	t.Helper()
	n, err := CountRows(context.Background(), opts)
	if err != nil {
		t.Fatalf("CountRows(%s): %v", filepath.Base(opts.Path), err)
	}
	return n
}
