package sources

import (
	"archive/zip"
	"errors"
	"fmt"
	"io"
	"strings"

	"github.com/xuri/excelize/v2"
)

// damaged returns the InputError for an XLSX file that cannot be read.
func damaged(path string, err error) *InputError {
	return &InputError{Path: path, Problem: "is not a valid .xlsx (damaged or truncated)", Hint: "re-save it from Excel", Err: err}
}

// xlsxReader is the state of an open workbook.
type xlsxReader struct {
	path    string
	zr      *zip.ReadCloser
	f       *excelize.File
	rows    *excelize.Rows
	rowNum  int // sheet row number of the current excelize row
	width   int // header width: rows are padded to it
	cardCol int // 0-based
	scan    *sheetScanner
	scanRow scanRow
	scanEOF bool
}

// read returns the next non-blank row from excelize's streaming iterator.
func (x *xlsxReader) read() (rec record, err error) {
	defer func() {
		if r := recover(); r != nil { // a damaged file must not crash the run
			rec, err = record{}, damaged(x.path, fmt.Errorf("excelize: %v", r))
		}
	}()
	for x.rows.Next() {
		x.rowNum++
		cols, err := x.rows.Columns()
		if err != nil {
			return record{}, damaged(x.path, fmt.Errorf("sheet row %d: %w", x.rowNum, err))
		}
		if isBlankFields(cols) {
			continue
		}
		if len(cols) < x.width {
			cols = append(cols, make([]string, x.width-len(cols))...)
		}
		return record{fields: cols, line: x.rowNum}, nil
	}
	if err := x.rows.Error(); err != nil {
		return record{}, damaged(x.path, err)
	}
	return record{}, io.EOF
}

// fill gives a row read by excelize its cells as stored (Row.Cells) and
// its exact card (Row.Card, Row.CardNumericUnsafe) from the raw scan of the
// sheet XML, read in step with excelize.
func (x *xlsxReader) fill(row *Row) error {
	for !x.scanEOF && x.scanRow.num < row.Line {
		r, err := x.scan.next()
		if err == io.EOF {
			x.scanEOF = true
			break
		}
		if err != nil {
			return partError(x.path, err)
		}
		x.scanRow = r
	}
	if x.scanRow.num != row.Line {
		return nil
	}
	row.Cells = make([]Cell, len(x.scanRow.cells))
	for i, c := range x.scanRow.cells {
		row.Cells[i] = Cell{Type: c.typ, Value: c.value, Formula: c.formula, FormulaFromMaster: c.fromMaster, Style: c.style}
	}
	row.Card, row.CardNumericUnsafe = cardOf(x.scanRow.cells[x.cardCol], row.Card)
	return nil
}

// cardOf returns Row.Card and Row.CardNumericUnsafe for a card cell shown
// by excelize as shown: for a numeric cell, the exact integer digits, or
// the raw value when the cell cannot hold a card exactly.
func cardOf(c scanCell, shown string) (string, bool) {
	if !c.numeric() {
		return shown, false
	}
	raw := c.value
	digits, unsafe, ok := numericCard(raw)
	switch {
	case !ok:
		return shown, false
	case unsafe:
		return raw, true
	case digits == "":
		return raw, false
	}
	// excelize shows the same number, formatted; if its digits differ the
	// two readers disagree about the row, and the user's view wins.
	if d := digitsOnly(shown); d == "" || d == digits || !plainNumber(shown) {
		return digits, false
	}
	return shown, false
}

// digitsOnly returns the ASCII digits of s.
func digitsOnly(s string) string {
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		if s[i] >= '0' && s[i] <= '9' {
			b.WriteByte(s[i])
		}
	}
	return b.String()
}

// plainNumber reports whether s is digits with optional thousands
// separators and spaces: a formatting of an integer whose digits must match.
func plainNumber(s string) bool {
	for _, r := range s {
		if (r < '0' || r > '9') && r != ',' && r != ' ' && r != '\u00a0' {
			return false
		}
	}
	return s != ""
}

// close releases everything; safe to call more than once.
func (x *xlsxReader) close() error {
	var errs []error
	if x.scan != nil {
		errs = append(errs, x.scan.Close())
		x.scan = nil
	}
	if x.rows != nil {
		errs = append(errs, x.rows.Close())
		x.rows = nil
	}
	if x.f != nil {
		errs = append(errs, x.f.Close())
		x.f = nil
	}
	if x.zr != nil {
		errs = append(errs, x.zr.Close())
		x.zr = nil
	}
	return errors.Join(errs...)
}

// pickSheet finds the sheet to read: by name (exactly, then ignoring case
// and surrounding spaces as Excel does), or the first one.
func pickSheet(path string, sheets []sheetInfo, want string) (sheetInfo, error) {
	names := make([]string, len(sheets))
	for i, s := range sheets {
		names[i] = fmt.Sprintf("%q", s.name)
	}
	if len(sheets) == 0 {
		return sheetInfo{}, &InputError{Path: path, Problem: "has no sheets", Hint: "re-save it from Excel"}
	}
	if want == "" {
		return sheets[0], nil
	}
	for _, s := range sheets {
		if s.name == want {
			return s, nil
		}
	}
	for _, s := range sheets {
		if strings.EqualFold(strings.TrimSpace(s.name), strings.TrimSpace(want)) {
			return s, nil
		}
	}
	return sheetInfo{}, &InputError{Path: path, Problem: fmt.Sprintf("has no sheet named %q", want),
		Hint: "pass --sheet with one of its sheets: " + strings.Join(names, ", ")}
}
