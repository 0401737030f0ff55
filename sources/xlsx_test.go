package sources

import (
	"archive/zip"
	"bytes"
	"context"
	"fmt"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/xuri/excelize/v2"
)

// makeXLSX builds a workbook with excelize and saves it in a temporary
// folder.
func makeXLSX(t testing.TB, name string, build func(f *excelize.File)) string {
	t.Helper()
	f := excelize.NewFile()
	defer f.Close()
	build(f)
	p := filepath.Join(t.TempDir(), name)
	if err := f.SaveAs(p); err != nil {
		t.Fatal(err)
	}
	return p
}

// must fails the test on an error.
func must(t testing.TB, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}

// rawSheet is a hand-written worksheet for rawXLSX.
type rawSheet struct {
	name  string
	state string // "", "hidden", "veryHidden"
	data  string // the content of <sheetData>
}

// rawXLSX writes a minimal XLSX package by hand, to control exactly how
// cells are stored (inline strings, cells without references, row gaps...).
func rawXLSX(t testing.TB, sheets []rawSheet, sst []string) string {
	t.Helper()
	var buf bytes.Buffer
	zw := zip.NewWriter(&buf)
	add := func(name, body string) {
		w, err := zw.Create(name)
		must(t, err)
		_, err = w.Write([]byte(body))
		must(t, err)
	}
	ct := `<?xml version="1.0" encoding="UTF-8" standalone="yes"?>
<Types xmlns="http://schemas.openxmlformats.org/package/2006/content-types"><Default Extension="rels" ContentType="application/vnd.openxmlformats-package.relationships+xml"/><Default Extension="xml" ContentType="application/xml"/><Override PartName="/xl/workbook.xml" ContentType="application/vnd.openxmlformats-officedocument.spreadsheetml.sheet.main+xml"/>`
	for i := range sheets {
		ct += fmt.Sprintf(`<Override PartName="/xl/worksheets/sheet%d.xml" ContentType="application/vnd.openxmlformats-officedocument.spreadsheetml.worksheet+xml"/>`, i+1)
	}
	if sst != nil {
		ct += `<Override PartName="/xl/sharedStrings.xml" ContentType="application/vnd.openxmlformats-officedocument.spreadsheetml.sharedStrings+xml"/>`
	}
	add("[Content_Types].xml", ct+`</Types>`)
	add("_rels/.rels", `<?xml version="1.0" encoding="UTF-8" standalone="yes"?>
<Relationships xmlns="http://schemas.openxmlformats.org/package/2006/relationships"><Relationship Id="rId1" Type="http://schemas.openxmlformats.org/officeDocument/2006/relationships/officeDocument" Target="xl/workbook.xml"/></Relationships>`)
	wb := `<?xml version="1.0" encoding="UTF-8" standalone="yes"?>
<workbook xmlns="http://schemas.openxmlformats.org/spreadsheetml/2006/main" xmlns:r="http://schemas.openxmlformats.org/officeDocument/2006/relationships"><sheets>`
	rels := `<?xml version="1.0" encoding="UTF-8" standalone="yes"?>
<Relationships xmlns="http://schemas.openxmlformats.org/package/2006/relationships">`
	for i, s := range sheets {
		state := ""
		if s.state != "" {
			state = fmt.Sprintf(` state="%s"`, s.state)
		}
		wb += fmt.Sprintf(`<sheet name="%s" sheetId="%d"%s r:id="rId%d"/>`, s.name, i+1, state, i+1)
		rels += fmt.Sprintf(`<Relationship Id="rId%d" Type="http://schemas.openxmlformats.org/officeDocument/2006/relationships/worksheet" Target="worksheets/sheet%d.xml"/>`, i+1, i+1)
		add(fmt.Sprintf("xl/worksheets/sheet%d.xml", i+1), `<?xml version="1.0" encoding="UTF-8" standalone="yes"?>
<worksheet xmlns="http://schemas.openxmlformats.org/spreadsheetml/2006/main"><sheetData>`+s.data+`</sheetData></worksheet>`)
	}
	if sst != nil {
		rels += fmt.Sprintf(`<Relationship Id="rId%d" Type="http://schemas.openxmlformats.org/officeDocument/2006/relationships/sharedStrings" Target="sharedStrings.xml"/>`, len(sheets)+1)
		body := fmt.Sprintf(`<?xml version="1.0" encoding="UTF-8" standalone="yes"?>
<sst xmlns="http://schemas.openxmlformats.org/spreadsheetml/2006/main" count="%d" uniqueCount="%d">`, len(sst), len(sst))
		for _, s := range sst {
			if strings.HasPrefix(s, "<") {
				body += "<si>" + s + "</si>" // rich text, given as XML
			} else {
				body += `<si><t xml:space="preserve">` + s + `</t></si>`
			}
		}
		add("xl/sharedStrings.xml", body+`</sst>`)
	}
	add("xl/workbook.xml", wb+`</sheets></workbook>`)
	add("xl/_rels/workbook.xml.rels", rels+`</Relationships>`)
	must(t, zw.Close())
	p := filepath.Join(t.TempDir(), "raw.xlsx")
	must(t, os.WriteFile(p, buf.Bytes(), 0o644))
	return p
}

