package sinks

import (
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/xuri/excelize/v2"

	"cardbatch/billing"
	"cardbatch/cardnum"
	"cardbatch/sources"
)

// numFmtText is Excel's built-in "@" (text) number format: a cell with it
// keeps its digits exactly as typed and is never turned into a number.
const numFmtText = 49

// dateTimeFormat is the number format of the answered_at cells.
const dateTimeFormat = "yyyy-mm-dd hh:mm:ss"

// DefaultSheetName is the data sheet's name in a fresh workbook (a CSV
// input), by language.
func DefaultSheetName(lang string) string {
	if l, _ := langOf(lang); l == "zh" {
		return "查询结果"
	}
	return "Results"
}

// xlsxSink streams rows into the card sheet of an excelize workbook: a
// fresh one for a CSV input, the input workbook itself for an XLSX input
// (see keep.go). The stream writer keeps at most excelize.StreamChunkSize
// bytes of sheet XML in memory and spills the rest to a temporary file in
// Options.TmpDir, so memory stays flat however many rows are written.
type xlsxSink struct {
	mu    sync.Mutex
	opts  Options
	lang  string
	tmp   *os.File // reserved at Create; the workbook is written into it by Commit
	f     *excelize.File
	sw    *excelize.StreamWriter
	sheet string
	width int // the input header's width: the added cells start there

	textStyle, timeStyle int
	headerStyles         []int // per output column
	headerHeight         float64

	keep    *keepState // non-nil when the input workbook is kept
	started bool       // the header row is written (or there is none)
	row     int        // the last sheet row written
	done    bool
}

// newXLSXSink opens a fresh workbook for a CSV input.
func newXLSXSink(opts Options) (_ *xlsxSink, err error) {
	lang, _ := langOf(opts.Lang)
	tmpDir, err := excelTmpDir(opts)
	if err != nil {
		return nil, err
	}
	f := excelize.NewFile(excelize.Options{TmpDir: tmpDir})
	defer func() {
		if err != nil {
			_ = f.Close()
		}
	}()
	sheet := DefaultSheetName(lang)
	if err := f.SetSheetName("Sheet1", sheet); err != nil {
		return nil, fmt.Errorf("sheet name %q: %w", sheet, err)
	}
	s := &xlsxSink{opts: opts, lang: lang, f: f, sheet: sheet, width: len(opts.Header)}
	if err := s.newStyles(); err != nil {
		return nil, err
	}
	bold, err := f.NewStyle(&excelize.Style{Font: &excelize.Font{Bold: true}, NumFmt: numFmtText})
	if err != nil {
		return nil, fmt.Errorf("create header style: %w", err)
	}
	if s.sw, err = f.NewStreamWriter(sheet); err != nil {
		return nil, fmt.Errorf("open sheet %q for writing: %w", sheet, err)
	}
	names := append(append([]string{}, opts.Header...), AddedColumns(lang, opts.Prefix)...)
	for i, name := range names {
		s.headerStyles = append(s.headerStyles, bold)
		key := name
		if i >= s.width {
			key = addedKeys[i-s.width]
		}
		if err := s.sw.SetColWidth(i+1, i+1, columnWidth(key, i == opts.CardColumn)); err != nil {
			return nil, fmt.Errorf("set width of column %d: %w", i+1, err)
		}
	}
	// Cells typed into the card column later are text as well.
	if err := s.sw.SetColStyle(opts.CardColumn+1, opts.CardColumn+1, s.textStyle); err != nil {
		return nil, fmt.Errorf("set style of the card column: %w", err)
	}
	if s.tmp, err = createTemp(opts.Path, opts.StageDir, opts.Mode); err != nil {
		return nil, err
	}
	return s, nil
}

// excelTmpDir returns the folder for excelize's temporary files and checks
// it: excelize silently keeps everything in memory when it cannot create
// them, so a wrong folder must fail here, not as a memory blow-up.
func excelTmpDir(opts Options) (string, error) {
	dir := opts.TmpDir
	if dir == "" {
		dir = filepath.Dir(opts.Path)
	}
	fi, err := os.Stat(dir)
	if err != nil {
		return "", fmt.Errorf("temporary folder %q: %w", dir, err)
	}
	if !fi.IsDir() {
		return "", fmt.Errorf("temporary folder %q is not a folder", dir)
	}
	return dir, nil
}

