package sources

import (
	"archive/zip"
	"bufio"
	"bytes"
	"compress/flate"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"
)

// The decompression bomb tests read each bomb in a child process (this
// test binary run again) so that its peak RSS (VmHWM in /proc/self/status,
// Linux only) is the reading's alone.

const (
	bombChildEnv = "CARDBATCH_BOMB_CHILD" // the workbook the child reads
	bombTmpEnv   = "CARDBATCH_BOMB_TMP"   // the child's TmpDir
	bombRows     = 1000
	bombSize     = 256 << 20
	maxBombRSS   = 300 << 20
)

// bombResult is what the child reports.
type bombResult struct {
	Rows       int     // rows read
	Cards      int     // rows whose card is cardA
	Err        string  // the error, "" if none
	InputError bool    // the error is an *InputError
	HWM        int64   // peak RSS in bytes
	TmpPeak    int64   // bytes in TmpDir after the first row
	TmpAfter   int     // files left in TmpDir after Close
	Hint       int     // TotalHint
	FirstRow   float64 // seconds from Open to the first row
	AllRows    float64 // seconds from Open to the end
}

// sheetXML writes a worksheet of a header and bombRows rows of cardA, with
// pad written between the header and the first data row.
func sheetXML(w io.Writer, pad func(io.Writer) error) error {
	bw := bufio.NewWriter(w)
	bw.WriteString(`<?xml version="1.0" encoding="UTF-8" standalone="yes"?>` +
		`<worksheet xmlns="http://schemas.openxmlformats.org/spreadsheetml/2006/main"><sheetData>` +
		`<row r="1"><c r="A1" t="inlineStr"><is><t>id</t></is></c><c r="B1" t="inlineStr"><is><t>card</t></is></c></row>`)
	if pad != nil {
		if err := bw.Flush(); err != nil {
			return err
		}
		if err := pad(w); err != nil {
			return err
		}
	}
	for i := 2; i < bombRows+2; i++ {
		fmt.Fprintf(bw, `<row r="%d"><c r="A%d"><v>%d</v></c><c r="B%d" t="inlineStr"><is><t>%s</t></is></c></row>`, i, i, i, i, cardA)
	}
	bw.WriteString(`</sheetData></worksheet>`)
	return bw.Flush()
}

// repeatWriter writes n copies of byte c.
func repeatWriter(c byte, n int) func(io.Writer) error {
	return func(w io.Writer) error {
		buf := bytes.Repeat([]byte{c}, 1<<20)
		for n > 0 {
			k := min(n, len(buf))
			if _, err := w.Write(buf[:k]); err != nil {
				return err
			}
			n -= k
		}
		return nil
	}
}

// bombPart is an entry written by writeBomb: either data to deflate, or a
// raw deflate stream with the sizes it declares.
type bombPart struct {
	name     string
	write    func(io.Writer) error
	raw      []byte // deflated bytes, written as they are
	declared uint64 // the uncompressed size raw declares
}

