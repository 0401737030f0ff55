package sources

import (
	"archive/zip"
	"encoding/xml"
	"fmt"
	"io"
	"strconv"
	"strings"

	"github.com/xuri/efp"
	"github.com/xuri/excelize/v2"
)

// This file streams one worksheet part with encoding/xml's RawToken: each
// cell as stored (type, raw value, formula, style), which excelize's row
// iterator cannot give. Only the cells up to the header's width of one row
// are held at a time.

// maxSSTText is the most text the shared strings may hold for the scanner,
// which keeps them in memory to resolve string cells.
const maxSSTText = 128 << 20

// errSSTTooBig is returned when the shared strings hold more than
// maxSSTText.
var errSSTTooBig = fmt.Errorf("more than %s of shared strings", sizeText(maxSSTText))

// sharedStrings is the shared string table: every string's text, end to
// end, and where each ends.
type sharedStrings struct {
	text []byte
	ends []int
}

// get returns string i, and false when there is none.
func (t *sharedStrings) get(i int) (string, bool) {
	if t == nil || i < 0 || i >= len(t.ends) {
		return "", false
	}
	start := 0
	if i > 0 {
		start = t.ends[i-1]
	}
	return string(t.text[start:t.ends[i]]), true
}

// loadSST reads the shared strings part (squeezed and bounded): the text of
// each <si>'s <t> elements, phonetic runs left out. zf may be nil.
func loadSST(zf *zip.File) (*sharedStrings, error) {
	t := &sharedStrings{}
	if zf == nil {
		return t, nil
	}
	rc, err := openPart(zf, MaxSheetUnpacked)
	if err != nil {
		return nil, err
	}
	defer rc.Close()
	d := newXMLDecoder(newSqueezer(rc))
	inSI, inT, inPh := false, false, false
	for {
		tok, err := d.RawToken()
		if err == io.EOF {
			return t, nil
		}
		if err != nil {
			return nil, err
		}
		switch el := tok.(type) {
		case xml.StartElement:
			switch el.Name.Local {
			case "si":
				inSI = true
			case "t":
				inT = true
			case "rPh":
				inPh = true
			}
		case xml.EndElement:
			switch el.Name.Local {
			case "si":
				t.ends = append(t.ends, len(t.text))
				inSI = false
			case "t":
				inT = false
			case "rPh":
				inPh = false
			}
		case xml.CharData:
			if inSI && inT && !inPh {
				if len(t.text)+len(el) > maxSSTText {
					return nil, errSSTTooBig
				}
				t.text = append(t.text, el...)
			}
		}
	}
}

// scanCell is one cell as stored.
type scanCell struct {
	found      bool   // the row has a cell in this column
	typ        string // the t attribute
	value      string // the <v> text (a shared string resolved), or the inline string's text
	formula    string // the <f> text, a shared formula translated to this cell
	fromMaster bool   // formula is a shared formula's master text, not translated
	style      int    // the s attribute
}

// numeric reports whether the cell holds a number.
func (c scanCell) numeric() bool {
	return c.found && (c.typ == "" || c.typ == "n") && c.value != ""
}

// scanRow is one <row> of a sheet.
type scanRow struct {
	num   int        // sheet row number, 1-based
	blank bool       // no cell with visible content (excelize would give only "" or spaces)
	cells []scanCell // columns 1..width
}

// sharedFormula is the master cell of a shared formula.
type sharedFormula struct {
	text     string
	col, row int
}

// sheetScanner streams a worksheet part row by row. It numbers rows and
// cells the way excelize does (the r attribute, else one more than the
// previous) so its rows line up with excelize's.
type sheetScanner struct {
	rc       io.ReadCloser
	dec      *xml.Decoder
	width    int // cells kept per row: columns 1..width
	sst      *sharedStrings
	shared   map[string]sharedFormula
	rowNum   int
	done     bool
	dimLast  int // the last row of the <dimension>, 0 if none seen
	buffered *scanRow
	vbuf     []byte
	ibuf     []byte
	fbuf     []byte
}

// newSheetScanner opens a sheet part for scanning, squeezed and bounded,
// and reads up to its first row (the <dimension> is read on the way).
func newSheetScanner(zf *zip.File, width int, sst *sharedStrings) (*sheetScanner, error) {
	rc, err := openPart(zf, MaxSheetUnpacked)
	if err != nil {
		return nil, err
	}
	s := &sheetScanner{rc: rc, dec: newXMLDecoder(newSqueezer(rc)), width: width, sst: sst, shared: map[string]sharedFormula{}}
	r, err := s.next()
	switch {
	case err == io.EOF:
	case err != nil:
		rc.Close()
		return nil, err
	default:
		s.buffered = &r
	}
	return s, nil
}