func TestXLSXCells(t *testing.T) {
	path := makeXLSX(t, "cells.xlsx", func(f *excelize.File) {
		s := "Sheet1"
		must(t, f.SetSheetRow(s, "A1", &[]any{"Name", "Card No", "Opened"}))
		date, err := f.NewStyle(&excelize.Style{NumFmt: 14})
		must(t, err)
		thousands, err := f.NewStyle(&excelize.Style{NumFmt: 3})
		must(t, err)
		rows := []struct {
			name string
			card any
		}{
			{"text", cardC},                             // row 2: a text cell
			{"numeric 16 int", 6228369290810040},        // row 3: a numeric cell as Excel keeps it
			{"numeric 16 float", 6.2283692908100403e15}, // row 4
			{"numeric 19", int64(6227009328792181231)},  // row 5
			{"numeric 12", 622836929084},                // row 6: exact in a numeric cell
			{"numeric 12 with #,##0", 622836929084},     // row 7
			{"numeric 12 as float", 622836929084.0},     // row 8
		}
		for i, r := range rows {
			row := i + 2
			must(t, f.SetCellValue(s, fmt.Sprintf("A%d", row), r.name))
			must(t, f.SetCellValue(s, fmt.Sprintf("B%d", row), r.card))
			must(t, f.SetCellValue(s, fmt.Sprintf("C%d", row), time.Date(2024, 3, 5, 0, 0, 0, 0, time.UTC)))
			must(t, f.SetCellStyle(s, fmt.Sprintf("C%d", row), fmt.Sprintf("C%d", row), date))
		}
		must(t, f.SetCellStyle(s, "B7", "B7", thousands))
	})
	in := openT(t, Options{Path: path})
	if in.Format() != "xlsx" || !in.HasHeader() || in.CardColumn() != 1 || !reflect.DeepEqual(in.Header(), []string{"Name", "Card No", "Opened"}) {
		t.Fatalf("Format %q HasHeader %v CardColumn %d Header %q", in.Format(), in.HasHeader(), in.CardColumn(), in.Header())
	}
	rows := readAll(t, in)
	want := []struct {
		card   string
		unsafe bool
		shown  string
	}{
		{cardC, false, cardC},
		{"6228369290810040", true, "6228369290810040"},
		{"6228369290810040", true, "6228369290810040"},
		{"6227009328792181231", true, "6.22700932879218E+18"},
		{"622836929084", false, "622836929084"},
		{"622836929084", false, "622,836,929,084"},
		{"622836929084", false, "622836929084"},
	}
	if len(rows) != len(want) {
		t.Fatalf("read %d rows, want %d", len(rows), len(want))
	}
	for i, w := range want {
		r := rows[i]
		if r.Card != w.card || r.CardNumericUnsafe != w.unsafe || r.Fields[1] != w.shown || r.Line != i+2 {
			t.Errorf("row %d (%s): Card %q unsafe %v shown %q line %d; want %q %v %q %d",
				i, r.Fields[0], r.Card, r.CardNumericUnsafe, r.Fields[1], r.Line, w.card, w.unsafe, w.shown, i+2)
		}
		if r.Fields[2] != "03-05-24" {
			t.Errorf("row %d: date shown as %q, want the formatted date 03-05-24", i, r.Fields[2])
		}
	}
}

