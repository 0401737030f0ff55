package sinks

import (
	"fmt"
	"path/filepath"
	"testing"
)

// benchRows returns row templates of 15 columns like a real output: the
// input's columns and the answer columns. The card column varies per row.
func benchRows() [][]string {
	rows := make([][]string, 64)
	for i := range rows {
		rows[i] = []string{
			fmt.Sprint(i), "张三丰", "", "13800138000", "北京市海淀区中关村大街1号", "2026-01-02", "备注",
			"0", "查询成功", "中国工商银行", "1", "debit", "charged", "ok", "",
		}
	}
	return rows
}

func benchmarkSink(b *testing.B, ext string, n int) {
	tmpl := benchRows()
	header := []string{"id", "name", "card", "phone", "address", "date", "note",
		"result", "description", "account_bank", "account_type", "account_type_name", "billing", "status", "error"}
	iters := 0
	for b.Loop() {
		dir := b.TempDir()
		s, err := Create(Options{Path: filepath.Join(dir, "out"+ext), Header: header, CardColumn: 2})
		if err != nil {
			b.Fatal(err)
		}
		for i := range n {
			r := tmpl[i%len(tmpl)]
			r[2] = fmt.Sprintf("62284800%011d", i)
			if err := s.Write(r); err != nil {
				b.Fatal(err)
			}
		}
		if err := s.Commit(sampleSummary()); err != nil {
			b.Fatal(err)
		}
		iters++
	}
	b.ReportMetric(float64(n*iters)/b.Elapsed().Seconds(), "rows/s")
}

// BenchmarkXLSX200k writes 200,000 rows × 15 columns to an XLSX output and
// reports rows per second.
func BenchmarkXLSX200k(b *testing.B) { benchmarkSink(b, ".xlsx", 200_000) }

// BenchmarkCSV200k writes the same rows to a CSV output.
func BenchmarkCSV200k(b *testing.B) { benchmarkSink(b, ".csv", 200_000) }
