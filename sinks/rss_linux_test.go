//go:build linux

package sinks

import (
	"archive/zip"
	"bufio"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/xuri/excelize/v2"

	"cardbatch/sources"
)

// TestMain runs the peak-memory child of BenchmarkKeepWorkbook200k when
// asked to, and the tests otherwise.
func TestMain(m *testing.M) {
	if in := os.Getenv("CARDBATCH_RSS_CHILD"); in != "" {
		if err := rssChild(in, os.Getenv("CARDBATCH_RSS_OUT")); err != nil {
			fmt.Fprintln(os.Stderr, err)
			os.Exit(1)
		}
		os.Exit(0)
	}
	os.Exit(m.Run())
}

const rssRows = 200_000

// BenchmarkKeepWorkbook200k writes a 200,000-row XLSX output keeping its
// input workbook, in a child process, and reports the child's peak RSS
// (VmHWM) and its time.
func BenchmarkKeepWorkbook200k(b *testing.B) {
	dir := b.TempDir()
	in := filepath.Join(dir, "in.xlsx")
	if err := makeBigWorkbook(in, rssRows); err != nil {
		b.Fatal(err)
	}
	for b.Loop() {
		cmd := exec.Command(os.Args[0], "-test.run=^$")
		cmd.Env = append(os.Environ(), "CARDBATCH_RSS_CHILD="+in, "CARDBATCH_RSS_OUT="+filepath.Join(dir, "out.xlsx"))
		start := time.Now()
		out, err := cmd.CombinedOutput()
		if err != nil {
			b.Fatalf("child: %v\n%s", err, out)
		}
		kb, err := strconv.ParseFloat(strings.TrimSpace(string(out)), 64)
		if err != nil {
			b.Fatalf("child printed %q", out)
		}
		if err := uniqueParts(filepath.Join(dir, "out.xlsx")); err != nil {
			b.Fatal(err)
		}
		b.ReportMetric(kb/1024, "peakRSS_MB")
		b.ReportMetric(time.Since(start).Seconds(), "s/run")
	}
}

// uniqueParts checks that no part of the workbook at path is written twice
// (the replaced card sheet must not be copied next to the new one).
func uniqueParts(path string) error {
	zr, err := zip.OpenReader(path)
	if err != nil {
		return err
	}
	defer zr.Close()
	seen := map[string]bool{}
	for _, f := range zr.File {
		if seen[f.Name] {
			return fmt.Errorf("%s holds part %s twice", path, f.Name)
		}
		seen[f.Name] = true
	}
	return nil
}

// makeBigWorkbook writes an input of n rows: name, date, amount, formula, card.
func makeBigWorkbook(path string, n int) error {
	f := excelize.NewFile()
	defer f.Close()
	sw, err := f.NewStreamWriter("Sheet1")
	if err != nil {
		return err
	}
	if err := sw.SetRow("A1", []any{"name", "date", "amount", "double", "card"}); err != nil {
		return err
	}
	for i := range n {
		r := strconv.Itoa(i + 2)
		if err := sw.SetRow("A"+r, []any{"客户" + r, 45000 + i%365, float64(i) + 0.25,
			excelize.Cell{Formula: "C" + r + "*2", Value: 2*float64(i) + 0.5}, fmt.Sprintf("62284816%011d", i)}); err != nil {
			return err
		}
	}
	if err := sw.Flush(); err != nil {
		return err
	}
	return f.SaveAs(path)
}

// rssChild writes the kept workbook and prints VmHWM in kB.
func rssChild(in, out string) error {
	s, err := Create(Options{Path: out, Header: []string{"name", "date", "amount", "double", "card"}, CardColumn: 4,
		InputPath: in, TmpDir: filepath.Dir(out)})
	if err != nil {
		return err
	}
	at := time.Now()
	for i := range rssRows {
		line := i + 2
		card := fmt.Sprintf("62284816%011d", i)
		row := sources.Row{Index: i, Line: line, Card: card, Cells: []sources.Cell{
			{Type: "inlineStr", Value: "客户" + strconv.Itoa(line)}, {Value: strconv.Itoa(45000 + i%365)},
			{Value: strconv.FormatFloat(float64(i)+0.25, 'f', -1, 64)},
			{Value: strconv.FormatFloat(2*float64(i)+0.5, 'f', -1, 64), Formula: "C" + strconv.Itoa(line) + "*2"},
			{Type: "inlineStr", Value: card}}}
		if err := s.Write(row, Answer{Result: "0", Description: "查询成功", AccountBank: "中国农业银行", AccountType: 1,
			Billing: "charged", Status: "ok", AnsweredAt: at}); err != nil {
			return err
		}
	}
	if err := s.Commit(sampleSummary()); err != nil {
		return err
	}
	return printHWM()
}

func printHWM() error {
	f, err := os.Open("/proc/self/status")
	if err != nil {
		return err
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		if v, ok := strings.CutPrefix(sc.Text(), "VmHWM:"); ok {
			fmt.Println(strings.TrimSuffix(strings.TrimSpace(v), " kB"))
			return nil
		}
	}
	return fmt.Errorf("no VmHWM in /proc/self/status")
}
