package e2e

import (
	"bytes"
	"encoding/csv"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"unicode/utf8"

	"golang.org/x/text/encoding/simplifiedchinese"
	"golang.org/x/text/encoding/unicode"
)

// simRun are the flags of a quick run against the built-in simulator.
func simRun(in, out string, extra ...string) []string {
	return append([]string{"run", "--simulate", "--input", in, "--output", out, "--no-progress", "--rate", "0"}, extra...)
}

// TestCSVOutputOpensInExcel: a CSV output that Excel opens right. A GBK,
// GB18030 or UTF-16 input, or one with a BOM, gives an output that starts
// with a UTF-8 BOM (Excel otherwise reads UTF-8 as the locale's code page);
// --bom forces it and --no-bom refuses it. The input's delimiter is kept.
// The output is UTF-8 whatever the input's encoding.
func TestCSVOutputOpensInExcel(t *testing.T) {
	cards := makeCards(15, 2)
	text := "姓名,卡号\n张三," + cards[0] + "\n李四," + cards[1] + "\n"
	enc := func(t *testing.T, e interface{ Bytes([]byte) ([]byte, error) }, s string) []byte {
		b, err := e.Bytes([]byte(s))
		if err != nil {
			t.Fatal(err)
		}
		return b
	}
	utf16le := unicode.UTF16(unicode.LittleEndian, unicode.UseBOM).NewEncoder()
	tests := []struct {
		name  string
		input func(t *testing.T) []byte
		flags []string
		bom   bool
		delim rune
	}{
		{"gbk", func(t *testing.T) []byte { return enc(t, simplifiedchinese.GBK.NewEncoder(), text) }, nil, true, ','},
		{"gbk --no-bom", func(t *testing.T) []byte { return enc(t, simplifiedchinese.GBK.NewEncoder(), text) }, []string{"--no-bom"}, false, ','},
		{"gb18030 semicolons", func(t *testing.T) []byte {
			return enc(t, simplifiedchinese.GB18030.NewEncoder(), strings.ReplaceAll(text, ",", ";"))
		}, nil, true, ';'},
		{"utf-8 semicolons", func(*testing.T) []byte { return []byte(strings.ReplaceAll(text, ",", ";")) }, nil, false, ';'},
		{"utf-8 --bom", func(*testing.T) []byte { return []byte(text) }, []string{"--bom"}, true, ','},
		{"utf-8 with a BOM", func(*testing.T) []byte { return append([]byte("\ufeff"), text...) }, nil, true, ','},
		{"utf-8 with a BOM --no-bom", func(*testing.T) []byte { return append([]byte("\ufeff"), text...) }, []string{"--no-bom"}, false, ','},
		{"utf-16le tabs (Excel's Unicode text)", func(t *testing.T) []byte {
			return enc(t, utf16le, strings.ReplaceAll(text, ",", "\t"))
		}, nil, true, '\t'},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dir := t.TempDir()
			in, out := filepath.Join(dir, "in.csv"), filepath.Join(dir, "out.csv")
			if err := os.WriteFile(in, tt.input(t), 0o600); err != nil {
				t.Fatal(err)
			}
			r := run(t, dir, simRun(in, out, tt.flags...)...)
			if r.code != 0 {
				t.Fatalf("exit %d: %s", r.code, r.stderr)
			}
			b, err := os.ReadFile(out)
			if err != nil {
				t.Fatal(err)
			}
			if got := bytes.HasPrefix(b, []byte("\xef\xbb\xbf")); got != tt.bom {
				t.Errorf("output starts with a UTF-8 BOM: %v, want %v (first bytes % x)", got, tt.bom, b[:min(8, len(b))])
			}
			b = bytes.TrimPrefix(b, []byte("\xef\xbb\xbf"))
			if !utf8.Valid(b) {
				t.Fatalf("output is not UTF-8")
			}
			rd := csv.NewReader(bytes.NewReader(b))
			rd.Comma = tt.delim
			recs, err := rd.ReadAll()
			if err != nil || len(recs) != 3 {
				t.Fatalf("output read with delimiter %q: %d records, %v\n%s", tt.delim, len(recs), err, b)
			}
			wantHeader := []string{"姓名", "卡号", "result", "description", "account_bank", "account_type",
				"account_type_name", "billing", "status", "error", "answered_at"}
			if strings.Join(recs[0], "|") != strings.Join(wantHeader, "|") {
				t.Errorf("header %q, want %q", recs[0], wantHeader)
			}
			for i, name := range []string{"张三", "李四"} {
				row := recs[i+1]
				if row[0] != name || row[1] != cards[i] || (row[8] != "ok" && row[8] != "not_found") || row[2] == "" {
					t.Errorf("row %d = %q: want %s, its card, an answer", i+1, row, name)
				}
			}
		})
	}
}
