package sinks

import (
	"archive/zip"
	"bytes"
	"encoding/xml"
	"errors"
	"fmt"
	"io"
	"path"
	"strconv"
	"strings"

	"github.com/xuri/excelize/v2"
)

// Limits of the card sheet scan.
const (
	// maxSkeleton caps the card sheet's XML outside its rows (views,
	// columns, merged cells, conditional formats...).
	maxSkeleton = 32 << 20
	// maxSmallPart caps the workbook and relationship parts read here.
	maxSmallPart = 16 << 20
	// scanRows is how many rows with content the scan describes: enough to
	// find the header row, which comes before the first data row.
	scanRows = 64
)

// sheetSkeleton is the input's card sheet without its rows.
type sheetSkeleton struct {
	sheet string    // its name
	part  string    // its zip entry, as excelize names it ("xl/worksheets/sheet1.xml")
	xml   []byte    // the sheet XML with an empty sheetData and no dimension
	rows  []rowInfo // the first rows with content, in order
}

// rowInfo describes one row of the input sheet.
type rowInfo struct {
	num    int         // 1-based sheet row
	height float64     // custom height, 0 if none
	styles map[int]int // 0-based column -> cell style index
}

// readSkeleton reads the card sheet (sheet, or the first one when "") of
// the workbook at file: its XML without the rows and its first rows with
// content. It streams the sheet, so its size does not matter.
func readSkeleton(file, sheet string) (*sheetSkeleton, error) {
	zr, err := zip.OpenReader(file)
	if err != nil {
		return nil, fmt.Errorf("open the input workbook %q: %w", file, err)
	}
	defer zr.Close()
	name, part, err := findSheet(&zr.Reader, sheet)
	if err != nil {
		return nil, fmt.Errorf("input workbook %q: %w", file, err)
	}
	zf := lookupZip(&zr.Reader, part)
	if zf == nil {
		return nil, fmt.Errorf("input workbook %q: sheet %q has no part %q", file, name, part)
	}
	sk := &sheetSkeleton{sheet: name, part: part}
	cuts, err := scanSheet(zf, sk)
	if err != nil {
		return nil, fmt.Errorf("input workbook %q, sheet %q: %w", file, name, err)
	}
	if sk.xml, err = cutSheet(zf, cuts); err != nil {
		return nil, fmt.Errorf("input workbook %q, sheet %q: %w", file, name, err)
	}
	return sk, nil
}

// span is a byte range [from, to) of a part.
type span struct{ from, to int64 }

// sheetCuts are the ranges of the sheet XML that the skeleton leaves out.
type sheetCuts struct {
	dimension span // zero when the sheet has none
	sheetData span
	tag       string // sheetData's qualified name as written
}

// scanSheet finds the dimension and sheetData elements of the sheet and
// records its first rows with content in sk.rows.
func scanSheet(zf *zip.File, sk *sheetSkeleton) (sheetCuts, error) {
	var cuts sheetCuts
	rc, err := zf.Open()
	if err != nil {
		return cuts, err
	}
	defer rc.Close()
	d := xml.NewDecoder(rc)
	depth := 0
	for {
		off := d.InputOffset()
		tok, err := d.RawToken()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return cuts, fmt.Errorf("damaged sheet XML: %w", err)
		}
		switch t := tok.(type) {
		case xml.StartElement:
			depth++
			if depth != 2 {
				continue
			}
			switch t.Name.Local {
			case "dimension":
				err = skipRaw(d)
				cuts.dimension = span{off, d.InputOffset()}
				depth--
			case "sheetData":
				cuts.tag = qualified(t.Name)
				err = scanRowsRaw(d, sk)
				cuts.sheetData = span{off, d.InputOffset()}
				depth--
			}
			if err != nil {
				return cuts, fmt.Errorf("damaged sheet XML: %w", err)
			}
		case xml.EndElement:
			depth--
		}
	}
	if cuts.tag == "" {
		return cuts, errors.New("the sheet has no sheetData element")
	}
	return cuts, nil
}

func qualified(n xml.Name) string {
	if n.Space == "" {
		return n.Local
	}
	return n.Space + ":" + n.Local
}

// skipRaw consumes tokens up to the end of the element just started.
func skipRaw(d *xml.Decoder) error {
	for depth := 1; depth > 0; {
		tok, err := d.RawToken()
		if err != nil {
			return err
		}
		switch tok.(type) {
		case xml.StartElement:
			depth++
		case xml.EndElement:
			depth--
		}
	}
	return nil
}

// scanRowsRaw reads sheetData's rows up to its end, describing the first
// scanRows rows with content.
func scanRowsRaw(d *xml.Decoder, sk *sheetSkeleton) error {
	prev := 0
	for {
		tok, err := d.RawToken()
		if err != nil {
			return err
		}
		switch t := tok.(type) {
		case xml.EndElement:
			return nil
		case xml.StartElement:
			if t.Name.Local != "row" || len(sk.rows) >= scanRows {
				if err := skipRaw(d); err != nil {
					return err
				}
				continue
			}
			ri, content, err := readRow(d, t, prev)
			if err != nil {
				return err
			}
			prev = ri.num
			if content {
				sk.rows = append(sk.rows, ri)
			}
		}
	}
}