// writeBomb writes a workbook with one sheet (the parts given, plus the
// package parts a workbook needs) to path.
func writeBomb(t *testing.T, path string, parts ...bombPart) {
	t.Helper()
	f, err := os.Create(path)
	must(t, err)
	defer f.Close()
	zw := zip.NewWriter(f)
	zw.RegisterCompressor(zip.Deflate, func(w io.Writer) (io.WriteCloser, error) { return flate.NewWriter(w, flate.BestSpeed) })
	std := map[string]string{
		"[Content_Types].xml":        `<?xml version="1.0" encoding="UTF-8"?><Types xmlns="http://schemas.openxmlformats.org/package/2006/content-types"><Default Extension="rels" ContentType="application/vnd.openxmlformats-package.relationships+xml"/><Default Extension="xml" ContentType="application/xml"/><Override PartName="/xl/workbook.xml" ContentType="application/vnd.openxmlformats-officedocument.spreadsheetml.sheet.main+xml"/><Override PartName="/xl/worksheets/sheet1.xml" ContentType="application/vnd.openxmlformats-officedocument.spreadsheetml.worksheet+xml"/></Types>`,
		"_rels/.rels":                `<?xml version="1.0" encoding="UTF-8"?><Relationships xmlns="http://schemas.openxmlformats.org/package/2006/relationships"><Relationship Id="rId1" Type="http://schemas.openxmlformats.org/officeDocument/2006/relationships/officeDocument" Target="xl/workbook.xml"/></Relationships>`,
		"xl/workbook.xml":            `<?xml version="1.0" encoding="UTF-8"?><workbook xmlns="http://schemas.openxmlformats.org/spreadsheetml/2006/main" xmlns:r="http://schemas.openxmlformats.org/officeDocument/2006/relationships"><sheets><sheet name="Sheet1" sheetId="1" r:id="rId1"/></sheets></workbook>`,
		"xl/_rels/workbook.xml.rels": `<?xml version="1.0" encoding="UTF-8"?><Relationships xmlns="http://schemas.openxmlformats.org/package/2006/relationships"><Relationship Id="rId1" Type="http://schemas.openxmlformats.org/officeDocument/2006/relationships/worksheet" Target="worksheets/sheet1.xml"/></Relationships>`,
	}
	for _, name := range []string{"[Content_Types].xml", "_rels/.rels", "xl/workbook.xml", "xl/_rels/workbook.xml.rels"} {
		w, err := zw.Create(name)
		must(t, err)
		_, err = io.WriteString(w, std[name])
		must(t, err)
	}
	for _, p := range parts {
		if p.raw != nil {
			w, err := zw.CreateRaw(&zip.FileHeader{Name: p.name, Method: zip.Deflate,
				CompressedSize64: uint64(len(p.raw)), UncompressedSize64: p.declared})
			must(t, err)
			_, err = w.Write(p.raw)
			must(t, err)
			continue
		}
		w, err := zw.Create(p.name)
		must(t, err)
		must(t, p.write(w))
	}
	must(t, zw.Close())
}

// deflated returns the raw deflate stream of what write writes.
func deflated(t *testing.T, write func(io.Writer) error) []byte {
	var b bytes.Buffer
	fw, err := flate.NewWriter(&b, flate.BestSpeed)
	must(t, err)
	must(t, write(fw))
	must(t, fw.Close())
	return b.Bytes()
}

