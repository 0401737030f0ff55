package sinks

import (
	"bytes"
	"encoding/csv"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"

	"github.com/xuri/excelize/v2"
)

// testHeader is an input's columns followed by the answer columns of cli.md.
var testHeader = []string{
	"id", "姓名", "card", "note", "account_no",
	"result", "description", "account_bank", "account_type", "account_type_name", "billing", "status", "error",
}

const (
	testCardCol    = 2
	testAccountCol = 4 // forced to text through Options.TextColumns
)

// testRows returns n rows that exercise what a spreadsheet likes to mangle:
// long and zero-led card numbers, Chinese text, CSV metacharacters, leading
// spaces, empty fields and strings that look like numbers, dates, booleans
// or formulas.
func testRows(n int) [][]string {
	notes := []string{
		`He said "hi", then left`,
		"two\nlines",
		"comma, quote \" and\nnewline",
		"",
		" leading and trailing space ",
		"=1+2",
		"1e5",
		"TRUE",
		"2026-01-02",
		"中文备注，含全角逗号",
	}
	rows := make([][]string, n)
	for i := range rows {
		card := fmt.Sprintf("62284800%08d", i) // 16 digits
		switch i {
		case 0:
			card = "6227009328792181234" // 19 digits: a float would show 6.22700932879218E+18
		case 1:
			card = "0012345678901234567" // zero-led
		case 2:
			card = "" // no card in this row
		}
		result, desc, bank, typ, typName, bill, status, errText := "0", "查询成功", "中国工商银行", "1", "debit", "charged", "ok", ""
		switch i % 7 {
		case 3:
			result, desc, bank, typ, typName, bill, status = "-1", "无信息", "", "", "", "charged", "not_found"
		case 5:
			result, desc, bank, typ, typName, bill, status, errText = "", "", "", "", "", "none", "failed", "HTTP 503 after 6 attempts"
		}
		rows[i] = []string{
			strconv.Itoa(i + 1),
			"张三" + strconv.Itoa(i),
			card,
			notes[i%len(notes)],
			fmt.Sprintf("%020d", i), // 20 digits, zero-led: text only via TextColumns
			result, desc, bank, typ, typName, bill, status, errText,
		}
	}
	return rows
}

func writeAll(t testing.TB, s Sink, rows [][]string) {
	t.Helper()
	for i, r := range rows {
		if err := s.Write(r); err != nil {
			t.Fatalf("Write row %d: %v", i, err)
		}
	}
}

func readCSV(t *testing.T, path string, bom bool) [][]string {
	t.Helper()
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if bom != bytes.HasPrefix(data, []byte(utf8BOM)) {
		t.Fatalf("file starts with BOM = %v, want %v", !bom, bom)
	}
	if bytes.Contains(data, []byte("\r\n")) {
		t.Error("file has CRLF line ends; want LF")
	}
	r := csv.NewReader(bytes.NewReader(bytes.TrimPrefix(data, []byte(utf8BOM))))
	r.FieldsPerRecord = -1
	recs, err := r.ReadAll()
	if err != nil {
		t.Fatalf("read back %s: %v", path, err)
	}
	return recs
}