// readRow reads one row element (its start already read) and reports
// whether any of its cells holds a value or a formula.
func readRow(d *xml.Decoder, start xml.StartElement, prev int) (rowInfo, bool, error) {
	ri := rowInfo{num: prev + 1, styles: map[int]int{}}
	custom := false
	for _, a := range start.Attr {
		switch a.Name.Local {
		case "r":
			if n, err := strconv.Atoi(a.Value); err == nil {
				ri.num = n
			}
		case "ht":
			ri.height, _ = strconv.ParseFloat(a.Value, 64)
		case "customHeight":
			custom = a.Value == "1" || a.Value == "true"
		}
	}
	if !custom {
		ri.height = 0
	}
	content, col, inValue := false, -1, false
	for depth := 1; depth > 0; {
		tok, err := d.RawToken()
		if err != nil {
			return ri, false, err
		}
		switch t := tok.(type) {
		case xml.StartElement:
			depth++
			switch t.Name.Local {
			case "c":
				col = cellAttrs(t, col, ri.styles)
			case "v", "t", "f":
				inValue = true
			}
		case xml.EndElement:
			depth--
			inValue = false
		case xml.CharData:
			if inValue && len(bytes.TrimSpace(t)) > 0 {
				content = true
			}
		}
	}
	return ri, content, nil
}

// cellAttrs records a c element's style and returns its 0-based column
// (the one after prev when it has no reference).
func cellAttrs(t xml.StartElement, prev int, styles map[int]int) int {
	col, style := prev+1, 0
	for _, a := range t.Attr {
		switch a.Name.Local {
		case "r":
			if c, _, err := excelize.CellNameToCoordinates(a.Value); err == nil {
				col = c - 1
			}
		case "s":
			style, _ = strconv.Atoi(a.Value)
		}
	}
	if style != 0 {
		styles[col] = style
	}
	return col
}

// cutSheet reads the sheet again and returns it without the cut ranges,
// sheetData replaced by an empty element.
func cutSheet(zf *zip.File, cuts sheetCuts) ([]byte, error) {
	rc, err := zf.Open()
	if err != nil {
		return nil, err
	}
	defer rc.Close()
	var out bytes.Buffer
	var pos int64
	keep := func(to int64) error {
		if out.Len()+int(to-pos) > maxSkeleton {
			return fmt.Errorf("the sheet's parts other than its rows exceed %d MiB; cardbatch does not read such a sheet", maxSkeleton>>20)
		}
		_, err := io.CopyN(&out, rc, to-pos)
		pos = to
		return err
	}
	skip := func(to int64) error {
		_, err := io.CopyN(io.Discard, rc, to-pos)
		pos = to
		return err
	}
	for _, c := range []span{cuts.dimension, cuts.sheetData} {
		if c.to == 0 {
			continue
		}
		if err := keep(c.from); err != nil {
			return nil, err
		}
		if err := skip(c.to); err != nil {
			return nil, err
		}
		if c == cuts.sheetData {
			out.WriteString("<" + cuts.tag + "/>")
		}
	}
	if _, err := io.Copy(&out, io.LimitReader(rc, int64(maxSkeleton-out.Len()+1))); err != nil {
		return nil, err
	}
	if out.Len() > maxSkeleton {
		return nil, fmt.Errorf("the sheet's parts other than its rows exceed %d MiB; cardbatch does not read such a sheet", maxSkeleton>>20)
	}
	return out.Bytes(), nil
}

// lookupZip finds a zip entry by name, ignoring case and a leading slash.
func lookupZip(zr *zip.Reader, name string) *zip.File {
	name = strings.TrimPrefix(name, "/")
	for _, f := range zr.File {
		if strings.EqualFold(strings.TrimPrefix(f.Name, "/"), name) {
			return f
		}
	}
	return nil
}

// findSheet returns the name and zip part of the sheet called sheet (the
// first one when ""), through the package's relationships.
func findSheet(zr *zip.Reader, sheet string) (name, part string, err error) {
	wbPart := "xl/workbook.xml"
	var root relationships
	if err := readXMLPart(zr, "_rels/.rels", &root); err == nil {
		for _, r := range root.Rels {
			if strings.HasSuffix(r.Type, "/officeDocument") {
				wbPart = strings.TrimPrefix(r.Target, "/")
			}
		}
	}
	var wb struct {
		Sheets []struct {
			Name string `xml:"name,attr"`
			RID  string `xml:"http://schemas.openxmlformats.org/officeDocument/2006/relationships id,attr"`
		} `xml:"sheets>sheet"`
	}
	if err := readXMLPart(zr, wbPart, &wb); err != nil {
		return "", "", err
	}
	var rels relationships
	dir, base := path.Split(wbPart)
	if err := readXMLPart(zr, dir+"_rels/"+base+".rels", &rels); err != nil {
		return "", "", err
	}
	for _, s := range wb.Sheets {
		if sheet != "" && s.Name != sheet {
			continue
		}
		for _, r := range rels.Rels {
			if r.ID == s.RID {
				return s.Name, resolveTarget(dir, r.Target), nil
			}
		}
		return "", "", fmt.Errorf("sheet %q has no part", s.Name)
	}
	return "", "", fmt.Errorf("no sheet named %q", sheet)
}

type relationships struct {
	Rels []struct {
		ID     string `xml:"Id,attr"`
		Type   string `xml:"Type,attr"`
		Target string `xml:"Target,attr"`
	} `xml:"Relationship"`
}

// resolveTarget resolves a relationship target against the folder of the
// part that holds it.
func resolveTarget(dir, target string) string {
	if strings.HasPrefix(target, "/") {
		return strings.TrimPrefix(target, "/")
	}
	return path.Clean(dir + target)
}

// readXMLPart decodes a small zip part into v.
func readXMLPart(zr *zip.Reader, name string, v any) error {
	zf := lookupZip(zr, name)
	if zf == nil {
		return fmt.Errorf("the workbook has no part %q", name)
	}
	rc, err := zf.Open()
	if err != nil {
		return err
	}
	defer rc.Close()
	if err := xml.NewDecoder(io.LimitReader(rc, maxSmallPart)).Decode(v); err != nil {
		return fmt.Errorf("read part %q: %w", name, err)
	}
	return nil
}