func TestXLSXBombs(t *testing.T) {
	if testing.Short() {
		t.Skip("writes and reads workbooks that unpack to 256 MiB")
	}
	sheet := func(pad func(io.Writer) error) func(io.Writer) error {
		return func(w io.Writer) error { return sheetXML(w, pad) }
	}
	tests := []struct {
		name     string
		parts    []bombPart
		refused  string // "" = read every row
		maxTmpMB int64
	}{
		{"unused 256 MiB part of zeros", []bombPart{
			{name: "xl/worksheets/sheet1.xml", write: sheet(nil)},
			{name: "xl/media/zeros.bin", write: repeatWriter(0, bombSize)},
		}, "", 1},
		{"256 MiB of white space inside the sheet", []bombPart{
			{name: "xl/worksheets/sheet1.xml", write: sheet(repeatWriter(' ', bombSize))},
		}, "", 1},
		{"sheet that declares 1 KiB and inflates to 256 MiB", []bombPart{
			{name: "xl/worksheets/sheet1.xml", raw: deflated(t, sheet(repeatWriter(' ', bombSize))), declared: 1 << 10},
		}, "is not a valid .xlsx", 1},
		{"parts that declare more than 1 GiB", []bombPart{
			{name: "xl/worksheets/sheet1.xml", write: sheet(nil)},
			{name: "xl/media/a.bin", raw: deflated(t, repeatWriter(0, 1<<20)), declared: 600 << 20},
			{name: "xl/media/b.bin", raw: deflated(t, repeatWriter(0, 1<<20)), declared: 600 << 20},
		}, "the workbook declares 1200 MiB, the limit is 1024 MiB", 0},
		{"sheet that declares more than 512 MiB", []bombPart{
			{name: "xl/worksheets/sheet1.xml", raw: deflated(t, sheet(nil)), declared: 600 << 20},
		}, "the part xl/worksheets/sheet1.xml declares 600 MiB, the limit is 512 MiB", 0},
		{"256 MiB of text in one cell", []bombPart{
			{name: "xl/worksheets/sheet1.xml", write: sheet(func(w io.Writer) error {
				io.WriteString(w, `<row r="100000"><c r="C100000" t="inlineStr"><is><t>`)
				repeatWriter('x', bombSize)(w)
				_, err := io.WriteString(w, `</t></is></c></row>`)
				return err
			})},
		}, "holds more than 1 MiB of text between two tags", 1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			path := filepath.Join(t.TempDir(), "bomb.xlsx")
			writeBomb(t, path, tt.parts...)
			res := runBombChild(t, path)
			t.Logf("%s: peak RSS %d MiB, TmpDir after the first row %d KiB, rows %d, err %q",
				tt.name, res.HWM>>20, res.TmpPeak>>10, res.Rows, res.Err)
			if res.HWM > maxBombRSS {
				t.Errorf("peak RSS %d MiB, want <= %d MiB", res.HWM>>20, maxBombRSS>>20)
			}
			if tt.refused == "" && (res.Err != "" || res.Rows != bombRows || res.Cards != bombRows) {
				t.Errorf("read %d rows (%d cards), err %q; want %d rows", res.Rows, res.Cards, res.Err, bombRows)
			}
			if tt.refused != "" && (!res.InputError || !strings.Contains(res.Err, tt.refused)) {
				t.Errorf("err %q (InputError %v), want an InputError with %q", res.Err, res.InputError, tt.refused)
			}
			if res.TmpPeak > tt.maxTmpMB<<20 || res.TmpAfter != 0 {
				t.Errorf("TmpDir held %d bytes after the first row and %d files after Close", res.TmpPeak, res.TmpAfter)
			}
		})
	}
}

// runBombChild reads path in a child process and returns its report.
func runBombChild(t *testing.T, path string) bombResult { return runReadChild(t, path) }

// runReadChild reads path in a child process and returns its report.
func runReadChild(t testing.TB, path string) bombResult {
	t.Helper()
	cmd := exec.Command(os.Args[0], "-test.run=^TestXLSXBombChild$", "-test.v")
	cmd.Env = append(os.Environ(), bombChildEnv+"="+path, bombTmpEnv+"="+t.TempDir(), "GOMAXPROCS=2")
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("child: %v\n%s", err, out)
	}
	_, js, ok := bytes.Cut(out, []byte("BOMB-RESULT "))
	if !ok {
		t.Fatalf("child said:\n%s", out)
	}
	js, _, _ = bytes.Cut(js, []byte("\n"))
	var res bombResult
	must(t, json.Unmarshal(js, &res))
	return res
}

// TestXLSXBombChild is the child of TestXLSXBombs; it does nothing unless
// run by it.
func TestXLSXBombChild(t *testing.T) {
	path := os.Getenv(bombChildEnv)
	if path == "" {
		return
	}
	tmp := os.Getenv(bombTmpEnv)
	var res bombResult
	start := time.Now()
	in, err := Open(context.Background(), Options{Path: path, TmpDir: tmp})
	if err == nil {
		res.Hint = in.TotalHint()
		for {
			r, err2 := in.Next(context.Background())
			if err2 != nil {
				if err2 != io.EOF {
					err = err2
				}
				break
			}
			if res.Rows == 0 {
				res.FirstRow = time.Since(start).Seconds()
				res.TmpPeak = dirBytes(tmp)
			}
			res.Rows++
			if r.Card == cardA {
				res.Cards++
			}
		}
		res.AllRows = time.Since(start).Seconds()
		in.Close()
	}
	if err != nil {
		res.Err = err.Error()
		var ie *InputError
		res.InputError = errors.As(err, &ie)
	}
	entries, _ := os.ReadDir(tmp)
	res.TmpAfter = len(entries)
	res.HWM = vmHWM(t)
	js, _ := json.Marshal(res)
	fmt.Printf("BOMB-RESULT %s\n", js)
}