func readXLSX(t *testing.T, path, sheet string) [][]string {
	t.Helper()
	f, err := excelize.OpenFile(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	rows, err := f.GetRows(sheet)
	if err != nil {
		t.Fatalf("GetRows(%q): %v", sheet, err)
	}
	return rows
}

// compareRows checks every cell; got rows may lack trailing empty cells
// (excelize's GetRows drops them).
func compareRows(t *testing.T, got, want [][]string) {
	t.Helper()
	if len(got) != len(want) {
		t.Fatalf("read back %d rows, want %d", len(got), len(want))
	}
	bad := 0
	for i := range want {
		g := slices.Clone(got[i])
		for len(g) < len(want[i]) {
			g = append(g, "")
		}
		if !slices.Equal(g, want[i]) {
			t.Errorf("row %d:\n got %q\nwant %q", i+1, g, want[i])
			if bad++; bad > 5 {
				t.Fatal("too many differences")
			}
		}
	}
}

func listDir(t *testing.T, dir string) []string {
	t.Helper()
	ents, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	names := make([]string, 0, len(ents))
	for _, e := range ents {
		names = append(names, e.Name())
	}
	return names
}

func TestRoundTrip(t *testing.T) {
	rows := testRows(1000)
	tests := []struct {
		name  string
		file  string
		bom   bool
		sheet string // XLSX sheet to read; "" for CSV
		opts  func(*Options)
	}{
		{name: "csv", file: "out.csv"},
		{name: "csv upper-case extension", file: "OUT.CSV"},
		{name: "csv with BOM", file: "out.csv", bom: true},
		{name: "xlsx", file: "out.xlsx", sheet: DefaultSheetName},
		{name: "xlsx upper-case extension, named sheet", file: "Out.XLSX", sheet: "卡号结果",
			opts: func(o *Options) { o.SheetName = "卡号结果" }},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			opts := Options{
				Path: filepath.Join(dir, tc.file), Header: testHeader,
				CardColumn: testCardCol, TextColumns: []int{testAccountCol}, BOM: tc.bom,
			}
			if tc.opts != nil {
				tc.opts(&opts)
			}
			s, err := Create(opts)
			if err != nil {
				t.Fatal(err)
			}
			writeAll(t, s, rows)
			if err := s.Commit(sampleSummary()); err != nil {
				t.Fatal(err)
			}
			want := append([][]string{testHeader}, rows...)
			var got [][]string
			if tc.sheet == "" {
				got = readCSV(t, opts.Path, tc.bom)
			} else {
				got = readXLSX(t, opts.Path, tc.sheet)
			}
			compareRows(t, got, want)
			if names := listDir(t, dir); !slices.Equal(names, []string{tc.file}) {
				t.Errorf("directory holds %q, want only %q", names, tc.file)
			}
		})
	}
}

func TestCSVQuotesOnlyWhenNeeded(t *testing.T) {
	path := filepath.Join(t.TempDir(), "q.csv")
	s, err := Create(Options{Path: path, Header: []string{"a", "b", "c"}})
	if err != nil {
		t.Fatal(err)
	}
	writeAll(t, s, [][]string{
		{"6227009328792181234", "plain 文本", ""},
		{"x,y", `say "hi"`, "line\nbreak"},
	})
	if err := s.Commit(nil); err != nil {
		t.Fatal(err)
	}
	data, _ := os.ReadFile(path)
	want := "a,b,c\n6227009328792181234,plain 文本,\n\"x,y\",\"say \"\"hi\"\"\",\"line\nbreak\"\n"
	if string(data) != want {
		t.Errorf("file:\n%q\nwant\n%q", data, want)
	}
}

func TestXLSXCellsAreText(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "out.xlsx")
	rows := testRows(1000)
	s, err := Create(Options{Path: path, Header: testHeader, CardColumn: testCardCol, TextColumns: []int{testAccountCol}})
	if err != nil {
		t.Fatal(err)
	}
	writeAll(t, s, rows)
	if err := s.Commit(nil); err != nil {
		t.Fatal(err)
	}
	f, err := excelize.OpenFile(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	sheet := DefaultSheetName
	if got := f.GetSheetList(); !slices.Equal(got, []string{sheet}) {
		t.Errorf("sheets = %q, want only %q (Commit(nil) adds no Summary)", got, sheet)
	}
	numFmt := func(cell string) int {
		t.Helper()
		id, err := f.GetCellStyle(sheet, cell)
		if err != nil {
			t.Fatal(err)
		}
		st, err := f.GetStyle(id)
		if err != nil {
			t.Fatal(err)
		}
		return st.NumFmt
	}
	isString := func(ct excelize.CellType) bool {
		return ct == excelize.CellTypeSharedString || ct == excelize.CellTypeInlineString
	}

	t.Run("text columns are string cells with the text format", func(t *testing.T) {
		for _, col := range []int{testCardCol, testAccountCol} {
			for i, r := range rows {
				if r[col] == "" {
					continue
				}
				cell := cellName(col+1, i+2)
				ct, err := f.GetCellType(sheet, cell)
				if err != nil {
					t.Fatal(err)
				}
				if !isString(ct) {
					t.Fatalf("%s (%q) has cell type %v, want a string type", cell, r[col], ct)
				}
				if got := numFmt(cell); got != numFmtText {
					t.Fatalf("%s has number format %d, want %d (@)", cell, got, numFmtText)
				}
			}
		}
		// The 19-digit card keeps every digit.
		v, _ := f.GetCellValue(sheet, cellName(testCardCol+1, 2))
		if v != "6227009328792181234" {
			t.Errorf("19-digit card reads back as %q", v)
		}
	})
	t.Run("other columns are string cells too", func(t *testing.T) {
		for _, cell := range []string{"A2", "A1000", "F2", "I2"} { // id, result, account_type: numeric-looking
			ct, err := f.GetCellType(sheet, cell)
			if err != nil {
				t.Fatal(err)
			}
			if !isString(ct) {
				t.Errorf("%s has cell type %v, want a string type", cell, ct)
			}
		}
	})
	t.Run("header bold and frozen, widths set", func(t *testing.T) {
		for col := 1; col <= len(testHeader); col++ {
			id, _ := f.GetCellStyle(sheet, cellName(col, 1))
			st, err := f.GetStyle(id)
			if err != nil {
				t.Fatal(err)
			}
			if st.Font == nil || !st.Font.Bold {
				t.Errorf("header cell %s is not bold", cellName(col, 1))
			}
		}
		panes, err := f.GetPanes(sheet)
		if err != nil {
			t.Fatal(err)
		}
		if !panes.Freeze || panes.YSplit != 1 || panes.TopLeftCell != "A2" {
			t.Errorf("panes = %+v, want the header row frozen", panes)
		}
		widths := map[string]float64{"C": 22, "A": 14, "G": 30}
		for col, want := range widths {
			got, err := f.GetColWidth(sheet, col)
			if err != nil {
				t.Fatal(err)
			}
			if got != want {
				t.Errorf("width of column %s = %v, want %v", col, got, want)
			}
		}
	})
}