// newStyles adds the styles of the card column and the answered_at cells.
func (s *xlsxSink) newStyles() (err error) {
	if s.textStyle, err = s.f.NewStyle(&excelize.Style{NumFmt: numFmtText}); err != nil {
		return fmt.Errorf("create text style: %w", err)
	}
	format := dateTimeFormat
	if s.timeStyle, err = s.f.NewStyle(&excelize.Style{CustomNumFmt: &format}); err != nil {
		return fmt.Errorf("create date-time style: %w", err)
	}
	return nil
}

// columnWidth is the width of a column, in Excel's character units, by its
// English name.
func columnWidth(key string, card bool) float64 {
	switch {
	case card:
		return 22
	case key == "description" || key == "error":
		return 30
	case key == "account_bank" || key == "answered_at":
		return 22
	}
	return float64(min(max(displayWidth(key)+4, 12), 30))
}

// headerRow returns the header cells: the input's names, then the added ones.
func (s *xlsxSink) headerRow() []any {
	names := append(append([]string{}, s.opts.Header...), AddedColumns(s.lang, s.opts.Prefix)...)
	vals := make([]any, len(names))
	for i, n := range names {
		vals[i] = excelize.Cell{StyleID: s.headerStyles[i], Value: n}
	}
	return vals
}

// start writes the header row before the first data row (at line, its
// sheet row in the input; 0 when there is none) and freezes it.
func (s *xlsxSink) start(line int) error {
	s.started = true
	if s.opts.Header == nil {
		return nil
	}
	hdr := 1
	if s.keep != nil {
		hdr = s.placeHeader(line)
	}
	if err := s.sw.SetPanes(&excelize.Panes{
		Freeze: true, YSplit: hdr, TopLeftCell: "A" + strconv.Itoa(hdr+1), ActivePane: "bottomLeft",
		Selection: []excelize.Selection{{SQRef: "A" + strconv.Itoa(hdr+1), ActiveCell: "A" + strconv.Itoa(hdr+1), Pane: "bottomLeft"}},
	}); err != nil {
		return fmt.Errorf("freeze the header row: %w", err)
	}
	var opts []excelize.RowOpts
	if s.headerHeight > 0 {
		opts = append(opts, excelize.RowOpts{Height: s.headerHeight})
	}
	return s.setRow(hdr, s.headerRow(), opts...)
}

func (s *xlsxSink) setRow(n int, vals []any, opts ...excelize.RowOpts) error {
	if err := s.sw.SetRow("A"+strconv.Itoa(n), vals, opts...); err != nil {
		return fmt.Errorf("write row %d of sheet %q: %w", n, s.sheet, err)
	}
	s.row = n
	return nil
}

// Write writes the row's cells (the input workbook's as stored when it is
// kept; otherwise the fields as text) at the row's place, then the answer's
// cells typed: account_type a number, answered_at a date-time.
func (s *xlsxSink) Write(row sources.Row, a Answer) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.done {
		return ErrClosed
	}
	if err := s.opts.FitsRow(row); err != nil {
		return err
	}
	if !s.started {
		if err := s.start(row.Line); err != nil {
			return err
		}
	}
	n := s.row + 1
	if s.keep != nil {
		n = row.Line + s.keep.shift
	}
	own, extra := s.ownCells(row)
	vals := append(own, answerValues(a, s.lang)...)
	if at := s.width + colAnsweredAt; vals[at] != nil {
		vals[at] = excelize.Cell{StyleID: s.timeStyle, Value: vals[at]}
	}
	return s.setRow(n, append(vals, extra...))
}

// ownCells returns the input's cells of row, padded to the header's width,
// and the cells past it.
func (s *xlsxSink) ownCells(row sources.Row) (own, extra []any) {
	n := max(s.width, len(row.Fields), len(row.Cells))
	vals := make([]any, n)
	for i := range n {
		switch {
		case i == s.opts.CardColumn:
			vals[i] = s.cardCell(row)
		case s.keep != nil && i < len(row.Cells):
			vals[i] = storedValue(row.Cells[i])
		case i < len(row.Fields) && row.Fields[i] != "":
			vals[i] = row.Fields[i]
		}
	}
	return vals[:s.width:s.width], vals[s.width:]
}

