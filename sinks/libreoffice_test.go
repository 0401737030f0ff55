package sinks

import (
	"bytes"
	"encoding/xml"
	"errors"
	"io"
	"math"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
)

// soffice converts path to format (fods, pdf) in a temporary folder with a
// private LibreOffice profile and returns the converted file. It fails the
// test, naming the Debian package, when LibreOffice is missing.
func soffice(t *testing.T, path, format string) string {
	t.Helper()
	bin, err := exec.LookPath("soffice")
	if err != nil {
		t.Fatalf("LibreOffice is needed: apt-get install -y libreoffice-calc-nogui poppler-utils (%v)", err)
	}
	outDir, profile := t.TempDir(), t.TempDir()
	cmd := exec.Command(bin, "-env:UserInstallation=file://"+filepath.ToSlash(profile), "--headless", "--norestore",
		"--convert-to", format, "--outdir", outDir, path)
	cmd.Env = append(os.Environ(), "HOME="+profile)
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("soffice --convert-to %s %s: %v\n%s", format, path, err, out)
	}
	conv := filepath.Join(outDir, strings.TrimSuffix(filepath.Base(path), filepath.Ext(path))+"."+format)
	if _, err := os.Stat(conv); err != nil {
		t.Fatalf("soffice wrote no %s: %v", format, err)
	}
	return conv
}

// odsCell is one cell of a flat ODS table as LibreOffice read it.
type odsCell struct {
	typ, value, formula, text string
}

// readFODS returns the tables of a flat ODS file: name -> rows -> cells
// (repeated cells expanded up to 64 columns, empty rows kept).
func readFODS(t *testing.T, path string) map[string][][]odsCell {
	t.Helper()
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	d := xml.NewDecoder(bytes.NewReader(data))
	tables := map[string][][]odsCell{}
	var table string
	var cell *odsCell
	for {
		tok, err := d.Token()
		if errors.Is(err, io.EOF) {
			return tables
		}
		if err != nil {
			t.Fatal(err)
		}
		switch e := tok.(type) {
		case xml.StartElement:
			switch e.Name.Local {
			case "table":
				table = attr(e, "name")
			case "table-row":
				if table != "" {
					tables[table] = append(tables[table], nil)
				}
			case "table-cell", "covered-table-cell":
				c := odsCell{typ: attr(e, "value-type"), formula: attr(e, "formula")}
				for _, k := range []string{"value", "date-value", "boolean-value", "string-value"} {
					if v := attr(e, k); v != "" {
						c.value = v
					}
				}
				n, _ := strconv.Atoi(attr(e, "number-columns-repeated"))
				rows := tables[table]
				for range min(max(n, 1), 64) {
					rows[len(rows)-1] = append(rows[len(rows)-1], c)
				}
				cell = &rows[len(rows)-1][len(rows[len(rows)-1])-1]
			}
		case xml.CharData:
			if cell != nil {
				cell.text += strings.TrimSpace(string(e))
			}
		case xml.EndElement:
			if e.Name.Local == "table-cell" {
				cell = nil
			}
		}
	}
}

func attr(e xml.StartElement, local string) string {
	for _, a := range e.Attr {
		if a.Name.Local == local {
			return a.Value
		}
	}
	return ""
}

