package sinks

import (
	"fmt"
	"strconv"
	"strings"

	"github.com/xuri/excelize/v2"

	"cardbatch/billing"
)

// Built-in Excel number formats.
const (
	numFmtInt   = 3 // #,##0
	numFmtMoney = 4 // #,##0.00
)

// summaryColWidths are the widths of the Summary sheet's columns A, B, ...
var summaryColWidths = []float64{28, 26, 26, 12, 12, 12, 12, 26, 30}

// topBanks is how many issuing banks the Summary sheet lists and charts.
const topBanks = 10

// sheetStyles are the style IDs used on the Summary sheet.
type sheetStyles struct {
	title, note, heading, colHead, colHeadNum, integer, money, price int
}

// summarySheet writes a small sheet cell by cell, remembering the first
// error so that the layout code reads as a list of lines.
type summarySheet struct {
	f    *excelize.File
	name string
	row  int
	st   sheetStyles
	w    func(string) string
	err  error
}

// writeSummarySheet adds a sheet named name to f with sum laid out for a
// manager, in opts.Lang: the input file, the run's start and end, the calls
// and rows in words, the cost when a price is known, the answers by result
// code, every attempt with its end and outcome, the top issuing banks, and
// two charts (answers by result code; top issuing banks).
func writeSummarySheet(f *excelize.File, name string, sum *billing.Summary, opts Options) error {
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
	if err := fitOnePage(f, name); err != nil {
		return err
	}
	lang, _ := langOf(opts.Lang)
	s := &summarySheet{f: f, name: name, st: st, w: words(lang)}
	s.next()
	s.set(1, s.w("title"), st.title)
	s.next()
	s.set(1, s.w("subtitle"), st.note)
	s.runSection(sum, opts.InputName)
	s.figures(sum, opts.Price)
	results := s.resultTable(sum)
	s.attemptTable(sum.Attempts)
	s.countTable("by_status", "status", stringCounts(sum.ByStatus), statusKeys(sum.ByStatus))
	if len(sum.ByHTTPStatus) > 0 {
		s.countTable("by_http_status", "http_status", sum.ByHTTPStatus, numericKeys(sum.ByHTTPStatus))
	}
	banks := s.countTable("by_bank", "bank", stringCounts(sum.ByBank), firstN(byCountDesc(sum.ByBank), topBanks))
	s.countTable("by_card_type", "card_type", stringCounts(sum.ByCardType), byCountDesc(sum.ByCardType))
	if s.err != nil {
		return s.err
	}
	return s.charts(results, banks)
}

// span of rows of a table: its column-title row and its last row.
type tableRows struct{ head, last int }

// runSection writes what was run and when.
func (s *summarySheet) runSection(sum *billing.Summary, input string) {
	s.section(s.w("run"))
	if input != "" {
		s.label("input", input)
	}
	if n := len(sum.Attempts); n > 0 {
		s.label("run_start", formatTime(sum.Attempts[0].StartedAt))
		end := s.w("not_finished")
		if fin := sum.Attempts[n-1].FinishedAt; fin != nil {
			end = formatTime(*fin)
		}
		s.label("run_end", end)
		s.next()
		s.set(1, s.w("attempt_count"), 0)
		s.set(2, n, s.st.integer)
	}
}

// figures writes the call and row counts and the cost.
func (s *summarySheet) figures(sum *billing.Summary, price float64) {
	s.section(s.w("calls"))
	for _, it := range callItems(sum) {
		s.keyValue(it.key, it.value)
	}
	s.section(s.w("rows_h"))
	for _, it := range rowItems(sum) {
		s.keyValue(it.key, it.value)
	}
	if sum.Price > 0 {
		price = sum.Price
	}
	if price <= 0 {
		return
	}
	cost := sum.EstimatedCost
	if cost == 0 {
		cost = float64(sum.ChargedCalls) * price
	}
	s.section(s.w("cost"))
	s.next()
	s.set(1, s.w("price"), 0)
	s.set(2, price, s.st.price)
	s.next()
	s.set(1, s.w("estimated_cost"), 0)
	s.set(2, cost, s.st.money)
	s.set(3, s.w("cost_note"), s.st.note)
}

// resultTable writes the answers by result code and returns its rows.
func (s *summarySheet) resultTable(sum *billing.Summary) tableRows {
	s.section(s.w("by_result"))
	s.tableHeader([]string{s.w("code"), s.w("meaning"), s.w("count"), s.w("billing")}, map[int]bool{3: true})
	t := tableRows{head: s.row}
	if len(sum.ByResult) == 0 {
		s.next()
		s.set(1, s.w("none"), s.st.note)
	}
	for _, code := range resultCodes(sum.ByResult) {
		s.next()
		s.set(1, code, 0)
		s.set(2, s.meaning(code), 0)
		s.set(3, sum.ByResult[code], s.st.integer)
		s.set(4, s.w(string(billing.ClassOf(code))), 0)
	}
	t.last = s.row
	return t
}

