package e2e

import (
	"fmt"
	"math"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/xuri/excelize/v2"
)

// analystBook is a workbook as an analyst sends it: a card sheet 客户 with
// a date column, an amount formatted #,##0.00, a formula and the card
// numbers as text, then a sheet of notes 说明.
type analystBook struct {
	path  string
	cards []string
}

// amounts are the 金额 column; their sum, worked out by hand, is amountSum.
var amounts = []float64{1000, 1967.30, 2500.25, 88.80, 12345.67, 0.5}

const amountSum = 17902.52

// bookNotes are the cells of the 说明 sheet.
var bookNotes = [][]string{{"说明", "本表来自客户部"}, {"版本", "2"}}

func makeAnalystBook(t *testing.T, dir string) analystBook {
	t.Helper()
	f := excelize.NewFile()
	defer f.Close()
	must := func(err error) {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
	}
	b := analystBook{path: filepath.Join(dir, "客户名单.xlsx"), cards: makeCards(150, len(amounts))}
	must(f.SetSheetName("Sheet1", "客户"))
	must(f.SetSheetRow("客户", "A1", &[]any{"姓名", "日期", "金额", "双倍", "卡号"}))
	date, err := f.NewStyle(&excelize.Style{NumFmt: 14})
	must(err)
	money, err := f.NewStyle(&excelize.Style{NumFmt: 4}) // #,##0.00
	must(err)
	for i, amount := range amounts {
		row := strconv.Itoa(i + 2)
		must(f.SetSheetRow("客户", "A"+row, &[]any{fmt.Sprintf("客户%d", i+1), 45000 + i, amount, amount * 2, b.cards[i]}))
		must(f.SetCellFormula("客户", "D"+row, "C"+row+"*2"))
		must(f.SetCellStyle("客户", "B"+row, "B"+row, date))
		must(f.SetCellStyle("客户", "C"+row, "D"+row, money))
	}
	must(f.SetColWidth("客户", "E", "E", 24))
	must(f.AutoFilter("客户", "A1:E"+strconv.Itoa(len(amounts)+1), nil))
	_, err = f.NewSheet("说明")
	must(err)
	must(f.SetSheetRow("说明", "A1", &[]any{bookNotes[0][0], bookNotes[0][1]}))
	must(f.SetSheetRow("说明", "A2", &[]any{bookNotes[1][0], 2}))
	must(f.SaveAs(b.path))
	return b
}

// origTypes are the LibreOffice value types of the card sheet's columns.
var origTypes = []string{"string", "date", "float", "float", "string"}

// addedNames are the added columns' names by language (cli.md, README).
var addedNames = map[string][]string{
	"en": {"result", "description", "account_bank", "account_type", "account_type_name", "billing", "status", "error", "answered_at"},
	"zh": {"结果码", "结果说明", "开户行", "卡类型代码", "卡类型", "计费", "状态", "错误原因", "查询时间"},
}

// typeNames are account_type_name's values by account_type (the API
// document's 1-4) and language.
var typeNames = map[string][]string{
	"en": {"", "debit", "credit", "prepaid", "quasi-credit"},
	"zh": {"", "借记卡", "贷记卡", "预付费卡", "准贷记卡"},
}

// TestWorkbookKeptInLibreOffice runs the analyst's two-sheet workbook
// through `cardbatch run --simulate` and opens the input and the output
// with LibreOffice Calc: every original cell reads back as in the input
// (dates as dates, amounts as numbers summing to the input's sum, the
// formula kept), the 说明 sheet is there with its cells, the sheets come in
// the input's order with the Summary last, and the added columns read back
// as the same run writes them to CSV, typed (account_type a number,
// answered_at a date), in the chosen language, whether --sheet is given
// or not.
func TestWorkbookKeptInLibreOffice(t *testing.T) {
	dir := t.TempDir()
	book := makeAnalystBook(t, dir)
	// The zh run names the sheet as a user might type it: Open matches it
	// without surrounding spaces, and the output must keep the sheet's own
	// name.
	for _, tt := range []struct{ lang, sheet string }{{"en", ""}, {"zh", " 客户 "}} {
		lang := tt.lang
		t.Run(lang, func(t *testing.T) {
			out, csvOut := filepath.Join(dir, "out-"+lang+".xlsx"), filepath.Join(dir, "out-"+lang+".csv")
			start := time.Now().UTC().Truncate(time.Second)
			for _, o := range []string{out, csvOut} {
				if r := run(t, dir, simRun(book.path, o, "--lang", lang, "--sheet", tt.sheet)...); r.code != 0 {
					t.Fatalf("run to %s: exit %d: %s", filepath.Base(o), r.code, r.stderr)
				}
			}
			end := time.Now().UTC().Add(time.Second)
			conv := soffice(t, "fods", book.path, out)
			in, got := readFODS(t, conv[0]), readFODS(t, conv[1])
			summary := map[string]string{"en": "Summary", "zh": "汇总"}[lang]
			if names := strings.Join(tableNames(got), ","); names != "客户,说明,"+summary {
				t.Errorf("sheets %s, want 客户,说明,%s", names, summary)
			}
			before, after := sheetNamed(t, in, "客户"), sheetNamed(t, got, "客户")
			checkOriginalCells(t, before, after)
			checkNotes(t, sheetNamed(t, got, "说明"))
			checkAdded(t, after, readTable(t, csvOut), lang, start, end)
			logBeforeAfter(t, in, got, before, after)
		})
	}
}