func TestXLSXRawCells(t *testing.T) {
	sst := []string{"Name", "卡号", cardA, "", "  ", `<r><t>6228 4804 </t></r><r><rPr><b/></rPr><t>0256 4890 018</t></r><rPh sb="0" eb="1"><t>ignored</t></rPh>`}
	data := `` +
		// rows 1-2: blank (an empty shared string, spaces) before the header
		`<row r="1"><c r="A1" t="s"><v>3</v></c><c r="B1" t="s"><v>4</v></c></row>` +
		`<row r="2"><c r="B2" t="inlineStr"><is><t xml:space="preserve">   </t></is></c><c r="C2"><f>A1&amp;""</f></c></row>` +
		// row 3: the header, shared strings
		`<row r="3"><c r="A3" t="s"><v>0</v></c><c r="B3" t="s"><v>1</v></c><c r="C3" t="inlineStr"><is><t>Note</t></is></c></row>` +
		// row 4: shared string card
		`<row r="4"><c r="A4" t="inlineStr"><is><t>shared</t></is></c><c r="B4" t="s"><v>2</v></c></row>` +
		// row 7 (gap): inline string card, rich text note
		`<row r="7"><c r="A7" t="inlineStr"><is><t>inline</t></is></c><c r="B7" t="inlineStr"><is><t>` + cardB + `</t></is></c><c r="C7" t="inlineStr"><is><r><t>rich </t></r><r><t>text</t></r></is></c></row>` +
		// row 8: rich shared string card
		`<row r="8"><c r="A8" t="inlineStr"><is><t>rich</t></is></c><c r="B8" t="s"><v>5</v></c></row>` +
		// rows 9, 10 without r, cells without r: positional
		`<row><c t="inlineStr"><is><t>positional</t></is></c><c><v>622836929084</v></c><c t="inlineStr"><is><t>x</t></is></c></row>` +
		`<row><c t="inlineStr"><is><t>formula str</t></is></c><c t="str"><f>TEXT(1,"0")</f><v>` + cardC + `</v></c></row>` +
		// row 11: formula with a cached number
		`<row r="11"><c r="A11" t="inlineStr"><is><t>formula num</t></is></c><c r="B11"><f>B9*1</f><v>622836929084</v></c></row>` +
		// row 12: numbers in scientific notation
		`<row r="12"><c r="A12" t="inlineStr"><is><t>sci exact</t></is></c><c r="B12" t="n"><v>6.22836929084E+11</v></c></row>` +
		`<row r="13"><c r="A13" t="inlineStr"><is><t>sci rounded</t></is></c><c r="B13"><v>6.2227009328792181E+18</v></c></row>` +
		// row 14: an empty row element, row 15 blank cells only
		`<row r="14"/>` +
		`<row r="15"><c r="A15" s="1"/><c r="B15" t="s"><v>3</v></c></row>` +
		// row 16: short row, card cell missing
		`<row r="16"><c r="A16" t="inlineStr"><is><t>no card</t></is></c></row>` +
		// row 17: boolean and error cells
		`<row r="17"><c r="A17" t="b"><v>1</v></c><c r="B17" t="e"><v>#N/A</v></c></row>`
	path := rawXLSX(t, []rawSheet{{name: "Data", data: data}}, sst)
	e := expect{
		format: "xlsx", header: []string{"Name", "卡号", "Note"}, hasHeader: true, cardCol: 1,
		fields: [][]string{
			{"shared", cardA, ""},
			{"inline", cardB, "rich text"},
			{"rich", "6228 4804 0256 4890 018", ""},
			{"positional", "622836929084", "x"},
			{"formula str", cardC, ""},
			{"formula num", "622836929084", ""},
			{"sci exact", "622836929084", ""},
			{"sci rounded", "6.22270093287922E+18", ""},
			{"no card", "", ""},
			{"TRUE", "#N/A", ""},
		},
		lines: []int{4, 7, 8, 9, 10, 11, 12, 13, 16, 17},
		cards: []string{cardA, cardB, "6228 4804 0256 4890 018", "622836929084", cardC, "622836929084", "622836929084", "6.2227009328792181E+18", "", "#N/A"},
	}
	rows := e.check(t, Options{Path: path})
	for _, r := range rows {
		if r.CardNumericUnsafe != (r.Fields[0] == "sci rounded") {
			t.Errorf("line %d (%s): CardNumericUnsafe = %v", r.Line, r.Fields[0], r.CardNumericUnsafe)
		}
	}
}