// dirBytes returns the bytes of the files in dir.
func dirBytes(dir string) int64 {
	var n int64
	entries, _ := os.ReadDir(dir)
	for _, e := range entries {
		if fi, err := e.Info(); err == nil {
			n += fi.Size()
		}
	}
	return n
}

// vmHWM returns this process's peak resident set size from
// /proc/self/status.
func vmHWM(t testing.TB) int64 {
	b, err := os.ReadFile("/proc/self/status")
	must(t, err)
	for _, line := range strings.Split(string(b), "\n") {
		if rest, ok := strings.CutPrefix(line, "VmHWM:"); ok {
			kb, err := strconv.ParseInt(strings.TrimSpace(strings.TrimSuffix(strings.TrimSpace(rest), "kB")), 10, 64)
			must(t, err)
			return kb << 10
		}
	}
	t.Fatal("no VmHWM in /proc/self/status")
	return 0
}

// BenchmarkFirstRow reads the 1,000,000-row CSV and the 200,000-row
// workbook of BenchmarkCSV and BenchmarkXLSX, each in a child process, and
// reports the seconds from Open to the first row, to the last, and the
// child's peak RSS (the target: the first row within 1 s).
func BenchmarkFirstRow(b *testing.B) {
	for _, bc := range []struct {
		name string
		file func(*testing.B) string
		rows int
	}{{"csv-1M", benchCSVFile, benchCSVRows}, {"xlsx-200k", benchXLSXFile, benchXLSXRows}} {
		b.Run(bc.name, func(b *testing.B) {
			path := bc.file(b)
			var first, all, rss float64
			for i := 0; i < b.N; i++ {
				res := runReadChild(b, path)
				if res.Err != "" || res.Rows != bc.rows {
					b.Fatalf("read %d rows: %s", res.Rows, res.Err)
				}
				first, all, rss = max(first, res.FirstRow), max(all, res.AllRows), max(rss, float64(res.HWM)/(1<<20))
				b.Logf("TotalHint %d, TmpDir after the first row %d KiB", res.Hint, res.TmpPeak>>10)
			}
			b.ReportMetric(first, "s-to-first-row")
			b.ReportMetric(all, "s-to-last-row")
			b.ReportMetric(rss, "peak-RSS-MiB")
		})
	}
}

// TestXLSXDimensionHint: TotalHint comes from the sheet's <dimension> when
// it spans past the rows Open read ahead, and CountRows counts exactly.
func TestXLSXDimensionHint(t *testing.T) {
	path := filepath.Join(t.TempDir(), "dim.xlsx")
	writeBomb(t, path, bombPart{name: "xl/worksheets/sheet1.xml", write: func(w io.Writer) error {
		var b bytes.Buffer
		must(t, sheetXML(&b, nil))
		s := strings.Replace(b.String(), "<sheetData>", fmt.Sprintf(`<dimension ref="A1:B%d"/><sheetData>`, bombRows+1), 1)
		_, err := io.WriteString(w, s)
		return err
	}})
	in := openT(t, Options{Path: path})
	if in.TotalHint() != bombRows {
		t.Errorf("TotalHint = %d, want %d", in.TotalHint(), bombRows)
	}
	if n := countT(t, Options{Path: path}); n != bombRows {
		t.Errorf("CountRows = %d, want %d", n, bombRows)
	}
}