// checkOriginalCells: every original cell reads back in the output as in
// the input, with its type; the amounts sum to the input's sum.
func checkOriginalCells(t *testing.T, before, after odsTable) {
	t.Helper()
	for r := 0; r <= len(amounts); r++ {
		for c := range origTypes {
			if b, a := before.cell(r, c), after.cell(r, c); a != b {
				t.Errorf("row %d col %d reads %+v, the input reads %+v", r+1, c+1, a, b)
			}
		}
	}
	sum := 0.0
	for i := range amounts {
		r := i + 1
		for c, typ := range origTypes {
			if got := after.cell(r, c).typ; got != typ {
				t.Errorf("row %d col %d: type %q, want %q", r+1, c+1, got, typ)
			}
		}
		if d, want := after.cell(r, 1).value, time.Date(2023, 3, 15+i, 0, 0, 0, 0, time.UTC).Format("2006-01-02"); !strings.HasPrefix(d, want) {
			t.Errorf("row %d: date %q, want %s", r+1, d, want)
		}
		if f, want := after.cell(r, 3).formula, fmt.Sprintf("of:=[.C%d]*2", r+1); f != want {
			t.Errorf("row %d: formula %q, want %q", r+1, f, want)
		}
		v, _ := strconv.ParseFloat(after.cell(r, 2).value, 64)
		sum += v
	}
	if math.Abs(sum-amountSum) > 1e-9 {
		t.Errorf("SUM(金额) in LibreOffice = %v, want %v", sum, amountSum)
	}
}

func checkNotes(t *testing.T, notes odsTable) {
	t.Helper()
	for r, row := range bookNotes {
		for c, want := range row {
			if got := notes.cell(r, c).text; got != want {
				t.Errorf("说明 row %d col %d = %q, want %q", r+1, c+1, got, want)
			}
		}
	}
	if typ := notes.cell(1, 1).typ; typ != "float" {
		t.Errorf("说明 B2 has type %q, want float", typ)
	}
}

// checkAdded: the added header in lang; every added cell reads back as the
// same run wrote it to CSV, account_type a number, answered_at a date-time
// within the run; account_type_name matches account_type, in lang.
func checkAdded(t *testing.T, after odsTable, csvOut table, lang string, start, end time.Time) {
	t.Helper()
	const first = 5 // the added columns follow the input's five
	for i, name := range addedNames[lang] {
		if got := after.cell(0, first+i).text; got != name {
			t.Errorf("added header %d = %q, want %q", i+1, got, name)
		}
	}
	seen := map[string]int{}
	for r := 1; r <= len(amounts); r++ {
		want := csvOut.rows[r-1]
		for i := range 8 { // answered_at differs between the two runs
			if got := after.cell(r, first+i).text; got != want[first+i] {
				t.Errorf("row %d %s = %q, the CSV output has %q", r+1, addedNames[lang][i], got, want[first+i])
			}
		}
		typ, name := after.cell(r, first+3), after.cell(r, first+4).text
		if typ.text == "" {
			continue
		}
		n, err := strconv.Atoi(typ.value)
		if typ.typ != "float" || err != nil || n < 1 || n > 4 || typeNames[lang][n] != name {
			t.Errorf("row %d: account_type %+v, account_type_name %q", r+1, typ, name)
		}
		seen[name]++
		at := after.cell(r, first+8)
		when, err := time.Parse("2006-01-02T15:04:05", at.value)
		if at.typ != "date" || err != nil || when.Before(start) || when.After(end) {
			t.Errorf("row %d: answered_at %+v, want a date-time between %s and %s", r+1, at, start, end)
		}
	}
	if seen[typeNames[lang][1]] == 0 || seen[typeNames[lang][2]] == 0 {
		t.Errorf("account_type_name values %v: want both %s and %s among these cards", seen, typeNames[lang][1], typeNames[lang][2])
	}
}

// logBeforeAfter logs the figures of the closing note: the input and the
// output as LibreOffice reads them.
func logBeforeAfter(t *testing.T, in, out []odsTable, before, after odsTable) {
	t.Helper()
	types := func(tb odsTable) string {
		var s []string
		for c := range origTypes {
			typ := tb.cell(1, c).typ
			if tb.cell(1, c).formula != "" {
				typ += "+formula"
			}
			s = append(s, typ)
		}
		return strings.Join(s, " ")
	}
	sum := func(tb odsTable) float64 {
		s := 0.0
		for r := 1; r <= len(amounts); r++ {
			v, _ := strconv.ParseFloat(tb.cell(r, 2).value, 64)
			s += v
		}
		return s
	}
	t.Logf("LibreOffice reads       input                              output")
	t.Logf("sheets                  %-34s %s", strings.Join(tableNames(in), ", "), strings.Join(tableNames(out), ", "))
	t.Logf("客户 row 2 cell types   %-34s %s", types(before), types(after))
	t.Logf("SUM(金额)               %-34.2f %.2f", sum(before), sum(after))
	t.Logf("B2 (日期)               %-34s %s", before.cell(1, 1).value, after.cell(1, 1).value)
	t.Logf("D2 (双倍)               %-34s %s", before.cell(1, 3).formula, after.cell(1, 3).formula)
}
