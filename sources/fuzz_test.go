package sources

import (
	"context"
	"errors"
	"io"
	"os"
	"path/filepath"
	"testing"
)

// FuzzCSV feeds any bytes to Open and Next as a .csv file: they must not
// panic, and must return rows or an *InputError; the rows must keep the
// Next contract (Index consecutive, TotalHint exact, Card from the card
// column). Seeds are in testdata/fuzz/FuzzCSV.
func FuzzCSV(f *testing.F) {
	f.Add([]byte("card,name\n" + cardA + ",A\n"))
	f.Add([]byte("\ufeffname;\"card\"\r\n\"x\"\"y\";\"" + cardB + "\"\r\n"))
	dir := f.TempDir()
	n := 0
	f.Fuzz(func(t *testing.T, data []byte) {
		n++
		path := filepath.Join(dir, "fuzz.csv")
		if err := os.WriteFile(path, data, 0o644); err != nil {
			t.Fatal(err)
		}
		ctx := context.Background()
		in, err := Open(ctx, Options{Path: path, MaxRecordBytes: 4096})
		if err != nil {
			var ie *InputError
			if !errors.As(err, &ie) {
				t.Fatalf("Open: %T %v, want *InputError", err, err)
			}
			if ie.Error() == "" {
				t.Fatal("empty error message")
			}
			return
		}
		defer in.Close()
		header := in.Header()
		col := in.CardColumn()
		if col < 0 || col >= len(header) {
			t.Fatalf("CardColumn %d outside the header %q", col, header)
		}
		rows := 0
		for {
			r, err := in.Next(ctx)
			if err == io.EOF {
				break
			}
			if err != nil {
				var ie *InputError
				if !errors.As(err, &ie) {
					t.Fatalf("Next: %T %v, want *InputError", err, err)
				}
				return
			}
			if r.Index != rows {
				t.Fatalf("Index %d, want %d", r.Index, rows)
			}
			if want := cell(r.Fields, col); r.Card != want {
				t.Fatalf("Card %q, want %q", r.Card, want)
			}
			if r.Line < 1 || isBlankFields(r.Fields) {
				t.Fatalf("bad row %+v", r)
			}
			rows++
		}
		if rows == 0 || in.TotalHint() != rows {
			t.Fatalf("TotalHint %d, read %d rows", in.TotalHint(), rows)
		}
		if err := in.Close(); err != nil {
			t.Fatal(err)
		}
	})
}

// FuzzXLSXSheet puts any text inside a worksheet's <sheetData> and checks
// that Open and Next neither panic nor fail with anything but an
// *InputError, and that the rows keep the Next contract.
func FuzzXLSXSheet(f *testing.F) {
	f.Add(`<row r="1"><c r="A1" t="inlineStr"><is><t>card</t></is></c></row><row r="2"><c r="A2"><v>622836929084</v></c></row>`)
	f.Add(`<row><c t="s"><v>0</v></c></row><row r="9"><c r="B9"><v>6.2E+18</v></c></row>`)
	f.Add(`<row r="3"><c r="C3" t="inlineStr"><is><r><t>6222021234567890128</t></r></is></c></row><row r="1048577"/>`)
	f.Fuzz(func(t *testing.T, sheetData string) {
		path := rawXLSX(t, []rawSheet{{name: "S", data: sheetData}}, []string{"card", cardA})
		ctx := context.Background()
		in, err := Open(ctx, Options{Path: path, TmpDir: t.TempDir()})
		if err != nil {
			var ie *InputError
			if !errors.As(err, &ie) {
				t.Fatalf("Open: %T %v, want *InputError", err, err)
			}
			return
		}
		defer in.Close()
		rows := 0
		for {
			r, err := in.Next(ctx)
			if err == io.EOF {
				break
			}
			if err != nil {
				var ie *InputError
				if !errors.As(err, &ie) {
					t.Fatalf("Next: %T %v, want *InputError", err, err)
				}
				return
			}
			if r.Index != rows || r.Line < 1 {
				t.Fatalf("row %d: %+v", rows, r)
			}
			rows++
		}
		if in.TotalHint() != rows {
			t.Fatalf("TotalHint %d, read %d rows", in.TotalHint(), rows)
		}
	})
}
