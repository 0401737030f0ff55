package sinks

import (
	"strconv"

	"github.com/xuri/excelize/v2"

	"cardbatch/billing"
)

// Built-in Excel number formats.
const (
	numFmtInt   = 3 // #,##0
	numFmtMoney = 4 // #,##0.00
)

// summaryColWidths are the widths of the Summary sheet's columns A, B, ...
var summaryColWidths = []float64{30, 26, 26, 16, 16, 14, 12, 14, 30}

// sheetStyles are the style IDs used on the Summary sheet.
type sheetStyles struct {
	title, note, heading, colHead, colHeadNum, integer, integerLeft, money, price int
}

// summarySheet writes a small sheet cell by cell, remembering the first
// error so that the layout code reads as a list of lines.
type summarySheet struct {
	f    *excelize.File
	name string
	row  int
	st   sheetStyles
	err  error
}

// writeSummarySheet adds a sheet named name to f with sum laid out for a
// person: a title, the call and row counts under headings, the cost when a
// price is set, the answers by result code with their meaning and billing
// class, the other breakdowns, and one line per attempt. Labels are the JSON
// keys of the summary so the sheet, the table and the JSON file match.
func writeSummarySheet(f *excelize.File, name string, sum *billing.Summary) error {
	if _, err := f.NewSheet(name); err != nil {
		return err
	}
	st, err := newSheetStyles(f)
	if err != nil {
		return err
	}
	for i, w := range summaryColWidths {
		col, _ := excelize.ColumnNumberToName(i + 1)
		if err := f.SetColWidth(name, col, col, w); err != nil {
			return err
		}
	}
	s := &summarySheet{f: f, name: name, st: st}

	s.next()
	s.set(1, "cardbatch billing summary", st.title)
	s.next()
	s.set(1, "Counted over every attempt of this run, resumed attempts included.", st.note)

	s.section("Calls")
	for _, it := range callItems(sum) {
		s.keyValue(it.key, it.value, it.note)
	}
	s.section("Rows")
	for _, it := range rowItems(sum) {
		s.keyValue(it.key, it.value, it.note)
	}
	if sum.Price > 0 {
		s.section("Cost")
		s.next()
		s.set(1, "price", 0)
		s.set(2, sum.Price, st.price)
		s.set(3, "per charged call", st.note)
		s.next()
		s.set(1, "estimated_cost", 0)
		s.set(2, sum.EstimatedCost, st.money)
		s.set(3, "charged_calls × price", st.note)
	}

	s.section("By result")
	s.tableHeader([]string{"code", "meaning", "count", "billing"}, map[int]bool{3: true})
	if len(sum.ByResult) == 0 {
		s.next()
		s.set(1, "(no answers)", st.note)
	}
	for _, code := range resultCodes(sum.ByResult) {
		s.next()
		s.set(1, code, 0)
		s.set(2, resultMeaning(code), 0)
		s.set(3, sum.ByResult[code], st.integer)
		s.set(4, classLabel(code), 0)
	}

	if len(sum.ByHTTPStatus) > 0 {
		s.section("By HTTP status")
		s.tableHeader([]string{"http_status", "count"}, map[int]bool{2: true})
		for _, k := range numericKeys(sum.ByHTTPStatus) {
			s.next()
			s.set(1, k, 0)
			s.set(2, sum.ByHTTPStatus[k], st.integer)
		}
	}
	if len(sum.ByStatus) > 0 {
		s.section("By row status")
		s.tableHeader([]string{"status", "rows"}, map[int]bool{2: true})
		for _, k := range statusKeys(sum.ByStatus) {
			s.next()
			s.set(1, k, 0)
			s.set(2, sum.ByStatus[k], st.integer)
		}
	}

	s.section("Attempts")
	numeric := map[int]bool{}
	for i, isNum := range attemptNumeric {
		// Column A is wide for the labels above: its number stays left.
		numeric[i+1] = isNum && i > 0
	}
	s.tableHeader(attemptColumns, numeric)
	if len(sum.Attempts) == 0 {
		s.next()
		s.set(1, "(none recorded)", st.note)
	}
	for _, a := range sum.Attempts {
		cells := attemptCells(a)
		s.next()
		s.set(1, a.Number, st.integerLeft)
		s.set(2, cells[1], 0)
		s.set(3, cells[2], 0)
		s.set(4, a.APICalls, st.integer)
		s.set(5, a.ChargedCalls, st.integer)
		s.set(6, a.FreeCalls, st.integer)
		s.set(7, a.InDoubt, st.integer)
		s.set(8, cells[7], 0)
		s.set(9, cells[8], 0)
	}

	for _, g := range []struct {
		title, col string
		m          map[string]int
	}{
		{"By issuing bank", "bank", sum.ByBank},
		{"By card nature", "card_type", sum.ByCardType},
	} {
		if len(g.m) == 0 {
			continue
		}
		s.section(g.title)
		s.tableHeader([]string{g.col, "rows"}, map[int]bool{2: true})
		for _, k := range byCountDesc(g.m) {
			s.next()
			s.set(1, k, 0)
			s.set(2, g.m[k], st.integer)
		}
	}
	return s.err
}

