package e2e

import (
	"image"
	"image/png"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
)

// TestSummarySheetPicture renders the Summary sheet of a real run over
// samples/cards.xlsx (with the faults of `make run`) to PNG, as LibreOffice
// prints it: through PDF, its last page (the Summary sheet, fitted to one
// page) at 80 dpi. The page must hold the sheet's headings in the run's
// language, in a font that has them (Noto Sans CJK for Chinese), and the
// picture must stay small enough for the README. With CARDBATCH_DOCS set
// to a folder, the pictures are written there as summary-sheet.png and
// summary-sheet-zh.png (the README's pictures:
// CARDBATCH_DOCS=$PWD/docs go test ./e2e -run TestSummarySheetPicture).
func TestSummarySheetPicture(t *testing.T) {
	sample, err := filepath.Abs(filepath.Join("..", "samples", "cards.xlsx"))
	if err != nil {
		t.Fatal(err)
	}
	for _, tt := range []struct {
		lang, file string
		want       []string // text on the page
		font       string   // in the PDF's fonts
	}{
		{"en", "summary-sheet.png", []string{"cardbatch billing summary", "Answers by result code", "Top issuing banks", "cards.xlsx"}, ""},
		{"zh", "summary-sheet-zh.png", []string{"cardbatch 计费汇总", "按结果码统计", "发卡行排名", "cards.xlsx"}, "CJK"},
	} {
		t.Run(tt.lang, func(t *testing.T) {
			dir := t.TempDir()
			out := filepath.Join(dir, "cards-"+tt.lang+".xlsx")
			r := run(t, dir, simRun(sample, out, "--lang", tt.lang, "--retry-base", "20ms",
				"--simulate-faults", "busy-prob=0.05,429-prob=0.02,500-prob=0.01")...)
			if r.code != 0 {
				t.Fatalf("exit %d: %s", r.code, r.stderr)
			}
			pdf := soffice(t, "pdf", out)[0]
			last := lastPage(t, pdf)
			text, err := exec.Command("pdftotext", "-f", last, "-l", last, "-layout", pdf, "-").Output()
			if err != nil {
				t.Fatalf("pdftotext: %v", err)
			}
			for _, w := range tt.want {
				if !strings.Contains(string(text), w) {
					t.Errorf("the Summary page lacks %q:\n%s", w, text)
				}
			}
			if fonts, err := exec.Command("pdffonts", "-f", last, "-l", last, pdf).Output(); err != nil || !strings.Contains(string(fonts), tt.font) {
				t.Errorf("the Summary page's fonts lack %q (apt-get install -y fonts-noto-cjk): %v\n%s", tt.font, err, fonts)
			}
			pic := cropToContent(t, pdfToPNG(t, pdf, last, pictureDPI))
			checkPicture(t, pic)
			if docs := os.Getenv("CARDBATCH_DOCS"); docs != "" {
				data, err := os.ReadFile(pic)
				if err == nil {
					err = os.WriteFile(filepath.Join(docs, tt.file), data, 0o644)
				}
				if err != nil {
					t.Fatal(err)
				}
			}
		})
	}
}

// lastPage returns the number of a PDF's last page.
func lastPage(t *testing.T, pdf string) string {
	t.Helper()
	info, err := exec.Command("pdfinfo", pdf).Output()
	if err != nil {
		t.Fatalf("pdfinfo (apt-get install -y poppler-utils): %v", err)
	}
	for _, l := range strings.Split(string(info), "\n") {
		if f := strings.Fields(l); len(f) == 2 && f[0] == "Pages:" {
			return f[1]
		}
	}
	t.Fatalf("pdfinfo gave no page count:\n%s", info)
	return ""
}

// pictureDPI renders the page so that the sheet, which LibreOffice scales
// down to fit one landscape page, reads at about its size on screen once
// the blank page around it is cut off.
const pictureDPI = 150

// cropToContent cuts the blank margin around the printed sheet off a
// picture (keeping 12 pixels of it) and returns the new picture's path.
func cropToContent(t *testing.T, path string) string {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	img, err := png.Decode(f)
	f.Close()
	if err != nil {
		t.Fatalf("%s is not a PNG: %v", path, err)
	}
	b := img.Bounds()
	box := image.Rectangle{Min: b.Max, Max: b.Min}
	for y := b.Min.Y; y < b.Max.Y; y++ {
		for x := b.Min.X; x < b.Max.X; x++ {
			if r, g, bl, _ := img.At(x, y).RGBA(); r < 0xf000 || g < 0xf000 || bl < 0xf000 {
				box = box.Union(image.Rect(x, y, x+1, y+1))
			}
		}
	}
	if box.Empty() {
		t.Fatalf("%s is blank", path)
	}
	box = image.Rect(box.Min.X-12, box.Min.Y-12, box.Max.X+12, box.Max.Y+12).Intersect(b)
	sub := img.(interface {
		SubImage(image.Rectangle) image.Image
	}).SubImage(box)
	out := filepath.Join(t.TempDir(), "cropped.png")
	w, err := os.Create(out)
	if err != nil {
		t.Fatal(err)
	}
	defer w.Close()
	if err := (&png.Encoder{CompressionLevel: png.BestCompression}).Encode(w, sub); err != nil {
		t.Fatal(err)
	}
	return out
}

// checkPicture: a landscape page picture, under 300 KB.
func checkPicture(t *testing.T, path string) {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	cfg, err := png.DecodeConfig(f)
	if err != nil {
		t.Fatalf("%s is not a PNG: %v", path, err)
	}
	st, err := f.Stat()
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("picture %dx%d, %s bytes", cfg.Width, cfg.Height, strconv.FormatInt(st.Size(), 10))
	if cfg.Width <= cfg.Height || cfg.Width < 800 || st.Size() > 300_000 || st.Size() < 10_000 {
		t.Errorf("picture %dx%d, %d bytes: want a landscape page at least 800 wide, 10-300 KB", cfg.Width, cfg.Height, st.Size())
	}
}
