package sources

import (
	"reflect"
	"testing"
	"time"

	"github.com/xuri/excelize/v2"
)

// TestXLSXTypedCellsExcelize: Row.Cells carries each cell as stored, for a
// workbook written by excelize: shared strings resolved, numbers and dates
// as their raw values with their styles, booleans, shared formulas
// translated to each cell.
func TestXLSXTypedCellsExcelize(t *testing.T) {
	var amount, date int
	path := makeXLSX(t, "typed.xlsx", func(f *excelize.File) {
		var err error
		amount, err = f.NewStyle(&excelize.Style{NumFmt: 4}) // #,##0.00
		must(t, err)
		date, err = f.NewStyle(&excelize.Style{NumFmt: 14}) // m/d/yy
		must(t, err)
		must(t, f.SetSheetRow("Sheet1", "A1", &[]any{"card", "amount", "date", "ok", "twice", "name"}))
		for i, row := range [][]any{{cardA, 1000, time.Date(2023, 3, 15, 0, 0, 0, 0, time.UTC), true, nil, "张三"}, {cardB, 1967.3, time.Date(2024, 1, 2, 0, 0, 0, 0, time.UTC), false, nil, "Li"}, {cardC, -2.5, time.Date(1999, 12, 31, 0, 0, 0, 0, time.UTC), true, nil, ""}} {
			r := i + 2
			must(t, f.SetSheetRow("Sheet1", cellName(1, r), &row))
			must(t, f.SetCellStyle("Sheet1", cellName(2, r), cellName(2, r), amount))
			must(t, f.SetCellStyle("Sheet1", cellName(3, r), cellName(3, r), date))
		}
		shared, ref := excelize.STCellFormulaTypeShared, "E2:E4"
		must(t, f.SetCellFormula("Sheet1", "E2", "B2*2+$B$2", excelize.FormulaOpts{Type: &shared, Ref: &ref}))
	})
	in := openT(t, Options{Path: path})
	rows := readAll(t, in)
	if len(rows) != 3 {
		t.Fatalf("%d rows", len(rows))
	}
	want := [][]Cell{
		{{Type: "s", Value: cardA}, {Value: "1000", Style: amount}, {Value: "45000", Style: date}, {Type: "b", Value: "1"}, {Type: "str", Formula: "B2*2+$B$2"}, {Type: "s", Value: "张三"}},
		{{Type: "s", Value: cardB}, {Value: "1967.3", Style: amount}, {Value: "45293", Style: date}, {Type: "b", Value: "0"}, {Formula: "B3*2+$B$2"}, {Type: "s", Value: "Li"}},
		{{Type: "s", Value: cardC}, {Value: "-2.5", Style: amount}, {Value: "36525", Style: date}, {Type: "b", Value: "1"}, {Formula: "B4*2+$B$2"}, {Type: "s"}},
	}
	for i, r := range rows {
		for j := range want[i] { // excelize writes a numeric cell with t="n" or without t
			if r.Cells != nil && j < len(r.Cells) && r.Cells[j].Type == "n" {
				r.Cells[j].Type = ""
			}
		}
		if !reflect.DeepEqual(r.Cells, want[i]) {
			t.Errorf("row %d cells\n got %+v\nwant %+v", i, r.Cells, want[i])
		}
	}
	if rows[0].Fields[1] != "1,000.00" || rows[0].Fields[2] != "03-15-23" || rows[0].Fields[0] != cardA {
		t.Errorf("Fields changed: %q", rows[0].Fields)
	}
}

// cellName is excelize.CoordinatesToCellName without the error.
func cellName(col, row int) string {
	n, _ := excelize.CoordinatesToCellName(col, row)
	return n
}