func TestXLSXSheets(t *testing.T) {
	sheet := func(title, card string) string {
		return `<row r="1"><c r="A1" t="inlineStr"><is><t>` + title + `</t></is></c><c r="B1" t="inlineStr"><is><t>card</t></is></c></row>` +
			`<row r="2"><c r="A2" t="inlineStr"><is><t>x</t></is></c><c r="B2" t="inlineStr"><is><t>` + card + `</t></is></c></row>`
	}
	path := rawXLSX(t, []rawSheet{
		{name: "Hidden", state: "hidden", data: sheet("hidden", cardA)},
		{name: "Cards", data: sheet("cards", cardB)},
		{name: "Empty", data: ``},
		{name: "Header only", data: `<row r="3"><c r="A3" t="inlineStr"><is><t>card</t></is></c></row>`},
	}, nil)
	tests := []struct {
		sheet string
		first string
		card  string
		notes []string
	}{
		{"", "hidden", cardA, []string{`the workbook has 4 sheets: reading the first, "Hidden"`, `sheet "Hidden" is hidden`}},
		{"Cards", "cards", cardB, nil},
		{" cards ", "cards", cardB, nil},
		{"Hidden", "hidden", cardA, []string{`sheet "Hidden" is hidden`}},
	}
	for _, tt := range tests {
		t.Run("sheet "+tt.sheet, func(t *testing.T) {
			expect{format: "xlsx", header: []string{tt.first, "card"}, hasHeader: true, cardCol: 1,
				fields: [][]string{{"x", tt.card}}, notes: tt.notes}.check(t, Options{Path: path, Sheet: tt.sheet})
		})
	}
	errTests := []struct{ sheet, want string }{
		{"Nope", `has no sheet named "Nope": pass --sheet with one of its sheets: "Hidden", "Cards", "Empty", "Header only"`},
		{"Empty", `is empty (sheet "Empty" has no data)`},
		{"Header only", `has a header but no data rows (sheet "Header only")`},
	}
	for _, tt := range errTests {
		t.Run("error "+tt.sheet, func(t *testing.T) {
			ie := inputError(t, Options{Path: path, Sheet: tt.sheet})
			if !strings.Contains(ie.Error(), tt.want) || !strings.HasPrefix(ie.Error(), path) {
				t.Errorf("error %q lacks %q", ie.Error(), tt.want)
			}
		})
	}
}

// TestXLSXLarge reads a sheet longer than the look-ahead, so that the row
// count comes from the XML pre-scan and the card cells' types from the scan
// that runs in step with excelize.
func TestXLSXLarge(t *testing.T) {
	type wantRow struct {
		line   int
		card   string
		unsafe bool
	}
	var want []wantRow
	path := makeXLSX(t, "large.xlsx", func(f *excelize.File) {
		s := "Sheet1"
		must(t, f.SetCellValue(s, "B2", "seq"))
		must(t, f.SetCellValue(s, "C2", "card"))
		row := 3
		for i := 0; i < 700; i++ {
			switch {
			case i%50 == 0:
				row += 3 // a gap of missing rows
			case i%37 == 0:
				must(t, f.SetCellValue(s, fmt.Sprintf("B%d", row), "")) // an empty shared string: blank row
				row++
			}
			must(t, f.SetCellValue(s, fmt.Sprintf("B%d", row), i))
			var w wantRow
			switch i % 4 {
			case 0:
				must(t, f.SetCellValue(s, fmt.Sprintf("C%d", row), cardA))
				w = wantRow{row, cardA, false}
			case 1:
				must(t, f.SetCellValue(s, fmt.Sprintf("C%d", row), 622836929084))
				w = wantRow{row, "622836929084", false}
			case 2:
				must(t, f.SetCellValue(s, fmt.Sprintf("C%d", row), 6228369290810040))
				w = wantRow{row, "6228369290810040", true}
			case 3:
				w = wantRow{row, "", false} // no card cell
			}
			want = append(want, w)
			row++
		}
	})
	in := openT(t, Options{Path: path})
	if in.TotalHint() != -1 { // excelize leaves the <dimension> at "A1": no hint from it
		t.Errorf("TotalHint = %d, want -1", in.TotalHint())
	}
	if n := countT(t, Options{Path: path}); n != 700 {
		t.Errorf("CountRows = %d, want 700", n)
	}
	rows := readAll(t, in)
	if len(rows) != 700 {
		t.Fatalf("read %d rows", len(rows))
	}
	for i, r := range rows {
		w := want[i]
		if r.Line != w.line || r.Card != w.card || r.CardNumericUnsafe != w.unsafe || r.Fields[1] != fmt.Sprint(i) || r.Fields[0] != "" {
			t.Fatalf("row %d: line %d card %q unsafe %v fields %q; want %+v", i, r.Line, r.Card, r.CardNumericUnsafe, r.Fields, w)
		}
	}
}