// meaning says in words what a result code means.
func (s *summarySheet) meaning(code string) string {
	switch code {
	case billing.ResultOK, billing.ResultNotFound, billing.ResultBusy, billing.ResultNotExist:
		return s.w("m" + code)
	}
	return s.w("m?")
}

// attemptTable writes one line per attempt with its end and outcome.
func (s *summarySheet) attemptTable(attempts []billing.Attempt) {
	s.section(s.w("attempts"))
	keys := []string{"attempt", "started_at", "finished_at", "a_api_calls", "a_charged", "a_free", "a_in_doubt", "outcome", "a_by_result"}
	cols := make([]string, len(keys))
	for i, k := range keys {
		cols[i] = s.w(k)
	}
	s.tableHeader(cols, map[int]bool{4: true, 5: true, 6: true, 7: true})
	if len(attempts) == 0 {
		s.next()
		s.set(1, s.w("none"), s.st.note)
	}
	for _, a := range attempts {
		fin, outcome := s.w("not_finished"), a.Outcome
		if a.FinishedAt != nil {
			fin = formatTime(*a.FinishedAt)
		}
		if outcome == "" {
			outcome = "running"
		}
		s.next()
		s.set(1, a.Number, 0)
		s.set(2, formatTime(a.StartedAt), 0)
		s.set(3, fin, 0)
		s.set(4, a.APICalls, s.st.integer)
		s.set(5, a.ChargedCalls, s.st.integer)
		s.set(6, a.FreeCalls, s.st.integer)
		s.set(7, a.InDoubt, s.st.integer)
		s.set(8, s.w(outcome), 0)
		s.set(9, compactResults(a.ByResult), 0)
	}
}

// countTable writes keys with their counts under a heading (nothing when
// there are none) and returns its rows.
func (s *summarySheet) countTable(heading, col string, m map[string]int64, keys []string) tableRows {
	if len(keys) == 0 {
		return tableRows{}
	}
	s.section(s.w(heading))
	s.tableHeader([]string{s.w(col), s.w("row_count")}, map[int]bool{2: true})
	t := tableRows{head: s.row}
	for _, k := range keys {
		s.next()
		s.set(1, k, 0)
		s.set(2, m[k], s.st.integer)
	}
	t.last = s.row
	return t
}

func stringCounts(m map[string]int) map[string]int64 {
	out := make(map[string]int64, len(m))
	for k, v := range m {
		out[k] = int64(v)
	}
	return out
}

func firstN(keys []string, n int) []string { return keys[:min(n, len(keys))] }

// charts adds a bar chart of the answers by result code and one of the top
// issuing banks, right of the tables.
func (s *summarySheet) charts(results, banks tableRows) error {
	ref := "'" + strings.ReplaceAll(s.name, "'", "''") + "'!"
	add := func(cell, title string, t tableRows, catCol, valCol string) error {
		if t.last <= t.head {
			return nil
		}
		rng := func(col string) string {
			return fmt.Sprintf("%s$%s$%d:$%s$%d", ref, col, t.head+1, col, t.last)
		}
		return s.f.AddChart(s.name, cell, &excelize.Chart{
			Type:      excelize.Bar,
			Series:    []excelize.ChartSeries{{Name: fmt.Sprintf("%s$%s$%d", ref, valCol, t.head), Categories: rng(catCol), Values: rng(valCol)}},
			Title:     excelize.ChartTitle{Paragraph: []excelize.RichTextRun{{Text: title}}},
			Legend:    excelize.ChartLegend{Position: "none"},
			XAxis:     excelize.ChartAxis{Font: excelize.Font{Color: "404040", Size: 9}},
			YAxis:     excelize.ChartAxis{Font: excelize.Font{Color: "404040", Size: 9}},
			PlotArea:  excelize.ChartPlotArea{ShowVal: true},
			Dimension: excelize.ChartDimension{Width: 560, Height: 300},
		})
	}
	if err := add("K2", s.w("by_result"), results, "B", "C"); err != nil {
		return fmt.Errorf("add the chart of answers by result code: %w", err)
	}
	if err := add("K20", s.w("by_bank"), banks, "A", "B"); err != nil {
		return fmt.Errorf("add the chart of issuing banks: %w", err)
	}
	return nil
}

// fitOnePage prints the sheet on one landscape page.
func fitOnePage(f *excelize.File, name string) error {
	one, landscape, fit := 1, "landscape", true
	if err := f.SetPageLayout(name, &excelize.PageLayoutOptions{FitToWidth: &one, FitToHeight: &one, Orientation: &landscape}); err != nil {
		return err
	}
	return f.SetSheetProps(name, &excelize.SheetPropsOptions{FitToPage: &fit})
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

// label writes one labelled text.
func (s *summarySheet) label(key, value string) {
	s.next()
	s.set(1, s.w(key), 0)
	s.set(2, value, 0)
}

// keyValue writes one count labelled in words.
func (s *summarySheet) keyValue(key string, v int64) {
	s.next()
	s.set(1, s.w(key), 0)
	s.set(2, v, s.st.integer)
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
