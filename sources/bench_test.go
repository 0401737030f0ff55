package sources

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"runtime"
	"sync"
	"testing"

	"github.com/xuri/excelize/v2"
)

// Benchmark inputs are generated once per process into benchDir, which
// TestMain removes.
var (
	benchDir     string
	benchDirOnce sync.Once
	benchCSVOnce sync.Once
	benchXLSOnce sync.Once
	benchCSVPath string
	benchXLSPath string
)

const (
	benchCSVRows  = 1_000_000
	benchXLSXRows = 200_000
)

func TestMain(m *testing.M) {
	code := m.Run()
	if benchDir != "" {
		os.RemoveAll(benchDir)
	}
	os.Exit(code)
}

func benchTemp(b *testing.B) string {
	benchDirOnce.Do(func() {
		d, err := os.MkdirTemp("", "sources-bench-")
		if err != nil {
			b.Fatal(err)
		}
		benchDir = d
	})
	return benchDir
}

// benchCard returns a distinct 16-digit number for row i.
func benchCard(i int) string { return fmt.Sprintf("62284804%08d", i) }

// readBench opens path, reads every row and returns the count and the
// largest heap seen while reading.
func readBench(b *testing.B, path string) (rows int, peakHeap uint64) {
	in, err := Open(context.Background(), Options{Path: path, TmpDir: b.TempDir()})
	if err != nil {
		b.Fatal(err)
	}
	defer in.Close()
	ctx := context.Background()
	var ms runtime.MemStats
	for {
		_, err := in.Next(ctx)
		if err == io.EOF {
			break
		}
		if err != nil {
			b.Fatal(err)
		}
		rows++
		if rows%100_000 == 0 {
			runtime.ReadMemStats(&ms)
			peakHeap = max(peakHeap, ms.HeapInuse)
		}
	}
	if h := in.TotalHint(); h >= 0 && rows != h {
		b.Fatalf("read %d rows, TotalHint %d", rows, h)
	}
	return rows, peakHeap
}

// BenchmarkCSV reads a 1,000,000-row, 4-column CSV (Open and every
// row) and reports rows/s and the peak heap.
func BenchmarkCSV(b *testing.B) {
	benchCSVFile(b)
	b.ReportAllocs()
	b.ResetTimer()
	var peak uint64
	for i := 0; i < b.N; i++ {
		n, p := readBench(b, benchCSVPath)
		if n != benchCSVRows {
			b.Fatalf("read %d rows", n)
		}
		peak = max(peak, p)
	}
	b.ReportMetric(float64(benchCSVRows)*float64(b.N)/b.Elapsed().Seconds(), "rows/s")
	b.ReportMetric(float64(peak)/(1<<20), "peak-heap-MiB")
}

// BenchmarkXLSX reads a 200,000-row, 4-column sheet written by excelize's
// stream writer and reports rows/s and the peak heap.
func BenchmarkXLSX(b *testing.B) {
	benchXLSXFile(b)
	b.ReportAllocs()
	b.ResetTimer()
	var peak uint64
	for i := 0; i < b.N; i++ {
		n, p := readBench(b, benchXLSPath)
		if n != benchXLSXRows {
			b.Fatalf("read %d rows", n)
		}
		peak = max(peak, p)
	}
	b.ReportMetric(float64(benchXLSXRows)*float64(b.N)/b.Elapsed().Seconds(), "rows/s")
	b.ReportMetric(float64(peak)/(1<<20), "peak-heap-MiB")
}

// benchCSVFile writes the 1,000,000-row CSV once and returns its path.
func benchCSVFile(b *testing.B) string {
	dir := benchTemp(b)
	benchCSVOnce.Do(func() {
		benchCSVPath = filepath.Join(dir, "bench.csv")
		f, err := os.Create(benchCSVPath)
		if err != nil {
			b.Fatal(err)
		}
		w := bufio.NewWriter(f)
		fmt.Fprintln(w, "id,name,card,amount")
		for i := 0; i < benchCSVRows; i++ {
			fmt.Fprintf(w, "%d,Customer %d,%s,%d.%02d\n", i, i%977, benchCard(i), i%10000, i%100)
		}
		if err := w.Flush(); err != nil {
			b.Fatal(err)
		}
		f.Close()
	})
	return benchCSVPath
}

// benchXLSXFile writes the 200,000-row workbook once and returns its path.
func benchXLSXFile(b *testing.B) string {
	dir := benchTemp(b)
	benchXLSOnce.Do(func() {
		benchXLSPath = filepath.Join(dir, "bench.xlsx")
		f := excelize.NewFile()
		sw, err := f.NewStreamWriter("Sheet1")
		if err != nil {
			b.Fatal(err)
		}
		if err := sw.SetRow("A1", []any{"id", "name", "card", "amount"}); err != nil {
			b.Fatal(err)
		}
		for i := 0; i < benchXLSXRows; i++ {
			cell, _ := excelize.CoordinatesToCellName(1, i+2)
			if err := sw.SetRow(cell, []any{i, fmt.Sprintf("Customer %d", i%977), benchCard(i), float64(i%10000) + 0.25}); err != nil {
				b.Fatal(err)
			}
		}
		if err := sw.Flush(); err != nil {
			b.Fatal(err)
		}
		// As Excel writes it (excelize leaves "A1"), for TotalHint.
		if err := f.SetSheetDimension("Sheet1", fmt.Sprintf("A1:D%d", benchXLSXRows+1)); err != nil {
			b.Fatal(err)
		}
		if err := f.SaveAs(benchXLSPath); err != nil {
			b.Fatal(err)
		}
		f.Close()
	})
	return benchXLSPath
}