func TestXLSXCellTooLong(t *testing.T) {
	dir := t.TempDir()
	s, err := Create(Options{Path: filepath.Join(dir, "out.xlsx"), Header: []string{"card", "note"}})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Abort()
	if err := s.Write([]string{"6227009328792181234", "short"}); err != nil {
		t.Fatal(err)
	}
	err = s.Write([]string{"6227009328792181234", strings.Repeat("x", excelize.TotalCellChars+1)})
	if err == nil || !strings.Contains(err.Error(), "CSV") || !strings.Contains(err.Error(), "column 2") {
		t.Errorf("Write of an over-long cell: err = %v, want one naming the column and suggesting CSV", err)
	}
	if err != nil && strings.Contains(err.Error(), "6227009328792181234") {
		t.Errorf("error %q shows a card number", err)
	}
}

func TestAtomicity(t *testing.T) {
	for _, ext := range []string{".csv", ".xlsx"} {
		t.Run(ext+" abort keeps the old file and leaves no temp file", func(t *testing.T) {
			dir := t.TempDir()
			path := filepath.Join(dir, "out"+ext)
			if err := os.WriteFile(path, []byte("old content"), 0o644); err != nil {
				t.Fatal(err)
			}
			s, err := Create(Options{Path: path, Header: testHeader, CardColumn: testCardCol})
			if err != nil {
				t.Fatal(err)
			}
			writeAll(t, s, testRows(50))
			if data, _ := os.ReadFile(path); string(data) != "old content" {
				t.Errorf("before Commit, %s holds %q, want the old content", path, data)
			}
			names := listDir(t, dir)
			if len(names) != 2 || !slices.ContainsFunc(names, func(n string) bool { return strings.HasPrefix(n, ".out"+ext+".tmp-") }) {
				t.Errorf("while writing, directory holds %q, want the old file and one .out%s.tmp-* file", names, ext)
			}
			if err := s.Abort(); err != nil {
				t.Fatal(err)
			}
			if err := s.Abort(); err != nil {
				t.Errorf("second Abort: %v", err)
			}
			if got := listDir(t, dir); !slices.Equal(got, []string{"out" + ext}) {
				t.Errorf("after Abort, directory holds %q, want only the old file", got)
			}
			if data, _ := os.ReadFile(path); string(data) != "old content" {
				t.Errorf("after Abort, %s holds %q, want the old content", path, data)
			}
			if err := s.Write([]string{"x"}); !errors.Is(err, ErrClosed) {
				t.Errorf("Write after Abort: err = %v, want ErrClosed", err)
			}
			if err := s.Commit(nil); !errors.Is(err, ErrClosed) {
				t.Errorf("Commit after Abort: err = %v, want ErrClosed", err)
			}
		})

		for _, mode := range []os.FileMode{0, 0o640} {
			t.Run(fmt.Sprintf("%s commit with mode %#o", ext, mode), func(t *testing.T) {
				dir := t.TempDir()
				path := filepath.Join(dir, "out"+ext)
				s, err := Create(Options{Path: path, Header: testHeader, CardColumn: testCardCol, Mode: mode})
				if err != nil {
					t.Fatal(err)
				}
				writeAll(t, s, testRows(50))
				if _, err := os.Stat(path); !errors.Is(err, fs.ErrNotExist) {
					t.Errorf("before Commit, Stat(%s) = %v, want not-exist", path, err)
				}
				if err := s.Commit(sampleSummary()); err != nil {
					t.Fatal(err)
				}
				if got := listDir(t, dir); !slices.Equal(got, []string{"out" + ext}) {
					t.Errorf("after Commit, directory holds %q, want only the output", got)
				}
				fi, err := os.Stat(path)
				if err != nil {
					t.Fatal(err)
				}
				want := mode
				if want == 0 {
					want = 0o600
				}
				if fi.Mode().Perm() != want {
					t.Errorf("mode = %#o, want %#o", fi.Mode().Perm(), want)
				}
				if err := s.Abort(); err != nil {
					t.Errorf("Abort after Commit: %v", err)
				}
				if _, err := os.Stat(path); err != nil {
					t.Errorf("Abort after Commit removed the output: %v", err)
				}
				if err := s.Commit(nil); !errors.Is(err, ErrClosed) {
					t.Errorf("second Commit: err = %v, want ErrClosed", err)
				}
			})
		}

		t.Run(ext+" commit replaces an existing file", func(t *testing.T) {
			dir := t.TempDir()
			path := filepath.Join(dir, "out"+ext)
			if err := os.WriteFile(path, []byte("old content"), 0o644); err != nil {
				t.Fatal(err)
			}
			s, err := Create(Options{Path: path, Header: []string{"card"}})
			if err != nil {
				t.Fatal(err)
			}
			writeAll(t, s, [][]string{{"6227009328792181234"}})
			if err := s.Commit(nil); err != nil {
				t.Fatal(err)
			}
			var got [][]string
			if ext == ".csv" {
				got = readCSV(t, path, false)
			} else {
				got = readXLSX(t, path, DefaultSheetName)
			}
			compareRows(t, got, [][]string{{"card"}, {"6227009328792181234"}})
			if fi, _ := os.Stat(path); fi.Mode().Perm() != 0o600 {
				t.Errorf("mode = %#o, want 0600", fi.Mode().Perm())
			}
		})
	}
}

