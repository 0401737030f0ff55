package sources

import (
	"archive/zip"
	"context"
	"errors"
	"fmt"
	"io"
	"strings"

	"github.com/xuri/excelize/v2"
)

// unzipXMLSizeLimit is the size above which excelize spills an unzipped
// worksheet or shared strings part to a temporary file in Options.TmpDir
// instead of holding it in memory.
const unzipXMLSizeLimit = 16 << 20

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

// card returns Row.Card and Row.CardNumericUnsafe for the card cell of
// sheet row line, shown by excelize as shown. It reads the raw sheet XML in
// step with excelize: for a numeric card cell, Card is the exact integer
// digits, or the raw value when the cell cannot hold a card exactly.
func (x *xlsxReader) card(line int, shown string) (string, bool, error) {
	for !x.scanEOF && x.scanRow.num < line {
		r, err := x.scan.next()
		if err == io.EOF {
			x.scanEOF = true
			break
		}
		if err != nil {
			return "", false, damaged(x.path, err)
		}
		x.scanRow = r
	}
	if x.scanRow.num != line || !x.scanRow.card.numeric() {
		return shown, false, nil
	}
	raw := x.scanRow.card.value
	digits, unsafe, ok := numericCard(raw)
	switch {
	case !ok:
		return shown, false, nil
	case unsafe:
		return raw, true, nil
	case digits == "":
		return raw, false, nil
	}
	// excelize shows the same number, formatted; if its digits differ the
	// two readers disagree about the row, and the user's view wins.
	if d := digitsOnly(shown); d == "" || d == digits || !plainNumber(shown) {
		return digits, false, nil
	}
	return shown, false, nil
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

// openXLSX opens a workbook: excelize for the cells as the user sees them,
// and a raw scan of the sheet XML for the row count and the card cells'
// types.
func openXLSX(ctx context.Context, opts Options, notes []string) (in Input, err error) {
	path := opts.Path
	x := &xlsxReader{path: path}
	defer func() {
		if r := recover(); r != nil { // a damaged file must not crash the run
			in, err = nil, damaged(path, fmt.Errorf("excelize: %v", r))
		}
		if err != nil {
			x.close()
		}
	}()

	if x.zr, err = zip.OpenReader(path); err != nil {
		return nil, damaged(path, err)
	}
	wb, err := readWorkbook(&x.zr.Reader)
	if errors.Is(err, errNotWorkbook) {
		return nil, &InputError{Path: path, Problem: "is a ZIP archive but not an Excel workbook", Hint: "give a .xlsx workbook, or unzip the archive and give the CSV inside", Err: err}
	}
	if err != nil {
		return nil, damaged(path, err)
	}
	sheet, err := pickSheet(path, wb.sheets, opts.Sheet)
	if err != nil {
		return nil, err
	}
	part := lookup(wb.files, sheet.part)
	if part == nil {
		return nil, &InputError{Path: path, Problem: fmt.Sprintf("has a sheet %q that is not a worksheet (a chart sheet?)", sheet.name), Hint: "pick the sheet with the data with --sheet"}
	}
	if opts.Sheet == "" && len(wb.sheets) > 1 {
		notes = append(notes, fmt.Sprintf("the workbook has %d sheets: reading the first, %q (use --sheet to pick another)", len(wb.sheets), sheet.name))
	}
	if sheet.hidden {
		notes = append(notes, fmt.Sprintf("sheet %q is hidden in Excel", sheet.name))
	}

	x.f, err = excelize.OpenFile(path, excelize.Options{TmpDir: opts.TmpDir, UnzipXMLSizeLimit: unzipXMLSizeLimit})
	if err != nil {
		return nil, damaged(path, err)
	}
	if x.rows, err = x.f.Rows(sheet.name); err != nil {
		var nx excelize.ErrSheetNotExist
		if errors.As(err, &nx) {
			return nil, &InputError{Path: path, Problem: fmt.Sprintf("has a sheet %q that cannot be opened", sheet.name), Hint: "re-save it from Excel", Err: err}
		}
		return nil, damaged(path, err)
	}

	recs := make([]record, 0, peekRecords)
	eof, size := false, 0
	for !peekFull(recs, size) {
		r, err := x.read()
		if err == io.EOF {
			eof = true
			break
		}
		if err != nil {
			return nil, err
		}
		recs = append(recs, r)
		size += recordSize(r.fields)
	}
	emptyHint := "pick the sheet with the data with --sheet"
	if len(wb.sheets) == 1 {
		emptyHint = "fill in the sheet, or check that you picked the right file"
	}
	if len(recs) == 0 {
		return nil, &InputError{Path: path, Problem: fmt.Sprintf("is empty (sheet %q has no data)", sheet.name), Hint: emptyHint}
	}

	lay, err := detectLayout(path, recs, false, opts.Column)
	if err != nil {
		return nil, err
	}
	total, numericCards := len(recs), -1 // -1: not counted
	var blankSST map[int]bool
	if !eof {
		if blankSST, err = scanBlankSST(lookup(wb.files, wb.sst)); err != nil {
			return nil, damaged(path, err)
		}
		if total, numericCards, err = countSheetRows(ctx, part, lay.cardCol+1, blankSST); err != nil {
			if ctx.Err() != nil {
				return nil, err
			}
			return nil, damaged(path, err)
		}
	}
	data := recs
	if lay.hasHeader {
		data = recs[1:]
		total--
	}
	if total <= 0 {
		return nil, &InputError{Path: path, Problem: fmt.Sprintf("has a header but no data rows (sheet %q)", sheet.name), Hint: "add the card numbers under the header, or " + emptyHint, Columns: lay.header}
	}
	x.width = len(lay.header)
	for i := range data {
		if n := len(data[i].fields); n < x.width {
			data[i].fields = append(data[i].fields, make([]string, x.width-n)...)
		}
	}
	notes = append(notes, lay.notes...)
	in = &input{
		path: path, format: "xlsx", header: lay.header, hasHeader: lay.hasHeader,
		cardCol: lay.cardCol, total: total, notes: notes, pending: data,
		read: x.read, closeFn: x.close,
	}
	// The scan in step with excelize is needed only when a card cell is a
	// number (the pre-scan, when there was one, counted them).
	if numericCards != 0 {
		if x.scan, err = newSheetScanner(part, lay.cardCol+1, blankSST); err != nil {
			return nil, damaged(path, err)
		}
		in.(*input).card = x.card
	}
	return in, nil
}

// countSheetRows counts the rows of a sheet that excelize would show with a
// visible cell, and the rows whose card cell (1-based column) is a number.
func countSheetRows(ctx context.Context, part *zip.File, cardCol int, blankSST map[int]bool) (rows, numericCards int, err error) {
	s, err := newSheetScanner(part, cardCol, blankSST)
	if err != nil {
		return 0, 0, err
	}
	defer s.Close()
	for i := 0; ; i++ {
		if i&4095 == 0 {
			if err := ctxDone(ctx); err != nil {
				return 0, 0, err
			}
		}
		r, err := s.next()
		if err == io.EOF {
			return rows, numericCards, nil
		}
		if err != nil {
			return 0, 0, err
		}
		if !r.blank {
			rows++
		}
		if r.card.numeric() {
			numericCards++
		}
	}
}
