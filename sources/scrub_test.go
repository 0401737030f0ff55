package sources

import (
	"context"
	"errors"
	"strings"
	"testing"

	"github.com/xuri/excelize/v2"
)

// foldDigits keeps only the digits of s (ASCII and full-width, folded), so
// that a card written with separators can be found whole.
func foldDigits(s string) string {
	var b strings.Builder
	for _, r := range s {
		switch {
		case r >= '0' && r <= '9':
			b.WriteRune(r)
		case r >= '０' && r <= '９':
			b.WriteByte(byte('0' + r - '０'))
		}
	}
	return b.String()
}

// TestMessagesScrubCards: card numbers spelled with separators in cells
// that the column detection prints (a header cell, a TXT header line, the
// columns listed by an error) come out masked.
func TestMessagesScrubCards(t *testing.T) {
	const under, dotted = "6228481661318605", "6259657543231940"
	rows := strings.Repeat("Li,"+cardA+"\n", 5)
	tests := []struct {
		name, file, data string
		want             string // in the notes or the error
	}{
		{"header cell with underscores", "a.csv", "name,id:6228_4816_6131_8605\n" + rows,
			`card column: "id:622848******8605" (column 2)`},
		{"txt header with dots", "a.txt", "no 6259.6575.4323.1940\n" + cardA + "\n" + cardB + "\n",
			`first line "no 625965******1940" taken as the header`},
		{"full-width and tabs in an error's columns", "a.csv", "x,y\tz,卡 ６２２８\t４８１６\t６１３１\t８６０５\nfoo,bar,baz\n",
			`3="卡 622848******8605"`},
		{"dotted in an error's columns", "a.csv", "no 6259.6575.4323.1940,b\nfoo,bar\n",
			`1="no 625965******1940"`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			path := writeTemp(t, tt.file, []byte(tt.data))
			in, err := Open(context.Background(), Options{Path: path})
			var text string
			if err == nil {
				text = strings.Join(in.Notes(), "\n")
				in.Close()
			} else {
				var ie *InputError
				if !errors.As(err, &ie) {
					t.Fatalf("Open: %v", err)
				}
				text = err.Error()
			}
			if !strings.Contains(text, tt.want) {
				t.Errorf("messages lack %s:\n%s", tt.want, text)
			}
			for _, c := range []string{under, dotted, cardA, cardB} {
				if strings.Contains(foldDigits(text), c) {
					t.Errorf("messages hold card %s in some spelling:\n%s", c, text)
				}
			}
		})
	}
}

// A note that names a sheet (the sheet read, a hidden one) shows no card
// number, even when the sheet is named after one: every note is scrubbed.
func TestSheetNamesInNotesScrubbed(t *testing.T) {
	const named = "卡 6222.0202.0011.2233"
	p := makeXLSX(t, "sheets.xlsx", func(f *excelize.File) {
		must(t, f.SetSheetName("Sheet1", named))
		must(t, f.SetSheetRow(named, "A1", &[]any{"name", "card"}))
		must(t, f.SetSheetRow(named, "A2", &[]any{"Li", cardA}))
		_, err := f.NewSheet("Other")
		must(t, err)
	})
	in, err := Open(context.Background(), Options{Path: p, TmpDir: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	defer in.Close()
	named2 := false
	for _, n := range in.Notes() {
		if strings.Contains(foldDigits(n), "6222020200112233") {
			t.Fatalf("a note shows the card in the sheet's name: %q", n)
		}
		named2 = named2 || strings.Contains(n, "卡 622202******2233")
	}
	if !named2 {
		t.Fatalf("no note names the sheet (masked): %q", in.Notes())
	}
}