func TestAbortWhileWriting(t *testing.T) {
	for _, ext := range []string{".csv", ".xlsx"} {
		t.Run(ext, func(t *testing.T) {
			dir := t.TempDir()
			s, err := Create(Options{Path: filepath.Join(dir, "out"+ext), Header: testHeader, CardColumn: testCardCol})
			if err != nil {
				t.Fatal(err)
			}
			rows := testRows(100)
			started := make(chan struct{})
			var wg sync.WaitGroup
			wg.Go(func() {
				for i := 0; ; i++ {
					if err := s.Write(rows[i%len(rows)]); err != nil {
						if !errors.Is(err, ErrClosed) {
							t.Errorf("Write: %v", err)
						}
						return
					}
					if i == 10 {
						close(started)
					}
				}
			})
			<-started
			if err := s.Abort(); err != nil {
				t.Fatal(err)
			}
			wg.Wait()
			if got := listDir(t, dir); len(got) != 0 {
				t.Errorf("after Abort, directory holds %q, want nothing", got)
			}
		})
	}
}

// TestXLSXSpillsAndCleansUp writes enough rows for the stream writer to spill
// to its temporary folder (which is what keeps memory flat), and checks that
// Commit and Abort both leave that folder empty.
func TestXLSXSpillsAndCleansUp(t *testing.T) {
	if testing.Short() {
		t.Skip("writes about 20 MB of sheet XML")
	}
	for _, commit := range []bool{true, false} {
		t.Run(fmt.Sprintf("commit=%v", commit), func(t *testing.T) {
			outDir, tmpDir := t.TempDir(), t.TempDir()
			path := filepath.Join(outDir, "big.xlsx")
			s, err := Create(Options{Path: path, Header: testHeader, CardColumn: testCardCol, TmpDir: tmpDir})
			if err != nil {
				t.Fatal(err)
			}
			rows := testRows(100)
			for i := range rows {
				rows[i][3] = strings.Repeat("说明文字 padding ", 8)
			}
			spilled := false
			for i := 0; i < 100_000 && !spilled; i++ {
				if err := s.Write(rows[i%len(rows)]); err != nil {
					t.Fatal(err)
				}
				if i%1000 == 999 {
					spilled = len(listDir(t, tmpDir)) > 0
				}
			}
			if !spilled {
				t.Fatal("the stream writer never spilled to TmpDir")
			}
			if commit {
				if err := s.Commit(sampleSummary()); err != nil {
					t.Fatal(err)
				}
			} else if err := s.Abort(); err != nil {
				t.Fatal(err)
			}
			if got := listDir(t, tmpDir); len(got) != 0 {
				t.Errorf("TmpDir holds %q after %s, want nothing", got, map[bool]string{true: "Commit", false: "Abort"}[commit])
			}
			want := []string{}
			if commit {
				want = []string{"big.xlsx"}
			}
			if got := listDir(t, outDir); !slices.Equal(got, want) {
				t.Errorf("output directory holds %q, want %q", got, want)
			}
		})
	}
}

