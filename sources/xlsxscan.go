package sources

import (
	"archive/zip"
	"bufio"
	"encoding/xml"
	"errors"
	"io"
	"path"
	"strconv"
	"strings"

	"golang.org/x/text/encoding/htmlindex"
)

// This file reads the parts of an XLSX package directly with archive/zip and
// encoding/xml: the list of sheets, and a streaming scan of one sheet that
// excelize's row iterator cannot give: each cell's type and raw value. Only
// the card column's cell is kept, one row at a time.

// maxSheetRows is the largest row number a worksheet may have.
const maxSheetRows = 1048576

// sheetInfo is one sheet of a workbook, in workbook order.
type sheetInfo struct {
	name   string
	part   string // zip entry of its XML, e.g. "xl/worksheets/sheet1.xml"
	hidden bool   // state="hidden" or "veryHidden"
}

// workbookInfo is what readWorkbook learns from the package.
type workbookInfo struct {
	sheets []sheetInfo
	part   string         // zip entry of the workbook, e.g. "xl/workbook.xml"
	rels   map[string]rel // the workbook's relationships
	sst    string         // zip entry of the shared strings, "" if none
	files  map[string]*zip.File
}

// errNotWorkbook is returned by readWorkbook for a ZIP archive with no
// workbook in it.
var errNotWorkbook = errors.New("no workbook part in the archive")

// newXMLDecoder returns a decoder that accepts the encodings XML parts
// declare.
func newXMLDecoder(r io.Reader) *xml.Decoder {
	d := xml.NewDecoder(bufio.NewReaderSize(r, 64<<10))
	d.CharsetReader = func(label string, input io.Reader) (io.Reader, error) {
		e, err := htmlindex.Get(label)
		if err != nil {
			return nil, err
		}
		return e.NewDecoder().Reader(input), nil
	}
	return d
}

// attr returns the value of the attribute with the given local name.
func attr(se xml.StartElement, local string) (string, bool) {
	for _, a := range se.Attr {
		if a.Name.Local == local {
			return a.Value, true
		}
	}
	return "", false
}

// rels reads a relationships part: Id -> (Type, Target resolved against
// base, the folder of the part they belong to).
type rel struct{ typ, target string }

func readRels(files map[string]*zip.File, name, base string) (map[string]rel, error) {
	out := map[string]rel{}
	zf := lookup(files, name)
	if zf == nil {
		return out, nil
	}
	rc, err := openPart(zf, maxOtherPart)
	if err != nil {
		return nil, err
	}
	defer rc.Close()
	d := newXMLDecoder(rc)
	for {
		tok, err := d.RawToken()
		if err == io.EOF {
			return out, nil
		}
		if err != nil {
			return nil, err
		}
		se, ok := tok.(xml.StartElement)
		if !ok || se.Name.Local != "Relationship" {
			continue
		}
		id, _ := attr(se, "Id")
		typ, _ := attr(se, "Type")
		target, _ := attr(se, "Target")
		if mode, _ := attr(se, "TargetMode"); mode == "External" {
			continue
		}
		out[id] = rel{typ: typ, target: resolvePart(base, target)}
	}
}

// resolvePart resolves a relationship target against the folder of its
// source part; a leading "/" is the package root.
func resolvePart(base, target string) string {
	target = strings.ReplaceAll(target, "\\", "/")
	if strings.HasPrefix(target, "/") {
		return strings.TrimPrefix(path.Clean(target), "/")
	}
	return strings.TrimPrefix(path.Clean(path.Join("/", base, target)), "/")
}

// lookup finds a zip entry by name, ignoring case as Excel does.
func lookup(files map[string]*zip.File, name string) *zip.File {
	if f, ok := files[name]; ok {
		return f
	}
	return files[strings.ToLower(name)]
}