func TestXLSXFormatMismatch(t *testing.T) {
	t.Run("xlsx that is really CSV", func(t *testing.T) {
		expect{format: "csv", header: []string{"card", "name"}, hasHeader: true,
			fields: [][]string{{cardA, "A"}}, notes: []string{"not an XLSX workbook but text: read as CSV"}}.
			check(t, Options{Path: writeTemp(t, "in.xlsx", []byte("card,name\n"+cardA+",A\n"))})
	})
	t.Run("explicit xlsx format that is really CSV", func(t *testing.T) {
		expect{format: "csv", hasHeader: true, fields: [][]string{{cardA, "A"}}, notes: []string{"read as CSV"}}.
			check(t, Options{Path: writeTemp(t, "in.dat", []byte("card,name\n"+cardA+",A\n")), Format: "xlsx"})
	})
	xlsx := makeXLSX(t, "real.xlsx", func(f *excelize.File) {
		must(t, f.SetSheetRow("Sheet1", "A1", &[]any{"card"}))
		must(t, f.SetSheetRow("Sheet1", "A2", &[]any{cardA}))
	})
	data, err := os.ReadFile(xlsx)
	must(t, err)
	for _, name := range []string{"in.csv", "in.xls", "in"} {
		t.Run("workbook named "+name, func(t *testing.T) {
			expect{format: "xlsx", header: []string{"card"}, hasHeader: true, fields: [][]string{{cardA}},
				notes: []string{"XLSX workbook"}}.check(t, Options{Path: writeTemp(t, name, data)})
		})
	}
}