// cardCell is the card cell, always text (masked with Options.MaskCard),
// except a numeric cell that cannot hold a card exactly, kept as stored.
func (s *xlsxSink) cardCell(row sources.Row) any {
	var stored *sources.Cell
	if s.keep != nil && s.opts.CardColumn < len(row.Cells) {
		stored = &row.Cells[s.opts.CardColumn]
	}
	text := row.Card
	if text == "" && s.opts.CardColumn < len(row.Fields) {
		text = row.Fields[s.opts.CardColumn]
	}
	if s.opts.MaskCard {
		text = cardnum.Mask(cardnum.Normalize(text))
	} else if stored != nil && row.CardNumericUnsafe {
		return storedValue(*stored)
	}
	style := s.textStyle
	if stored != nil {
		style = stored.Style
	}
	return excelize.Cell{StyleID: style, Value: text}
}

// storedValue turns a cell as stored in the input back into a value for the
// stream writer, with its type, style and formula.
func storedValue(c sources.Cell) any {
	var v any
	switch c.Type {
	case "", "n":
		if f, err := strconv.ParseFloat(c.Value, 64); err == nil {
			v = f
		}
	case "b":
		v = c.Value == "1" || strings.EqualFold(c.Value, "true")
	case "d":
		v = c.Value
		if t, ok := parseISODate(c.Value); ok {
			v = t
		}
	default: // "s", "inlineStr", "str", "e"
		v = c.Value
	}
	if v == nil && c.Value != "" {
		v = c.Value
	}
	if v == nil && c.Formula == "" && c.Style == 0 {
		return nil
	}
	return excelize.Cell{StyleID: c.Style, Formula: c.Formula, Value: v}
}

// parseISODate reads the value of a "d" cell (ISO 8601).
func parseISODate(s string) (time.Time, bool) {
	for _, layout := range []string{time.RFC3339Nano, "2006-01-02T15:04:05.999999999", "2006-01-02T15:04", "2006-01-02", "15:04:05"} {
		if t, err := time.Parse(layout, s); err == nil {
			return t, true
		}
	}
	return time.Time{}, false
}

func (s *xlsxSink) Commit(sum *billing.Summary) (err error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.done {
		return ErrClosed
	}
	s.done = true
	defer func() {
		if cerr := s.f.Close(); cerr != nil && err == nil {
			err = fmt.Errorf("remove excelize temporary files: %w", cerr)
		}
	}()
	if err := s.finish(sum); err != nil {
		_ = discardTemp(s.tmp)
		return err
	}
	if err := s.f.Write(s.tmp); err != nil {
		_ = discardTemp(s.tmp)
		return fmt.Errorf("write %q: %w", s.tmp.Name(), err)
	}
	return commitTemp(s.tmp, s.opts.Path)
}

// finish ends the card sheet (header, autofilter) and adds the Summary.
func (s *xlsxSink) finish(sum *billing.Summary) error {
	if !s.started {
		if err := s.start(0); err != nil {
			return err
		}
	}
	if s.opts.Header != nil {
		hdr := 1
		if s.keep != nil {
			hdr = s.keep.header
		}
		last, _ := excelize.CoordinatesToCellName(s.width+len(addedKeys), max(s.row, hdr))
		if err := s.f.AutoFilter(s.sheet, "A"+strconv.Itoa(hdr)+":"+last, nil); err != nil {
			return fmt.Errorf("add the autofilter: %w", err)
		}
	}
	if err := s.sw.Flush(); err != nil {
		return fmt.Errorf("finish sheet %q: %w", s.sheet, err)
	}
	if s.keep != nil {
		s.keep.afterFlush(s.f)
	}
	if sum == nil {
		return nil
	}
	name := summarySheetName(s.f, s.lang)
	if err := writeSummarySheet(s.f, name, sum, s.opts); err != nil {
		return fmt.Errorf("write the %s sheet: %w", name, err)
	}
	return nil
}

func (s *xlsxSink) Abort() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.done {
		return nil
	}
	s.done = true
	err := discardTemp(s.tmp)
	if cerr := s.f.Close(); cerr != nil && err == nil {
		err = fmt.Errorf("remove excelize temporary files: %w", cerr)
	}
	return err
}
