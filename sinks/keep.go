package sinks

import (
	"fmt"
	"strings"

	"github.com/xuri/excelize/v2"
)

// Limits on reading the input workbook again for an XLSX output (the same
// as the reader's): a workbook whose parts inflate past them is refused.
const (
	// unzipSizeLimit caps the total unzipped size of the input workbook.
	unzipSizeLimit = 1 << 30
	// unzipXMLSizeLimit is the size past which excelize keeps an unzipped
	// part in a temporary file rather than in memory.
	unzipXMLSizeLimit = 16 << 20
)

// keepState is what an XLSX sink that keeps the input workbook knows about
// the card sheet.
type keepState struct {
	skel   *sheetSkeleton
	header int // the header's sheet row, once placed
	shift  int // added to each input row's number: 1 when a header had to be inserted
}

// newKeepSink opens the input workbook to write it back with the added
// columns: the card sheet is streamed anew under its own name, every other
// part is copied as it was.
func newKeepSink(opts Options) (_ *xlsxSink, err error) {
	lang, _ := langOf(opts.Lang)
	tmpDir, err := excelTmpDir(opts)
	if err != nil {
		return nil, err
	}
	f, err := excelize.OpenFile(opts.InputPath, excelize.Options{TmpDir: tmpDir,
		UnzipSizeLimit: unzipSizeLimit, UnzipXMLSizeLimit: unzipXMLSizeLimit})
	if err != nil {
		return nil, fmt.Errorf("open the input workbook %q to write the output: %w", opts.InputPath, err)
	}
	defer func() {
		if err != nil {
			_ = f.Close()
		}
	}()
	skel, err := readSkeleton(opts.InputPath, opts.Sheet)
	if err != nil {
		return nil, err
	}
	// The stream writer parses the sheet it replaces: give it the sheet
	// without its rows, so that its size does not matter.
	f.Pkg.Store(skel.part, skel.xml)
	s := &xlsxSink{opts: opts, lang: lang, f: f, sheet: skel.sheet, width: len(opts.Header),
		keep: &keepState{skel: skel}}
	if err := s.newStyles(); err != nil {
		return nil, err
	}
	if s.sw, err = f.NewStreamWriter(skel.sheet); err != nil {
		return nil, fmt.Errorf("open sheet %q for writing: %w", skel.sheet, err)
	}
	if err := s.keepSheetParts(); err != nil {
		return nil, err
	}
	if s.tmp, err = createTemp(opts.Path, opts.StageDir, opts.Mode); err != nil {
		return nil, err
	}
	return s, nil
}

// keepSheetParts carries over the card sheet's merged cells (which the
// stream writer would drop) and sets the added columns' widths.
func (s *xlsxSink) keepSheetParts() error {
	merged, err := s.f.GetMergeCells(s.sheet)
	if err != nil {
		return fmt.Errorf("read the merged cells of sheet %q: %w", s.sheet, err)
	}
	for _, m := range merged {
		if err := s.sw.MergeCell(m.GetStartAxis(), m.GetEndAxis()); err != nil {
			return fmt.Errorf("keep merged cells %s:%s: %w", m.GetStartAxis(), m.GetEndAxis(), err)
		}
	}
	for i, key := range addedKeys {
		col := s.width + i + 1
		if err := s.sw.SetColWidth(col, col, columnWidth(key, false)); err != nil {
			return fmt.Errorf("set width of column %d: %w", col, err)
		}
	}
	return nil
}

// placeHeader chooses the header's sheet row for a first data row at line
// (0: no data row): the last row with content above it, or, when the input
// has no header row there, line itself with every row moved down by one.
// It sets the header's styles from that row, the added columns taking the
// style of the input's last header cell.
func (s *xlsxSink) placeHeader(line int) int {
	k := s.keep
	var hdr *rowInfo
	for i := range k.skel.rows {
		r := &k.skel.rows[i]
		if line == 0 || r.num < line {
			hdr = r
			if line == 0 {
				break
			}
		}
	}
	switch {
	case hdr != nil:
		k.header = hdr.num
	case line > 0:
		k.header, k.shift = line, 1
	default:
		k.header = 1
	}
	s.headerStyles = make([]int, s.width+len(addedKeys))
	last := 0
	for i := range s.headerStyles {
		if hdr != nil && i < s.width {
			last = max(last, hdr.styles[i])
			s.headerStyles[i] = hdr.styles[i]
			continue
		}
		s.headerStyles[i] = last
	}
	if hdr != nil {
		s.headerHeight = hdr.height
	}
	return k.header
}

// afterFlush keeps excelize from writing the original card sheet, which it
// may hold in a temporary file, next to the new one in the output.
func (k *keepState) afterFlush(f *excelize.File) {
	f.Pkg.Store(k.skel.part, []byte{})
}

// summarySheetName is the Summary sheet's name in lang, made unique among
// f's sheets ("Summary (2)" when the input has a "Summary").
func summarySheetName(f *excelize.File, lang string) string {
	base := "Summary"
	if lang == "zh" {
		base = "汇总"
	}
	taken := map[string]bool{}
	for _, n := range f.GetSheetList() {
		taken[strings.ToLower(n)] = true
	}
	name := base
	for i := 2; taken[strings.ToLower(name)]; i++ {
		name = fmt.Sprintf("%s (%d)", base, i)
	}
	return name
}