func TestBadXLSXFiles(t *testing.T) {
	good := makeXLSX(t, "good.xlsx", func(f *excelize.File) {
		must(t, f.SetSheetRow("Sheet1", "A1", &[]any{"card", "name"}))
		for i := 2; i < 300; i++ {
			must(t, f.SetSheetRow("Sheet1", fmt.Sprintf("A%d", i), &[]any{cardA, "some name"}))
		}
	})
	data, err := os.ReadFile(good)
	must(t, err)

	// A workbook whose sheet part's compressed bytes are damaged: the zip
	// directory is intact, the data is not.
	corrupt := append([]byte(nil), data...)
	zr, err := zip.NewReader(bytes.NewReader(data), int64(len(data)))
	must(t, err)
	for _, zf := range zr.File {
		if zf.Name == "xl/worksheets/sheet1.xml" {
			off, err := zf.DataOffset()
			must(t, err)
			for i := off + 20; i < off+int64(zf.CompressedSize64)-20; i += 7 {
				corrupt[i] ^= 0x5A
			}
		}
	}

	encrypted := filepath.Join(t.TempDir(), "secret.xlsx")
	f := excelize.NewFile()
	must(t, f.SetCellValue("Sheet1", "A1", "card"))
	must(t, f.SaveAs(encrypted, excelize.Options{Password: "secret"}))
	f.Close()
	encData, err := os.ReadFile(encrypted)
	must(t, err)

	ole2 := append(append([]byte(nil), ole2Magic...), bytes.Repeat([]byte{0}, 600)...)
	var notWB bytes.Buffer
	zw := zip.NewWriter(&notWB)
	w, _ := zw.Create("readme.txt")
	w.Write([]byte("hello"))
	zw.Close()

	tests := []struct {
		name string
		file string
		data []byte
		want string
	}{
		{"truncated", "in.xlsx", data[:len(data)/2], "is not a valid .xlsx (damaged or truncated): re-save it from Excel"},
		{"truncated tiny", "in.xlsx", data[:10], "is not a valid .xlsx (damaged or truncated)"},
		{"corrupt sheet data", "in.xlsx", corrupt, "is not a valid .xlsx (damaged or truncated)"},
		{"password-protected", "in.xlsx", encData, "is password-protected: remove the password in Excel (File > Info > Protect Workbook) and try again"},
		{"password-protected, other extension", "in.dat", encData, "is password-protected"},
		{"legacy xls", "in.xls", ole2, "is a legacy Excel 97-2003 workbook (.xls): open it in Excel and save it as .xlsx"},
		{"OLE2 with xlsx extension", "in.xlsx", ole2, "is password-protected"},
		{"zip that is not a workbook", "in.xlsx", notWB.Bytes(), "is a ZIP archive but not an Excel workbook"},
		{"empty xlsx", "in.xlsx", nil, "in.xlsx is empty"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			path := writeTemp(t, tt.file, tt.data)
			ie := inputError(t, Options{Path: path})
			if !strings.Contains(ie.Error(), tt.want) || !strings.HasPrefix(ie.Error(), path) {
				t.Errorf("error %q lacks %q", ie.Error(), tt.want)
			}
		})
	}
}

func TestNumericCard(t *testing.T) {
	tests := []struct {
		v      string
		digits string
		unsafe bool
		ok     bool
	}{
		{"622836929084", "622836929084", false, true},
		{"622836929084.0", "622836929084", false, true},
		{"6.22836929084E+11", "622836929084", false, true},
		{"6.22836929084e11", "622836929084", false, true},
		{"999999999999999", "999999999999999", false, true},
		{"1000000000000000", "", true, true},
		{"6228369290810040", "", true, true},
		{"6.2283692908100403E+15", "", true, true},
		{"6227009328792181231", "", true, true},
		{"1.5E+20", "", true, true},
		{"0.12345678901234567", "", true, true},
		{"12.5", "", false, true},
		{"-622836929084", "", false, true},
		{"0", "0", false, true},
		{"000", "0", false, true},
		{"", "", false, false},
		{"abc", "", false, false},
		{"1e999", "", false, false},
		{".", "", false, false},
	}
	for _, tt := range tests {
		t.Run(tt.v, func(t *testing.T) {
			d, u, ok := numericCard(tt.v)
			if d != tt.digits || u != tt.unsafe || ok != tt.ok {
				t.Errorf("numericCard(%q) = %q %v %v, want %q %v %v", tt.v, d, u, ok, tt.digits, tt.unsafe, tt.ok)
			}
		})
	}
}

// TestXLSXTextCardsLarge reads a sheet longer than the look-ahead whose card
// cells are all text: the pre-scan finds no numeric card cell, so no scan
// runs in step with excelize and Card is the cell's text.
func TestXLSXTextCardsLarge(t *testing.T) {
	path := makeXLSX(t, "text.xlsx", func(f *excelize.File) {
		must(t, f.SetSheetRow("Sheet1", "A1", &[]any{"卡号", "n"}))
		for i := 0; i < 400; i++ {
			must(t, f.SetSheetRow("Sheet1", fmt.Sprintf("A%d", i+2), &[]any{cardB, i}))
		}
	})
	in := openT(t, Options{Path: path})
	if n := countT(t, Options{Path: path}); n != 400 {
		t.Errorf("CountRows = %d", n)
	}
	for i, r := range readAll(t, in) {
		if r.Card != cardB || r.CardNumericUnsafe || r.Fields[1] != fmt.Sprint(i) || r.Line != i+2 {
			t.Fatalf("row %d = %+v", i, r)
		}
	}
}

