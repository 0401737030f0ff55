package sinks

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"unicode/utf16"

	"github.com/xuri/excelize/v2"

	"cardbatch/billing"
)

// numFmtText is Excel's built-in "@" (text) number format: a cell with it
// keeps its digits exactly as typed and is never turned into a number.
const numFmtText = 49

// xlsxSink streams rows into the data sheet of an excelize workbook. The
// stream writer keeps at most excelize.StreamChunkSize bytes of sheet XML in
// memory and spills the rest to a temporary file in Options.TmpDir, so memory
// stays flat however many rows are written. Every cell is a string cell; the
// card column and Options.TextColumns also carry the text number format.
type xlsxSink struct {
	mu        sync.Mutex
	path      string
	sheet     string
	tmp       *os.File // reserved at Create; the workbook is written into it by Commit
	f         *excelize.File
	sw        *excelize.StreamWriter
	textCol   []bool // textCol[i]: column i is forced to text
	textStyle int
	row       int // the last row number written
	cells     []excelize.Cell
	vals      []any
	done      bool
}

func newXLSXSink(opts Options) (_ *xlsxSink, err error) {
	sheet := opts.SheetName
	if sheet == "" {
		sheet = DefaultSheetName
	}
	if strings.EqualFold(sheet, SummarySheetName) {
		return nil, fmt.Errorf("sheet name %q is reserved for the billing summary; choose another", sheet)
	}
	tmpDir := opts.TmpDir
	if tmpDir == "" {
		tmpDir = filepath.Dir(opts.Path)
	}
	// excelize silently keeps everything in memory when it cannot create its
	// temporary files, so a wrong TmpDir must fail here, not as a memory blow-up.
	if fi, err := os.Stat(tmpDir); err != nil {
		if errors.Is(err, fs.ErrNotExist) {
			return nil, fmt.Errorf("temporary directory %q does not exist: %w", tmpDir, fs.ErrNotExist)
		}
		return nil, fmt.Errorf("temporary directory %q: %w", tmpDir, err)
	} else if !fi.IsDir() {
		return nil, fmt.Errorf("temporary directory %q is not a directory", tmpDir)
	}

	f := excelize.NewFile(excelize.Options{TmpDir: tmpDir})
	defer func() {
		if err != nil {
			_ = f.Close()
		}
	}()
	if err := f.SetSheetName("Sheet1", sheet); err != nil {
		return nil, fmt.Errorf("sheet name %q: %w", sheet, err)
	}
	textStyle, err := f.NewStyle(&excelize.Style{NumFmt: numFmtText})
	if err != nil {
		return nil, fmt.Errorf("create text style: %w", err)
	}
	headerStyle, err := f.NewStyle(&excelize.Style{Font: &excelize.Font{Bold: true}, NumFmt: numFmtText})
	if err != nil {
		return nil, fmt.Errorf("create header style: %w", err)
	}
	sw, err := f.NewStreamWriter(sheet)
	if err != nil {
		return nil, fmt.Errorf("open sheet %q for writing: %w", sheet, err)
	}

	ncols := len(opts.Header)
	for _, c := range opts.TextColumns {
		ncols = max(ncols, c+1)
	}
	ncols = max(ncols, opts.CardColumn+1)
	if ncols > excelize.MaxColumns {
		return nil, fmt.Errorf("XLSX holds at most %d columns; this output has %d: write CSV instead", excelize.MaxColumns, ncols)
	}
	textCol := make([]bool, ncols)
	textCol[opts.CardColumn] = true
	for _, c := range opts.TextColumns {
		textCol[c] = true
	}

	// Column widths, column styles and panes must precede the first row.
	for i := range ncols {
		name := ""
		if i < len(opts.Header) {
			name = opts.Header[i]
		}
		if err := sw.SetColWidth(i+1, i+1, columnWidth(name, i == opts.CardColumn)); err != nil {
			return nil, fmt.Errorf("set width of column %d: %w", i+1, err)
		}
		if textCol[i] {
			// Cells typed into this column later are text as well.
			if err := sw.SetColStyle(i+1, i+1, textStyle); err != nil {
				return nil, fmt.Errorf("set style of column %d: %w", i+1, err)
			}
		}
	}
	if len(opts.Header) > 0 {
		if err := sw.SetPanes(&excelize.Panes{
			Freeze: true, YSplit: 1, TopLeftCell: "A2", ActivePane: "bottomLeft",
			Selection: []excelize.Selection{{SQRef: "A2", ActiveCell: "A2", Pane: "bottomLeft"}},
		}); err != nil {
			return nil, fmt.Errorf("freeze header row: %w", err)
		}
	}

	tmp, err := createTemp(opts.Path, opts.StageDir, opts.Mode)
	if err != nil {
		return nil, err
	}
	s := &xlsxSink{path: opts.Path, sheet: sheet, tmp: tmp, f: f, sw: sw, textCol: textCol, textStyle: textStyle}
	if len(opts.Header) > 0 {
		if err := s.writeRow(opts.Header, headerStyle); err != nil {
			_ = discardTemp(tmp)
			return nil, err
		}
	}
	return s, nil
}

