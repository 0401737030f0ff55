package sinks

import (
	"archive/zip"
	"io"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/xuri/excelize/v2"

	"cardbatch/sources"
)

// twoSheets is the analyst's workbook of the issue: a card sheet 客户 with a
// styled header, a date column, an amount formatted #,##0.00, a formula and
// a boolean, and a second sheet 说明 with notes.
type twoSheets struct {
	path                                string
	header                              []string
	rows                                []sources.Row
	headerStyle, dateStyle, amountStyle int
	amountSum                           float64
	notes                               [][]string
	widthA                              float64
}

func makeTwoSheets(t *testing.T, dir string) *twoSheets {
	t.Helper()
	f := excelize.NewFile()
	defer f.Close()
	must := func(err error) {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
	}
	must(f.SetSheetName("Sheet1", "客户"))
	w := &twoSheets{path: filepath.Join(dir, "客户.xlsx"), header: []string{"姓名", "日期", "金额", "双倍", "卡号", "有效"}, widthA: 18}
	var err error
	w.headerStyle, err = f.NewStyle(&excelize.Style{Font: &excelize.Font{Bold: true, Color: "FFFFFF"},
		Fill: excelize.Fill{Type: "pattern", Pattern: 1, Color: []string{"305496"}}})
	must(err)
	w.dateStyle, err = f.NewStyle(&excelize.Style{NumFmt: 14})
	must(err)
	w.amountStyle, err = f.NewStyle(&excelize.Style{NumFmt: 4})
	must(err)
	for i, h := range w.header {
		c, _ := excelize.CoordinatesToCellName(i+1, 1)
		must(f.SetCellValue("客户", c, h))
		must(f.SetCellStyle("客户", c, c, w.headerStyle))
	}
	must(f.SetColWidth("客户", "A", "A", w.widthA))
	data := []struct {
		name, date, card string
		serial, amount   float64
		valid            bool
	}{
		{"张三", "2023-03-15", "6228481698729890079", 45000, 1000, true},
		{"李四", "2023-03-16", "6227009328792181234", 45001, 1967.30, false},
		{"王五", "2023-03-17", "6259657543231940", 45002, 2500.25, true},
	}
	for i, d := range data {
		line := i + 2
		cell := func(col string) string { return col + itoa(line) }
		must(f.SetCellValue("客户", cell("A"), d.name))
		must(f.SetCellValue("客户", cell("B"), d.serial))
		must(f.SetCellStyle("客户", cell("B"), cell("B"), w.dateStyle))
		must(f.SetCellValue("客户", cell("C"), d.amount))
		must(f.SetCellStyle("客户", cell("C"), cell("D"), w.amountStyle))
		must(f.SetCellValue("客户", cell("D"), d.amount*2))
		must(f.SetCellFormula("客户", cell("D"), "C"+itoa(line)+"*2"))
		must(f.SetCellValue("客户", cell("E"), d.card))
		must(f.SetCellValue("客户", cell("F"), d.valid))
		w.amountSum += d.amount
		b := "0"
		if d.valid {
			b = "1"
		}
		w.rows = append(w.rows, sources.Row{Index: i, Line: line, Card: d.card,
			Fields: []string{d.name, d.date, ftoa(d.amount), ftoa(d.amount * 2), d.card, b},
			Cells: []sources.Cell{
				{Type: "s", Value: d.name},
				{Value: ftoa(d.serial), Style: w.dateStyle},
				{Value: ftoa(d.amount), Style: w.amountStyle},
				{Value: ftoa(d.amount * 2), Formula: "C" + itoa(line) + "*2", Style: w.amountStyle},
				{Type: "s", Value: d.card},
				{Type: "b", Value: b},
			}})
	}
	must(f.AutoFilter("客户", "A1:F4", nil))
	_, err = f.NewSheet("说明")
	must(err)
	w.notes = [][]string{{"说明", "本表来自客户部"}, {"版本", "2"}}
	for r, row := range w.notes {
		for c, v := range row {
			cn, _ := excelize.CoordinatesToCellName(c+1, r+1)
			must(f.SetCellValue("说明", cn, v))
		}
	}
	must(f.SaveAs(w.path))
	return w
}

func itoa(n int) string { return strconv.Itoa(n) }

func ftoa(v float64) string { return strconv.FormatFloat(v, 'f', -1, 64) }

