package e2e

import (
	"path/filepath"
	"regexp"
	"strconv"
	"testing"
)

// TestPrintedSummaryInChinese: with --lang zh the summary printed at the end
// of `run` and by `status` is in Chinese, with the figures of summary.json
// (whose keys stay English); status refuses a language it does not have.
func TestPrintedSummaryInChinese(t *testing.T) {
	dir := t.TempDir()
	in, out := writeCSV(t, dir, makeCards(16, 5)), filepath.Join(dir, "out.csv")
	r := run(t, dir, simRun(in, out, "--lang", "zh")...)
	if r.code != 0 {
		t.Fatalf("exit %d: %s", r.code, r.stderr)
	}
	sum := readSummary(t, out+".summary.json")
	if sum.Rows != 5 || sum.ChargedCalls != 5 {
		t.Fatalf("summary.json rows %d charged_calls %d, want 5 and 5", sum.Rows, sum.ChargedCalls)
	}
	st := run(t, dir, "status", "--checkpoint", out+".checkpoint.db", "--lang", "zh")
	if st.code != 0 {
		t.Fatalf("status: exit %d: %s", st.code, st.stderr)
	}
	for name, text := range map[string]string{"run": r.stderr, "status": st.stdout} {
		for _, re := range []string{`(?m)^计费汇总$`, `(?m)^    读取行数 +5$`, `(?m)^    计费调用数 +5$`,
			`(?m)^    0 +` + strconv.FormatInt(sum.ByResult["0"], 10) + `  查询成功（计费）$`, `(?m)^  运行记录$`} {
			if !regexp.MustCompile(re).MatchString(text) {
				t.Errorf("%s's printed summary lacks %s:\n%s", name, re, text)
			}
		}
		if regexp.MustCompile(`charged_calls|Billing summary`).MatchString(text) {
			t.Errorf("%s's printed summary is partly English:\n%s", name, text)
		}
	}
	if st := run(t, dir, "status", "--checkpoint", out+".checkpoint.db", "--lang", "fr"); st.code != 2 {
		t.Errorf("status --lang fr: exit %d, want 2", st.code)
	}
}