// readWorkbook lists the sheets of an XLSX package in workbook order, with
// their parts, and finds the shared strings part.
func readWorkbook(zr *zip.Reader) (workbookInfo, error) {
	files := make(map[string]*zip.File, len(zr.File))
	for _, f := range zr.File {
		name := strings.TrimPrefix(f.Name, "/")
		files[name] = f
		if _, ok := files[strings.ToLower(name)]; !ok {
			files[strings.ToLower(name)] = f
		}
	}
	info := workbookInfo{files: files}

	wbPart := "xl/workbook.xml"
	root, err := readRels(files, "_rels/.rels", "")
	if err != nil {
		return info, err
	}
	for _, r := range root {
		if strings.HasSuffix(r.typ, "/officeDocument") {
			wbPart = r.target
		}
	}
	wb := lookup(files, wbPart)
	if wb == nil {
		return info, errNotWorkbook
	}
	dir, base := path.Split(wbPart)
	rels, err := readRels(files, dir+"_rels/"+base+".rels", dir)
	if err != nil {
		return info, err
	}
	info.part, info.rels = wbPart, rels
	for _, r := range rels {
		if strings.HasSuffix(r.typ, "/sharedStrings") {
			info.sst = r.target
		}
	}
	if info.sst == "" && lookup(files, "xl/sharedStrings.xml") != nil {
		info.sst = "xl/sharedStrings.xml"
	}

	rc, err := openPart(wb, maxOtherPart)
	if err != nil {
		return info, err
	}
	defer rc.Close()
	d := newXMLDecoder(rc)
	for {
		tok, err := d.RawToken()
		if err == io.EOF {
			break
		}
		if err != nil {
			return info, err
		}
		se, ok := tok.(xml.StartElement)
		if !ok || se.Name.Local != "sheet" {
			continue
		}
		s := sheetInfo{}
		s.name, _ = attr(se, "name")
		state, _ := attr(se, "state")
		s.hidden = state == "hidden" || state == "veryHidden"
		for _, a := range se.Attr {
			if a.Name.Local == "id" && a.Name.Space != "" {
				s.part = rels[a.Value].target
			}
		}
		if s.part == "" {
			if sid, ok := attr(se, "sheetId"); ok {
				s.part = dir + "worksheets/sheet" + sid + ".xml"
			}
		}
		info.sheets = append(info.sheets, s)
	}
	return info, nil
}

// columnOfRef returns the 1-based column of a cell reference like "C7" or
// "$AB$12", or 0 if it has none.
func columnOfRef(ref string) int {
	col := 0
	for i := 0; i < len(ref); i++ {
		c := ref[i]
		switch {
		case c == '$' && i == 0:
		case c >= 'A' && c <= 'Z':
			col = col*26 + int(c-'A'+1)
		case c >= 'a' && c <= 'z':
			col = col*26 + int(c-'a'+1)
		default:
			return col
		}
		if col > 16384 {
			return 0
		}
	}
	return col
}

// numericCard reads the raw <v> of a numeric cell. digits is the exact
// integer, without sign or leading zeros, when the value is a non-negative
// integer that a spreadsheet holds exactly; unsafe is set when the value has
// more than 15 significant digits or more than 15 digits before the decimal
// point (a card number in such a cell has lost its last digits). ok is false
// when v is not a number.
func numericCard(v string) (digits string, unsafe, ok bool) {
	s := strings.TrimSpace(v)
	neg := false
	if s != "" && (s[0] == '-' || s[0] == '+') {
		neg = s[0] == '-'
		s = s[1:]
	}
	exp := 0
	if i := strings.IndexAny(s, "eE"); i >= 0 {
		e, err := strconv.Atoi(strings.TrimPrefix(s[i+1:], "+"))
		if err != nil || e > 400 || e < -400 {
			return "", false, false
		}
		exp, s = e, s[:i]
	}
	intPart, frac, _ := strings.Cut(s, ".")
	if intPart == "" && frac == "" {
		return "", false, false
	}
	for _, part := range []string{intPart, frac} {
		for i := 0; i < len(part); i++ {
			if part[i] < '0' || part[i] > '9' {
				return "", false, false
			}
		}
	}
	d := strings.TrimLeft(intPart+frac, "0")
	k := exp - len(frac) // value = d × 10^k
	if d == "" {
		return "0", false, true
	}
	for len(d) > 1 && d[len(d)-1] == '0' {
		d = d[:len(d)-1]
		k++
	}
	sig := len(d)
	unsafe = sig > 15 || sig+k > 15
	if neg || k < 0 || unsafe {
		return "", unsafe, true
	}
	return d + strings.Repeat("0", k), false, true
}