// Close releases the part.
func (s *sheetScanner) Close() error { return s.rc.Close() }

// dimension parses a <dimension ref="A1:C200001"> into its last row, or 0.
func dimension(ref string) int {
	first, last, ok := strings.Cut(ref, ":")
	if !ok {
		last = first
	}
	_, r1, err1 := excelize.CellNameToCoordinates(strings.ReplaceAll(first, "$", ""))
	_, r2, err2 := excelize.CellNameToCoordinates(strings.ReplaceAll(last, "$", ""))
	if err1 != nil || err2 != nil || r2 < r1 {
		return 0
	}
	return r2
}

// next returns the next <row>, blank or not, or io.EOF after the last one.
func (s *sheetScanner) next() (scanRow, error) {
	if s.buffered != nil {
		r := *s.buffered
		s.buffered = nil
		return r, nil
	}
	if s.done {
		return scanRow{}, io.EOF
	}
	for {
		tok, err := s.dec.RawToken()
		if err == io.EOF {
			s.done = true
			return scanRow{}, io.EOF
		}
		if err != nil {
			return scanRow{}, err
		}
		switch t := tok.(type) {
		case xml.StartElement:
			switch t.Name.Local {
			case "dimension":
				ref, _ := attr(t, "ref")
				s.dimLast = dimension(ref)
			case "row":
				return s.startRow(t)
			}
		case xml.EndElement:
			if t.Name.Local == "sheetData" {
				s.done = true
				return scanRow{}, io.EOF
			}
		}
	}
}

// startRow numbers a row whose start tag was just read and reads it.
func (s *sheetScanner) startRow(t xml.StartElement) (scanRow, error) {
	num := 0
	if r, ok := attr(t, "r"); ok {
		num, _ = strconv.Atoi(strings.TrimSpace(r))
	}
	if num <= 0 {
		num = s.rowNum + 1
	}
	if num > maxSheetRows {
		return scanRow{}, fmt.Errorf("row number %d is beyond the last row of a sheet", num)
	}
	s.rowNum = num
	return s.readRow(num)
}

// readRow reads the cells of a row whose start tag was just read.
func (s *sheetScanner) readRow(num int) (scanRow, error) {
	row := scanRow{num: num, blank: true, cells: make([]scanCell, s.width)}
	col := 0
	for {
		tok, err := s.dec.RawToken()
		if err == io.EOF {
			return row, io.ErrUnexpectedEOF
		}
		if err != nil {
			return row, err
		}
		switch t := tok.(type) {
		case xml.StartElement:
			if t.Name.Local != "c" {
				continue
			}
			col++
			c := scanCell{found: true}
			for _, a := range t.Attr {
				switch a.Name.Local {
				case "r":
					if n := columnOfRef(a.Value); n > 0 {
						col = n
					}
				case "t":
					c.typ = a.Value
				case "s":
					c.style, _ = strconv.Atoi(strings.TrimSpace(a.Value))
				}
			}
			if err := s.readCell(&c, col, num); err != nil {
				return row, err
			}
			if col <= s.width {
				row.cells[col-1] = c
			}
			if row.blank && !s.cellBlank(c) {
				row.blank = false
			}
		case xml.EndElement:
			if t.Name.Local == "row" {
				return row, nil
			}
		}
	}
}

// readCell reads a cell's content up to its end tag into c: the <v> text
// (a shared string resolved), or for an inline string the text of its <t>
// elements (not the phonetic runs), and the <f> formula.
func (s *sheetScanner) readCell(c *scanCell, col, row int) error {
	s.vbuf, s.ibuf, s.fbuf = s.vbuf[:0], s.ibuf[:0], s.fbuf[:0]
	inV, inT, inIS, inPh, inF := false, false, false, false, false
	sawIS, sawF := false, false
	var fType, fSI string
	for {
		tok, err := s.dec.RawToken()
		if err == io.EOF {
			return io.ErrUnexpectedEOF
		}
		if err != nil {
			return err
		}
		switch t := tok.(type) {
		case xml.StartElement:
			switch t.Name.Local {
			case "v":
				inV = true
			case "is":
				inIS, sawIS = true, true
			case "t":
				inT = true
			case "rPh":
				inPh = true
			case "f":
				inF, sawF = true, true
				fType, _ = attr(t, "t")
				fSI, _ = attr(t, "si")
			}
		case xml.EndElement:
			switch t.Name.Local {
			case "c":
				s.finishCell(c, sawIS, sawF, fType, fSI, col, row)
				return nil
			case "v":
				inV = false
			case "is":
				inIS = false
			case "t":
				inT = false
			case "rPh":
				inPh = false
			case "f":
				inF = false
			}
		case xml.CharData:
			switch {
			case inV:
				s.vbuf = append(s.vbuf, t...)
			case inIS && inT && !inPh:
				s.ibuf = append(s.ibuf, t...)
			case inF:
				s.fbuf = append(s.fbuf, t...)
			}
		}
	}
}