// TestLibreOfficeReadsKeptWorkbook opens the output of the two-sheet
// workbook with LibreOffice Calc and checks what an analyst would see.
func TestLibreOfficeReadsKeptWorkbook(t *testing.T) {
	dir := t.TempDir()
	w := makeTwoSheets(t, dir)
	out := filepath.Join(dir, "out.xlsx")
	writeKept(t, w, out, "zh")
	tables := readFODS(t, soffice(t, out, "fods"))
	sheet := tables["客户"]
	if len(sheet) < 4 {
		t.Fatalf("sheet 客户 has %d rows in LibreOffice, want 4; tables: %d", len(sheet), len(tables))
	}
	get := func(row, col int) odsCell {
		if row < len(sheet) && col < len(sheet[row]) {
			return sheet[row][col]
		}
		return odsCell{}
	}
	// Every original cell reads back in LibreOffice as it reads the input.
	orig := readFODS(t, soffice(t, w.path, "fods"))["客户"]
	for r := range 4 {
		for c := range len(w.header) {
			if got, want := get(r, c), cellAt(orig, r, c); got != want {
				t.Errorf("row %d col %d = %+v, the input reads %+v", r+1, c+1, got, want)
			}
		}
	}
	sum := 0.0
	for r := 1; r <= 3; r++ {
		want := []struct {
			col     int
			typ     string
			formula bool
		}{{1, "date", false}, {2, "float", false}, {3, "float", true}, {4, "string", false},
			{8, "string", false}, {9, "float", false}, {14, "date", false}}
		for _, c := range want {
			if (r == 3 && c.col >= 8) || (r == 2 && (c.col == 8 || c.col == 9)) {
				continue // no answer, or no account_type in the answer
			}
			got := get(r, c.col)
			if got.typ != c.typ || (got.formula != "") != c.formula {
				t.Errorf("row %d col %d: type %q formula %q, want %q formula %v", r+1, c.col+1, got.typ, got.formula, c.typ, c.formula)
			}
		}
		v, _ := strconv.ParseFloat(get(r, 2).value, 64)
		sum += v
	}
	if math.Abs(sum-w.amountSum) > 1e-9 {
		t.Errorf("SUM of 金额 = %v in LibreOffice, want the input's %v", sum, w.amountSum)
	}
	checks := []struct {
		row, col  int
		value     string
		viaString bool
	}{
		{0, 6, "结果码", true}, {0, 14, "查询时间", true},
		{1, 1, "2023-03-15", false}, {1, 3, "2000", false}, {1, 4, "6228481698729890079", true},
		{1, 8, "中国农业银行", true}, {1, 9, "1", false}, {1, 10, "借记卡", true},
		{1, 14, "2026-03-01T09:30:15", false}, {2, 2, "1967.3", false}, {2, 6, "-3", true},
	}
	for _, c := range checks {
		got := get(c.row, c.col)
		v := got.value
		if c.viaString {
			v = got.text
		}
		if !strings.HasPrefix(v, c.value) {
			t.Errorf("row %d col %d = %q (%+v), want %q", c.row+1, c.col+1, v, got, c.value)
		}
	}
	notes := tables["说明"]
	if len(notes) < 2 || len(notes[0]) < 2 || notes[0][1].text != "本表来自客户部" || notes[1][1].text != "2" {
		t.Errorf("sheet 说明 in LibreOffice = %+v", notes)
	}
	if _, ok := tables["汇总"]; !ok {
		t.Errorf("no 汇总 sheet; tables %d", len(tables))
	}
}

func cellAt(rows [][]odsCell, r, c int) odsCell {
	if r < len(rows) && c < len(rows[r]) {
		return rows[r][c]
	}
	return odsCell{}
}

// TestRenderSummaryPNG renders the Summary sheet of an output to PNG through
// PDF and pdftoppm; with CARDBATCH_SUMMARY_PNG set, the picture is copied
// there.
func TestRenderSummaryPNG(t *testing.T) {
	dir := t.TempDir()
	w := makeTwoSheets(t, dir)
	out := filepath.Join(dir, "out.xlsx")
	writeKept(t, w, out, "en")
	png := renderLastPage(t, soffice(t, out, "pdf"))
	info, err := os.Stat(png)
	if err != nil || info.Size() < 10_000 {
		t.Fatalf("rendered PNG %s: %v (size %v), want a picture", png, err, info)
	}
	if dst := os.Getenv("CARDBATCH_SUMMARY_PNG"); dst != "" {
		data, _ := os.ReadFile(png)
		if err := os.WriteFile(dst, data, 0o644); err != nil {
			t.Fatal(err)
		}
	}
}

// renderLastPage renders the last page of pdf (the Summary sheet comes
// last) to a PNG at 110 dpi and returns its path.
func renderLastPage(t *testing.T, pdf string) string {
	t.Helper()
	bin, err := exec.LookPath("pdftoppm")
	if err != nil {
		t.Fatalf("pdftoppm is needed: apt-get install -y poppler-utils (%v)", err)
	}
	info, err := exec.Command("pdfinfo", pdf).Output()
	if err != nil {
		t.Fatalf("pdfinfo: %v", err)
	}
	pages := "1"
	for _, l := range strings.Split(string(info), "\n") {
		if f := strings.Fields(l); len(f) == 2 && f[0] == "Pages:" {
			pages = f[1]
		}
	}
	base := filepath.Join(t.TempDir(), "summary")
	if out, err := exec.Command(bin, "-png", "-r", "110", "-f", pages, "-l", pages, "-singlefile", pdf, base).CombinedOutput(); err != nil {
		t.Fatalf("pdftoppm: %v\n%s", err, out)
	}
	return base + ".png"
}