func TestCreateErrors(t *testing.T) {
	base := t.TempDir()
	if err := os.Mkdir(filepath.Join(base, "adir.csv"), 0o755); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name    string
		opts    Options
		is      error    // errors.Is target, if any
		mention []string // substrings of the message
	}{
		{name: "unsupported extension", opts: Options{Path: filepath.Join(base, "out.txt")},
			is: ErrUnsupportedFormat, mention: []string{".txt", ".csv", ".xlsx"}},
		{name: "xls is not xlsx", opts: Options{Path: filepath.Join(base, "out.xls")},
			is: ErrUnsupportedFormat, mention: []string{".xls", ".csv and .xlsx"}},
		{name: "no extension", opts: Options{Path: filepath.Join(base, "out")},
			is: ErrUnsupportedFormat, mention: []string{".csv and .xlsx"}},
		{name: "missing directory csv", opts: Options{Path: filepath.Join(base, "nope", "out.csv")},
			is: fs.ErrNotExist, mention: []string{filepath.Join(base, "nope"), "does not exist"}},
		{name: "missing directory xlsx", opts: Options{Path: filepath.Join(base, "nope", "out.xlsx")},
			is: fs.ErrNotExist, mention: []string{"does not exist"}},
		{name: "path is a directory", opts: Options{Path: filepath.Join(base, "adir.csv")},
			mention: []string{"is a directory"}},
		{name: "empty path", opts: Options{}, mention: []string{"no output path"}},
		{name: "card column outside header", opts: Options{Path: filepath.Join(base, "o.csv"), Header: []string{"a"}, CardColumn: 1},
			mention: []string{"card column"}},
		{name: "negative card column", opts: Options{Path: filepath.Join(base, "o.csv"), CardColumn: -1},
			mention: []string{"card column"}},
		{name: "negative text column", opts: Options{Path: filepath.Join(base, "o.xlsx"), TextColumns: []int{-2}},
			mention: []string{"text column"}},
		{name: "sheet name reserved", opts: Options{Path: filepath.Join(base, "o.xlsx"), SheetName: "summary"},
			mention: []string{"reserved"}},
		{name: "sheet name invalid", opts: Options{Path: filepath.Join(base, "o.xlsx"), SheetName: "a/b"},
			mention: []string{"a/b"}},
		{name: "missing TmpDir", opts: Options{Path: filepath.Join(base, "o.xlsx"), TmpDir: filepath.Join(base, "gone")},
			is: fs.ErrNotExist, mention: []string{"temporary directory"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			s, err := Create(tc.opts)
			if err == nil {
				_ = s.Abort()
				t.Fatal("Create succeeded, want an error")
			}
			if tc.is != nil && !errors.Is(err, tc.is) {
				t.Errorf("err = %v, want errors.Is(err, %v)", err, tc.is)
			}
			for _, m := range tc.mention {
				if !strings.Contains(err.Error(), m) {
					t.Errorf("err = %q, want it to mention %q", err, m)
				}
			}
		})
	}
	if got := listDir(t, base); !slices.Equal(got, []string{"adir.csv"}) {
		t.Errorf("failed Creates left %q behind", got)
	}
}