// TestXLSXTypedCellsRaw: formulas with cached values of every type, inline
// strings (phonetic runs left out), error cells, shared formulas with
// absolute and whole-row references, and a shared formula that cannot be
// moved.
func TestXLSXTypedCellsRaw(t *testing.T) {
	data := `<row r="1"><c r="A1" t="s"><v>0</v></c><c r="B1" t="inlineStr"><is><t>v</t></is></c><c r="C1" t="inlineStr"><is><t>f</t></is></c></row>` +
		`<row r="2"><c r="A2" t="s"><v>1</v></c><c r="B2" s="3"><f>1+1</f><v>2</v></c><c r="C2" t="str"><f t="shared" ref="C2:C4" si="0">A2&amp;Sheet2!B$1&amp;SUM(1:1)</f><v>x</v></c></row>` +
		`<row r="3"><c r="A3" t="inlineStr"><is><r><t>` + cardB[:8] + `</t></r><r><t>` + cardB[8:] + `</t></r><rPh><t>ignored</t></rPh></is></c><c r="B3" t="e"><f>1/0</f><v>#DIV/0!</v></c><c r="C3" t="str"><f t="shared" si="0"/><v>y</v></c></row>` +
		`<row r="4"><c r="A4" t="s"><v>1</v></c><c r="B4" t="b"><f>TRUE()</f><v>1</v></c><c r="C4" t="str"><f t="shared" si="0"/><v>z</v></c><c r="D4"><v>9</v></c></row>` +
		`<row r="5"><c r="A5" t="s"><v>1</v></c><c r="C5"><f t="shared" ref="C5:C6" si="1">C4-3</f><v>1</v></c></row>` +
		`<row r="6"><c r="A6" t="s"><v>1</v></c><c r="C6"><f t="shared" si="1"/><v>1</v></c></row>`
	path := rawXLSX(t, []rawSheet{{name: "Data", data: data}}, []string{"card", cardA})
	rows := readAll(t, openT(t, Options{Path: path}))
	want := [][]Cell{
		{{Type: "s", Value: cardA}, {Value: "2", Formula: "1+1", Style: 3}, {Type: "str", Value: "x", Formula: "A2&Sheet2!B$1&SUM(1:1)"}},
		{{Type: "inlineStr", Value: cardB}, {Type: "e", Value: "#DIV/0!", Formula: "1/0"}, {Type: "str", Value: "y", Formula: "A3&Sheet2!B$1&SUM(2:2)"}},
		{{Type: "s", Value: cardA}, {Type: "b", Value: "1", Formula: "TRUE()"}, {Type: "str", Value: "z", Formula: "A4&Sheet2!B$1&SUM(3:3)"}},
		{{Type: "s", Value: cardA}, {}, {Value: "1", Formula: "C4-3"}},
		{{Type: "s", Value: cardA}, {}, {Value: "1", Formula: "C5-3"}},
	}
	if len(rows) != len(want) {
		t.Fatalf("%d rows", len(rows))
	}
	for i, r := range rows {
		if !reflect.DeepEqual(r.Cells, want[i]) {
			t.Errorf("row %d cells\n got %+v\nwant %+v", i, r.Cells, want[i])
		}
	}
	if rows[1].Card != cardB {
		t.Errorf("inline card = %q", rows[1].Card)
	}
}

func TestShiftFormula(t *testing.T) {
	tests := []struct {
		master     string
		dCol, dRow int
		want       string
		fromMaster bool
	}{
		{"A1+$A$1+A$1+$A1", 1, 2, "B3+$A$1+B$1+$A3", false},
		{"SUM(A1:B2)*Sheet1!C3", 0, 1, "SUM(A2:B3)*Sheet1!C4", false},
		{"SUM(A:A)+SUM($1:2)", 1, 1, "SUM(B:B)+SUM($1:3)", false},
		{"Total*2", 1, 1, "Total*2", false},
		{"A2-1", 0, -1, "A1-1", false},
		{"A1-1", 0, -1, "A1-1", true}, // would leave the sheet: the master's text
		{`"A1"&A1`, 0, 1, `"A1"&A2`, false},
	}
	for _, tt := range tests {
		got, fm := shiftFormula(tt.master, tt.dCol, tt.dRow)
		if got != tt.want || fm != tt.fromMaster {
			t.Errorf("shiftFormula(%q, %d, %d) = %q, %v; want %q, %v", tt.master, tt.dCol, tt.dRow, got, fm, tt.want, tt.fromMaster)
		}
	}
}
