package sources

import (
	"archive/zip"
	"context"
	"errors"
	"fmt"
	"io"
	"os"

	"github.com/xuri/excelize/v2"
)

// unzipXMLSizeLimit is the size above which excelize spills the unzipped
// sheet or shared strings to a temporary file in Options.TmpDir instead of
// holding it in memory.
const unzipXMLSizeLimit = 16 << 20

// partError turns an error met reading a part into the error for the user:
// a limit passed is an *InputError that says which; anything else means a
// damaged file.
func partError(p string, err error) error {
	var ie *InputError
	switch {
	case errors.As(err, &ie):
		return err
	case errors.Is(err, errPartTooBig):
		return &InputError{Path: p, Problem: fmt.Sprintf("unpacks to more than cardbatch reads: a part is larger than %s once unpacked", sizeText(MaxSheetUnpacked)),
			Hint: "open it in Excel, delete what is not needed or save the card sheet as CSV (UTF-8), and try again", Err: err}
	case errors.Is(err, errTextRun), errors.Is(err, errSSTTooBig):
		return &InputError{Path: p, Problem: "holds " + err.Error(), Hint: "save the card sheet as CSV (UTF-8) from Excel and try again", Err: err}
	}
	return damaged(p, err)
}

// sheetOf opens the package, checks its declared sizes and finds the sheet
// to read.
func sheetOf(x *xlsxReader, opts Options, notes []string) (workbookInfo, sheetInfo, *zip.File, []string, error) {
	path := opts.Path
	var err error
	if x.zr, err = zip.OpenReader(path); err != nil {
		return workbookInfo{}, sheetInfo{}, nil, nil, damaged(path, err)
	}
	if err := checkDeclared(path, &x.zr.Reader); err != nil {
		return workbookInfo{}, sheetInfo{}, nil, nil, err
	}
	wb, err := readWorkbook(&x.zr.Reader)
	if errors.Is(err, errNotWorkbook) {
		return wb, sheetInfo{}, nil, nil, &InputError{Path: path, Problem: "is a ZIP archive but not an Excel workbook", Hint: "give a .xlsx workbook, or unzip the archive and give the CSV inside", Err: err}
	}
	if err != nil {
		return wb, sheetInfo{}, nil, nil, partError(path, err)
	}
	sheet, err := pickSheet(path, wb.sheets, opts.Sheet)
	if err != nil {
		return wb, sheet, nil, nil, err
	}
	part := lookup(wb.files, sheet.part)
	if part == nil {
		return wb, sheet, nil, nil, &InputError{Path: path, Problem: fmt.Sprintf("has a sheet %q that is not a worksheet (a chart sheet?)", sheet.name), Hint: "pick the sheet with the data with --sheet"}
	}
	if opts.Sheet == "" && len(wb.sheets) > 1 {
		notes = append(notes, fmt.Sprintf("the workbook has %d sheets: reading the first, %q (use --sheet to pick another)", len(wb.sheets), sheet.name))
	}
	if sheet.hidden {
		notes = append(notes, fmt.Sprintf("sheet %q is hidden in Excel", sheet.name))
	}
	return wb, sheet, part, notes, nil
}

// openExcelize opens, with excelize, a slim copy of the workbook that holds
// only what reading the sheet needs (see slimParts), squeezed and bounded;
// the copy is removed once excelize has read it.
func openExcelize(x *xlsxReader, opts Options, wb workbookInfo, sheet sheetInfo) error {
	parts, err := slimParts(x.path, wb, sheet.part)
	if err != nil {
		return err
	}
	slim, err := writeSlim(opts.TmpDir, parts)
	if err != nil {
		return partError(x.path, err)
	}
	defer os.Remove(slim)
	x.f, err = excelize.OpenFile(slim, excelize.Options{TmpDir: opts.TmpDir,
		UnzipSizeLimit: MaxWorkbookUnpacked, UnzipXMLSizeLimit: unzipXMLSizeLimit})
	if err != nil {
		return damaged(x.path, err)
	}
	if x.rows, err = x.f.Rows(sheet.name); err != nil {
		var nx excelize.ErrSheetNotExist
		if errors.As(err, &nx) {
			return &InputError{Path: x.path, Problem: fmt.Sprintf("has a sheet %q that cannot be opened", sheet.name), Hint: "re-save it from Excel", Err: err}
		}
		return damaged(x.path, err)
	}
	return nil
}

// peekXLSX reads the first records for the layout detection.
func peekXLSX(x *xlsxReader) (recs []record, eof bool, err error) {
	recs = make([]record, 0, peekRecords)
	size := 0
	for !peekFull(recs, size) {
		r, err := x.read()
		if err == io.EOF {
			return recs, true, nil
		}
		if err != nil {
			return nil, false, err
		}
		recs = append(recs, r)
		size += recordSize(r.fields)
	}
	return recs, false, nil
}

// openXLSX opens a workbook: excelize for the cells as the user sees them,
// and a raw scan of the sheet XML, in step, for the cells as stored. Only
// the central directory, the small parts and the look-ahead rows are read
// before it returns.
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
	wb, sheet, part, notes, err := sheetOf(x, opts, notes)
	if err != nil {
		return nil, err
	}
	if err := openExcelize(x, opts, wb, sheet); err != nil {
		return nil, err
	}
	recs, eof, err := peekXLSX(x)
	if err != nil {
		return nil, err
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
	data := recs
	if lay.hasHeader {
		data = recs[1:]
	}
	if eof && len(data) == 0 {
		return nil, &InputError{Path: path, Problem: fmt.Sprintf("has a header but no data rows (sheet %q)", sheet.name), Hint: "add the card numbers under the header, or " + emptyHint, Columns: lay.header}
	}
	x.width, x.cardCol = len(lay.header), lay.cardCol
	for i := range data {
		if n := len(data[i].fields); n < x.width {
			data[i].fields = append(data[i].fields, make([]string, x.width-n)...)
		}
	}
	sst, err := loadSST(lookup(wb.files, wb.sst))
	if err != nil {
		return nil, partError(path, err)
	}
	if x.scan, err = newSheetScanner(part, x.width, sst); err != nil {
		return nil, partError(path, err)
	}
	total := len(data)
	if !eof {
		total = -1 // unknown until counted: CountRows
		// A <dimension> that ends before the rows already read is stale
		// (some writers leave "A1"): no hint from it.
		if last := recs[len(recs)-1].line; x.scan.dimLast > last {
			total = x.scan.dimLast - recs[0].line + 1 - len(recs) + len(data)
		}
	}
	return &input{
		path: path, format: "xlsx", sheet: sheet.name, header: lay.header, hasHeader: lay.hasHeader,
		cardCol: lay.cardCol, total: total, notes: append(notes, lay.notes...), pending: data,
		read: x.read, fill: x.fill, closeFn: x.close,
		count: func(ctx context.Context) (int, error) { return countSheetRows(ctx, part, sst) },
	}, nil
}

// countSheetRows counts the rows of a sheet that excelize would show with a
// visible cell.
func countSheetRows(ctx context.Context, part *zip.File, sst *sharedStrings) (int, error) {
	s, err := newSheetScanner(part, 0, sst)
	if err != nil {
		return 0, err
	}
	defer s.Close()
	rows := 0
	for i := 0; ; i++ {
		if i&4095 == 0 {
			if err := ctxDone(ctx); err != nil {
				return 0, err
			}
		}
		r, err := s.next()
		if err == io.EOF {
			return rows, nil
		}
		if err != nil {
			return 0, err
		}
		if !r.blank {
			rows++
		}
	}
}
