package e2e

import (
	"bytes"
	"encoding/xml"
	"errors"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
)

// soffice converts files to format (fods, pdf) with LibreOffice in one
// headless run, with a private profile, and returns the converted files in
// the same order. It fails the test, naming the Debian package, when
// LibreOffice is missing.
func soffice(t *testing.T, format string, files ...string) []string {
	t.Helper()
	exe, err := exec.LookPath("soffice")
	if err != nil {
		t.Fatalf("LibreOffice is needed: apt-get install -y libreoffice-calc-nogui (%v)", err)
	}
	outDir, profile := t.TempDir(), t.TempDir()
	args := append([]string{"-env:UserInstallation=file://" + filepath.ToSlash(profile), "--headless", "--norestore",
		"--convert-to", format, "--outdir", outDir}, files...)
	cmd := exec.Command(exe, args...)
	cmd.Env = append(os.Environ(), "HOME="+profile)
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("soffice --convert-to %s: %v\n%s", format, err, out)
	}
	conv := make([]string, len(files))
	for i, f := range files {
		conv[i] = filepath.Join(outDir, strings.TrimSuffix(filepath.Base(f), filepath.Ext(f))+"."+format)
		if _, err := os.Stat(conv[i]); err != nil {
			t.Fatalf("soffice wrote no %s for %s: %v", format, f, err)
		}
	}
	return conv
}

// odsCell is one cell as LibreOffice read it: its value type (float, date,
// string, boolean...), its value (office:value, date-value...), its formula
// and its text.
type odsCell struct {
	typ, value, formula, text string
}

// odsTable is one sheet of a flat ODS file.
type odsTable struct {
	name string
	rows [][]odsCell
}

func (tb odsTable) cell(r, c int) odsCell {
	if r < len(tb.rows) && c < len(tb.rows[r]) {
		return tb.rows[r][c]
	}
	return odsCell{}
}

// readFODS returns the sheets of a flat ODS file in workbook order (cells
// repeated across columns expanded up to 64 columns; charts' own data
// tables left out).
func readFODS(t *testing.T, path string) []odsTable {
	t.Helper()
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	d := xml.NewDecoder(bytes.NewReader(data))
	var tables []odsTable
	var cell *odsCell
	inChart := 0
	for {
		tok, err := d.Token()
		if errors.Is(err, io.EOF) {
			return tables
		}
		if err != nil {
			t.Fatalf("read %s: %v", path, err)
		}
		switch e := tok.(type) {
		case xml.StartElement:
			if e.Name.Local == "chart" {
				inChart++ // a chart's own data table is not a sheet
			}
			if inChart > 0 {
				continue
			}
			switch e.Name.Local {
			case "table":
				tables = append(tables, odsTable{name: xmlAttr(e, "name")})
			case "table-row":
				if n := len(tables); n > 0 {
					tables[n-1].rows = append(tables[n-1].rows, nil)
				}
			case "table-cell", "covered-table-cell":
				if len(tables) == 0 || len(tables[len(tables)-1].rows) == 0 {
					continue
				}
				c := odsCell{typ: xmlAttr(e, "value-type"), formula: xmlAttr(e, "formula")}
				for _, k := range []string{"value", "date-value", "boolean-value", "string-value"} {
					if v := xmlAttr(e, k); v != "" {
						c.value = v
					}
				}
				rows := tables[len(tables)-1].rows
				n, _ := strconv.Atoi(xmlAttr(e, "number-columns-repeated"))
				last := &rows[len(rows)-1]
				for range min(max(n, 1), 64) {
					*last = append(*last, c)
				}
				cell = &(*last)[len(*last)-1]
			}
		case xml.CharData:
			if cell != nil {
				cell.text += strings.TrimSpace(string(e))
			}
		case xml.EndElement:
			if e.Name.Local == "chart" {
				inChart--
			}
			if e.Name.Local == "table-cell" || e.Name.Local == "covered-table-cell" {
				cell = nil
			}
		}
	}
}

func xmlAttr(e xml.StartElement, local string) string {
	for _, a := range e.Attr {
		if a.Name.Local == local {
			return a.Value
		}
	}
	return ""
}

// tableNames are the names of tables, in order.
func tableNames(tables []odsTable) []string {
	names := make([]string, len(tables))
	for i, tb := range tables {
		names[i] = tb.name
	}
	return names
}

// sheetNamed returns the sheet called name.
func sheetNamed(t *testing.T, tables []odsTable, name string) odsTable {
	t.Helper()
	for _, tb := range tables {
		if tb.name == name {
			return tb
		}
	}
	t.Fatalf("no sheet %q in LibreOffice; sheets %q", name, tableNames(tables))
	return odsTable{}
}

// pdfToPNG renders one page of a PDF to a PNG at dpi with pdftoppm and
// returns the PNG's path.
func pdfToPNG(t *testing.T, pdf, page string, dpi int) string {
	t.Helper()
	exe, err := exec.LookPath("pdftoppm")
	if err != nil {
		t.Fatalf("pdftoppm is needed: apt-get install -y poppler-utils (%v)", err)
	}
	base := filepath.Join(t.TempDir(), "page")
	if out, err := exec.Command(exe, "-png", "-r", strconv.Itoa(dpi), "-f", page, "-l", page, "-singlefile", pdf, base).CombinedOutput(); err != nil {
		t.Fatalf("pdftoppm: %v\n%s", err, out)
	}
	return base + ".png"
}
