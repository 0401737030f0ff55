package sources

import (
	"archive/zip"
	"context"
	"io"
)

// CountRows counts the data rows of the input that Open(ctx, opts) would
// give, reading the whole file once without holding it: for the progress
// total, run beside the run itself (Open does not count, so the first row
// comes at once). For XLSX it scans the sheet's XML without excelize and
// takes the first non-blank row for a header unless a cell of it looks like
// a card number, as Open's detection does for all but odd layouts.
func CountRows(ctx context.Context, opts Options) (int, error) {
	if k, err := sniffFile(opts.Path, ""); err == nil && k.kind == kindZip {
		return countXLSX(ctx, opts)
	}
	in, err := Open(ctx, opts)
	if err != nil {
		return 0, err
	}
	defer in.Close()
	ii, ok := in.(*input)
	if !ok || ii.count == nil {
		return in.TotalHint(), nil
	}
	n, err := ii.count(ctx)
	if err != nil {
		return 0, err
	}
	if ii.hasHeader {
		n--
	}
	return max(n, 0), nil
}

// headerFirst reports whether the first non-blank row of a sheet reads as a
// header: none of its cells looks like a card number.
func headerFirst(part *zip.File, sst *sharedStrings) (bool, error) {
	s, err := newSheetScanner(part, 256, sst)
	if err != nil {
		return false, err
	}
	defer s.Close()
	for {
		r, err := s.next()
		if err == io.EOF {
			return false, nil
		}
		if err != nil {
			return false, err
		}
		if r.blank {
			continue
		}
		for _, c := range r.cells {
			if cellLooksLikeCard(c.value) {
				return false, nil
			}
		}
		return true, nil
	}
}

// countXLSX counts the data rows of a workbook's sheet with the raw scan.
func countXLSX(ctx context.Context, opts Options) (int, error) {
	x := &xlsxReader{path: opts.Path}
	defer x.close()
	wb, _, part, _, err := sheetOf(x, opts, nil)
	if err != nil {
		return 0, err
	}
	sst, err := loadSST(lookup(wb.files, wb.sst))
	if err != nil {
		return 0, partError(opts.Path, err)
	}
	header, err := headerFirst(part, sst)
	if err != nil {
		return 0, partError(opts.Path, err)
	}
	n, err := countSheetRows(ctx, part, sst)
	if err != nil {
		if ctx.Err() != nil {
			return 0, err
		}
		return 0, partError(opts.Path, err)
	}
	if header {
		n--
	}
	return max(n, 0), nil
}