func newSheetStyles(f *excelize.File) (sheetStyles, error) {
	var st sheetStyles
	priceFmt := "0.00##"
	border := []excelize.Border{{Type: "bottom", Color: "808080", Style: 1}}
	defs := []struct {
		id    *int
		style *excelize.Style
	}{
		{&st.title, &excelize.Style{Font: &excelize.Font{Bold: true, Size: 14}}},
		{&st.note, &excelize.Style{Font: &excelize.Font{Italic: true, Color: "666666"}}},
		{&st.heading, &excelize.Style{Font: &excelize.Font{Bold: true, Size: 12}}},
		{&st.colHead, &excelize.Style{Font: &excelize.Font{Bold: true}, Border: border}},
		{&st.colHeadNum, &excelize.Style{Font: &excelize.Font{Bold: true}, Border: border,
			Alignment: &excelize.Alignment{Horizontal: "right"}}},
		{&st.integer, &excelize.Style{NumFmt: numFmtInt}},
		{&st.integerLeft, &excelize.Style{NumFmt: numFmtInt, Alignment: &excelize.Alignment{Horizontal: "left"}}},
		{&st.money, &excelize.Style{NumFmt: numFmtMoney}},
		{&st.price, &excelize.Style{CustomNumFmt: &priceFmt}},
	}
	for _, d := range defs {
		id, err := f.NewStyle(d.style)
		if err != nil {
			return st, err
		}
		*d.id = id
	}
	return st, nil
}

// next moves to the next row.
func (s *summarySheet) next() { s.row++ }

// section leaves a blank row and writes a bold heading.
func (s *summarySheet) section(title string) {
	s.row += 2
	s.set(1, title, s.st.heading)
}

// keyValue writes one labelled count with its explanation.
func (s *summarySheet) keyValue(key string, v int64, note string) {
	s.next()
	s.set(1, key, 0)
	s.set(2, v, s.st.integer)
	s.set(3, note, s.st.note)
}

// tableHeader writes a row of bold column titles; numeric columns (1-based)
// are right-aligned like their figures.
func (s *summarySheet) tableHeader(cols []string, numeric map[int]bool) {
	s.next()
	for i, c := range cols {
		st := s.st.colHead
		if numeric[i+1] {
			st = s.st.colHeadNum
		}
		s.set(i+1, c, st)
	}
}

// set writes v into column col (1-based) of the current row with style (0:
// none).
func (s *summarySheet) set(col int, v any, style int) {
	if s.err != nil {
		return
	}
	cell := cellName(col, s.row)
	if s.err = s.f.SetCellValue(s.name, cell, v); s.err != nil {
		return
	}
	if style != 0 {
		s.err = s.f.SetCellStyle(s.name, cell, cell, style)
	}
}

// cellName returns the A1 reference of a 1-based column and row.
func cellName(col, row int) string {
	name, _ := excelize.ColumnNumberToName(col)
	return name + strconv.Itoa(row)
}