// TestXLSXTempFilesRemoved reads a sheet big enough for excelize to spill it
// to Options.TmpDir and checks that Close removes what it wrote there.
func TestXLSXTempFilesRemoved(t *testing.T) {
	if testing.Short() {
		t.Skip("writes a 20 MB sheet")
	}
	path := filepath.Join(t.TempDir(), "big.xlsx")
	f := excelize.NewFile()
	sw, err := f.NewStreamWriter("Sheet1")
	must(t, err)
	must(t, sw.SetRow("A1", []any{"id", "name", "card", "amount"}))
	const n = 110_000
	for i := 0; i < n; i++ {
		cell, _ := excelize.CoordinatesToCellName(1, i+2)
		must(t, sw.SetRow(cell, []any{i, "Customer name", cardA, 1234.5}))
	}
	must(t, sw.Flush())
	must(t, f.SaveAs(path))
	must(t, f.Close())

	tmp := t.TempDir()
	in, err := Open(context.Background(), Options{Path: path, TmpDir: tmp})
	must(t, err)
	entries, err := os.ReadDir(tmp)
	must(t, err)
	if len(entries) == 0 {
		t.Errorf("excelize wrote nothing to TmpDir: the sheet is not big enough for this test")
	}
	if _, err := in.Next(context.Background()); err != nil {
		t.Fatal(err)
	}
	must(t, in.Close()) // interrupted: most rows unread
	entries, err = os.ReadDir(tmp)
	must(t, err)
	for _, e := range entries {
		t.Errorf("left in TmpDir after Close: %s", e.Name())
	}
	if c := countT(t, Options{Path: path, TmpDir: tmp}); c != n {
		t.Errorf("CountRows = %d", c)
	}
	if entries, _ := os.ReadDir(tmp); len(entries) != 0 {
		t.Errorf("CountRows left %d files in TmpDir", len(entries))
	}
}

func TestXLSXHeaderlessAndColumn(t *testing.T) {
	data := `<row r="2"><c r="A2" t="inlineStr"><is><t>Zhang</t></is></c><c r="B2"><v>622836929084</v></c></row>` +
		`<row r="3"><c r="A3" t="inlineStr"><is><t>Li</t></is></c><c r="B3"><v>6228369290810040</v></c></row>`
	path := rawXLSX(t, []rawSheet{{name: "S", data: data}}, nil)
	for _, column := range []string{"", "2"} {
		t.Run("column "+column, func(t *testing.T) {
			rows := expect{format: "xlsx", header: []string{"column1", "column2"}, hasHeader: false, cardCol: 1,
				fields: [][]string{{"Zhang", "622836929084"}, {"Li", "6228369290810040"}},
				lines:  []int{2, 3}, cards: []string{"622836929084", "6228369290810040"}}.check(t, Options{Path: path, Column: column})
			if rows[0].CardNumericUnsafe || !rows[1].CardNumericUnsafe {
				t.Errorf("unsafe flags %v %v", rows[0].CardNumericUnsafe, rows[1].CardNumericUnsafe)
			}
		})
	}
	t.Run("missing column name", func(t *testing.T) {
		ie := inputError(t, Options{Path: path, Column: "card"})
		if !strings.Contains(ie.Error(), `1="Zhang", 2="62********84"`) || !strings.Contains(ie.Error(), "no header row") {
			t.Errorf("error = %v", ie)
		}
	})
	t.Run("grouped numbers found by content", func(t *testing.T) {
		p := makeXLSX(t, "grouped.xlsx", func(f *excelize.File) {
			st, err := f.NewStyle(&excelize.Style{NumFmt: 3})
			must(t, err)
			must(t, f.SetSheetRow("Sheet1", "A1", &[]any{"who", "number"}))
			must(t, f.SetSheetRow("Sheet1", "A2", &[]any{"A", 622836929084}))
			must(t, f.SetSheetRow("Sheet1", "A3", &[]any{"B", 622836929084}))
			must(t, f.SetCellStyle("Sheet1", "B2", "B3", st))
		})
		expect{hasHeader: true, cardCol: 1, fields: [][]string{{"A", "622,836,929,084"}, {"B", "622,836,929,084"}},
			cards: []string{"622836929084", "622836929084"}, notes: []string{"found by its content"}}.check(t, Options{Path: p})
	})
}