// writeKept writes w's rows with answers to an XLSX output keeping w.
func writeKept(t *testing.T, w *twoSheets, out string, lang string) {
	t.Helper()
	s, err := Create(Options{Path: out, Header: w.header, CardColumn: 4, Lang: lang, InputPath: w.path, Sheet: "客户",
		InputName: filepath.Base(w.path), TmpDir: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	answers := []Answer{okAnswer("中国农业银行"), {Result: "-3", Description: "卡号不存在", Billing: "free", Status: "card_not_exist", AnsweredAt: answeredAt},
		{Billing: "none", Status: "invalid", Error: "not a card number"}}
	for i, r := range w.rows {
		if err := s.Write(r, answers[i]); err != nil {
			t.Fatal(err)
		}
	}
	if err := s.Commit(sampleSummary()); err != nil {
		t.Fatal(err)
	}
}

func TestKeepWorkbook(t *testing.T) {
	dir := t.TempDir()
	w := makeTwoSheets(t, dir)
	out := filepath.Join(dir, "out.xlsx")
	writeKept(t, w, out, "en")
	f, err := excelize.OpenFile(out)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if got := f.GetSheetList(); !slices.Equal(got, []string{"客户", "说明", "Summary"}) {
		t.Fatalf("sheets = %q", got)
	}
	rows, err := f.GetRows("客户")
	if err != nil {
		t.Fatal(err)
	}
	if want := append(append([]string{}, w.header...), AddedColumns("en", "")...); !slices.Equal(rows[0], want) {
		t.Errorf("header = %q, want %q", rows[0], want)
	}
	type check struct {
		cell, raw, formula string
		typ                excelize.CellType
		style              int
	}
	checks := []check{
		{"A1", "姓名", "", excelize.CellTypeInlineString, w.headerStyle},
		{"C1", "金额", "", excelize.CellTypeInlineString, w.headerStyle},
		{"B2", "45000", "", excelize.CellTypeUnset, w.dateStyle},
		{"C3", "1967.3", "", excelize.CellTypeUnset, w.amountStyle},
		{"D2", "2000", "C2*2", excelize.CellTypeUnset, w.amountStyle},
		{"E2", "6228481698729890079", "", excelize.CellTypeInlineString, 0},
		{"F2", "1", "", excelize.CellTypeBool, 0},
		{"F3", "0", "", excelize.CellTypeBool, 0},
		{"G2", "0", "", excelize.CellTypeInlineString, 0},      // result, text
		{"I2", "中国农业银行", "", excelize.CellTypeInlineString, 0}, // account_bank
		{"J2", "1", "", excelize.CellTypeUnset, 0},             // account_type, a number
		{"K2", "debit", "", excelize.CellTypeInlineString, 0},
		{"N4", "not a card number", "", excelize.CellTypeInlineString, 0},
	}
	for _, c := range checks {
		raw, _ := f.GetCellValue("客户", c.cell, excelize.Options{RawCellValue: true})
		typ, _ := f.GetCellType("客户", c.cell)
		formula, _ := f.GetCellFormula("客户", c.cell)
		style, _ := f.GetCellStyle("客户", c.cell)
		if raw != c.raw || typ != c.typ || formula != c.formula || (c.style != 0 && style != c.style) {
			t.Errorf("%s = %q type %v formula %q style %d, want %q type %v formula %q style %d",
				c.cell, raw, typ, formula, style, c.raw, c.typ, c.formula, c.style)
		}
	}
	// answered_at: a date-time number with a date-time format.
	if v, _ := f.GetCellValue("客户", "O2"); v != "2026-03-01 09:30:15" {
		t.Errorf("answered_at shows %q, want 2026-03-01 09:30:15", v)
	}
	if v, _ := f.GetCellValue("客户", "O4"); v != "" {
		t.Errorf("answered_at of an unanswered row = %q, want empty", v)
	}
	if wA, _ := f.GetColWidth("客户", "A"); wA != w.widthA {
		t.Errorf("column A width = %v, want the input's %v", wA, w.widthA)
	}
	if p, _ := f.GetPanes("客户"); !p.Freeze || p.YSplit != 1 {
		t.Errorf("panes = %+v, want the header row frozen", p)
	}
	if x := sheetXML(t, out, "xl/worksheets/sheet1.xml"); !strings.Contains(x, `<autoFilter ref="$A$1:$O$4"`) {
		t.Errorf("card sheet has no autofilter over A1:O4")
	}
	notes, _ := f.GetRows("说明")
	if !slices.EqualFunc(notes, w.notes, slices.Equal) {
		t.Errorf("说明 = %q, want %q", notes, w.notes)
	}
}

// sheetXML returns one part of the workbook at path.
func sheetXML(t *testing.T, path, part string) string {
	t.Helper()
	zr, err := zip.OpenReader(path)
	if err != nil {
		t.Fatal(err)
	}
	defer zr.Close()
	for _, f := range zr.File {
		if f.Name == part {
			rc, err := f.Open()
			if err != nil {
				t.Fatal(err)
			}
			defer rc.Close()
			b, _ := io.ReadAll(rc)
			return string(b)
		}
	}
	t.Fatalf("no part %s", part)
	return ""
}