// columnWidth is the width of a data column, in Excel's character units.
func columnWidth(header string, card bool) float64 {
	if card {
		return 22
	}
	switch strings.ToLower(header) {
	case "description", "error":
		return 30
	case "account_bank":
		return 24
	}
	return float64(min(max(displayWidth(header)+4, 14), 30))
}

func (s *xlsxSink) Write(fields []string) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.done {
		return ErrClosed
	}
	return s.writeRow(fields, 0)
}

// writeRow writes fields as the next row. A non-zero style applies to every
// cell (the header); otherwise text columns get the text style.
func (s *xlsxSink) writeRow(fields []string, style int) error {
	if s.row >= excelize.TotalRows {
		return fmt.Errorf("XLSX holds at most %s rows: write CSV output instead", formatInt(excelize.TotalRows))
	}
	row := s.row + 1
	if cap(s.cells) < len(fields) {
		s.cells = make([]excelize.Cell, len(fields))
		s.vals = make([]any, len(fields))
	}
	cells, vals := s.cells[:len(fields)], s.vals[:len(fields)]
	for i, v := range fields {
		if len(v) > excelize.TotalCellChars && len(utf16.Encode([]rune(v))) > excelize.TotalCellChars {
			return fmt.Errorf("row %d, column %d: a cell holds more than %s characters, the XLSX limit: write CSV output instead",
				row, i+1, formatInt(excelize.TotalCellChars))
		}
		st := style
		if st == 0 && i < len(s.textCol) && s.textCol[i] {
			st = s.textStyle
		}
		switch {
		case v != "":
			cells[i] = excelize.Cell{StyleID: st, Value: v}
			vals[i] = &cells[i]
		case st != 0:
			// An empty cell that keeps its column's text format.
			cells[i] = excelize.Cell{StyleID: st}
			vals[i] = &cells[i]
		default:
			vals[i] = nil
		}
	}
	if err := s.sw.SetRow("A"+strconv.Itoa(row), vals); err != nil {
		return fmt.Errorf("write row %d of sheet %q: %w", row, s.sheet, err)
	}
	s.row = row
	return nil
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
	if err := s.sw.Flush(); err != nil {
		_ = discardTemp(s.tmp)
		return fmt.Errorf("finish sheet %q: %w", s.sheet, err)
	}
	if sum != nil {
		if err := writeSummarySheet(s.f, SummarySheetName, sum); err != nil {
			_ = discardTemp(s.tmp)
			return fmt.Errorf("write %s sheet: %w", SummarySheetName, err)
		}
	}
	if err := s.f.Write(s.tmp); err != nil {
		_ = discardTemp(s.tmp)
		return fmt.Errorf("write %q: %w", s.tmp.Name(), err)
	}
	return commitTemp(s.tmp, s.path)
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