// finishCell sets a cell's value and formula once its end tag is read.
func (s *sheetScanner) finishCell(c *scanCell, sawIS, sawF bool, fType, fSI string, col, row int) {
	switch {
	case c.typ == "inlineStr" && sawIS:
		c.value = string(s.ibuf)
	case c.typ == "s":
		i, err := strconv.Atoi(strings.TrimSpace(string(s.vbuf)))
		if v, ok := s.sst.get(i); err == nil && ok {
			c.value = v
		} else {
			c.value = string(s.vbuf)
		}
	default:
		c.value = string(s.vbuf)
	}
	if !sawF {
		return
	}
	c.formula = string(s.fbuf)
	if fType != "shared" || fSI == "" {
		return
	}
	if c.formula != "" { // the master cell of a shared formula
		s.shared[fSI] = sharedFormula{text: c.formula, col: col, row: row}
		return
	}
	if m, ok := s.shared[fSI]; ok {
		c.formula, c.fromMaster = shiftFormula(m.text, col-m.col, row-m.row)
	}
}

// shiftFormula translates a shared formula's master text to a cell dCol
// columns and dRow rows away, as Excel does: relative references move,
// absolute ($) ones stay. fromMaster is set (and master returned) when a
// reference would leave the sheet.
func shiftFormula(master string, dCol, dRow int) (formula string, fromMaster bool) {
	if dCol == 0 && dRow == 0 {
		return master, false
	}
	ps := efp.ExcelParser()
	tokens := ps.Parse(master)
	for i, tk := range tokens {
		if tk.TType != efp.TokenTypeOperand || tk.TSubType != efp.TokenSubTypeRange {
			continue
		}
		v, ok := shiftRange(tk.TValue, dCol, dRow)
		if !ok {
			return master, true
		}
		tokens[i].TValue = v
	}
	return ps.Render(), false
}

// shiftRange moves the relative parts of a reference such as A1, $B2:C$3,
// Sheet1!A1 or 'My sheet'!A:A; ok is false when it would leave the sheet.
func shiftRange(ref string, dCol, dRow int) (string, bool) {
	prefix := ""
	if i := strings.LastIndex(ref, "!"); i >= 0 {
		prefix, ref = ref[:i+1], ref[i+1:]
	}
	parts := strings.Split(ref, ":")
	if len(parts) == 1 && !strings.ContainsAny(ref, "0123456789") {
		return prefix + ref, true // a defined name, not a reference
	}
	for j, part := range parts {
		v, ok := shiftRef(part, dCol, dRow)
		if !ok {
			return "", false
		}
		parts[j] = v
	}
	return prefix + strings.Join(parts, ":"), true
}

// shiftRef moves one cell, column or row reference; a name that is none of
// these is returned unchanged.
func shiftRef(ref string, dCol, dRow int) (string, bool) {
	absCol := strings.HasPrefix(ref, "$")
	body := strings.TrimPrefix(ref, "$")
	i := 0
	for i < len(body) && (body[i] >= 'A' && body[i] <= 'Z' || body[i] >= 'a' && body[i] <= 'z') {
		i++
	}
	letters, rest := body[:i], body[i:]
	absRow := strings.HasPrefix(rest, "$")
	digits := strings.TrimPrefix(rest, "$")
	col, colErr := excelize.ColumnNameToNumber(letters)
	row, rowErr := strconv.Atoi(digits)
	if (letters != "" && colErr != nil) || (digits != "" && rowErr != nil) || (letters == "" && digits == "") {
		return ref, true // a name, not a reference
	}
	if letters == "" { // a whole row: its $ was taken for a column's
		absRow, absCol = absCol, false
	}
	var b strings.Builder
	if letters != "" {
		if !absCol {
			col += dCol
		}
		name, err := excelize.ColumnNumberToName(col)
		if err != nil {
			return "", false
		}
		if absCol {
			b.WriteByte('$')
		}
		b.WriteString(name)
	}
	if digits != "" {
		if !absRow {
			row += dRow
		}
		if row < 1 || row > maxSheetRows {
			return "", false
		}
		if absRow {
			b.WriteByte('$')
		}
		b.WriteString(strconv.Itoa(row))
	}
	return b.String(), true
}

// cellBlank reports whether excelize would show the cell as empty or white
// space.
func (s *sheetScanner) cellBlank(c scanCell) bool {
	return isBlankString(c.value)
}
