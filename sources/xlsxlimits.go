package sources

import (
	"archive/zip"
	"errors"
	"fmt"
	"io"
	"os"
	"path"
	"strings"
)

// Limits on what a workbook may unpack to. A workbook past them is refused
// before anything is inflated: XLSX is a ZIP archive, and a small file can
// unpack to gigabytes (a decompression bomb).
const (
	// MaxWorkbookUnpacked is the most all the parts of a workbook may
	// declare together.
	MaxWorkbookUnpacked = 1 << 30
	// MaxSheetUnpacked is the most the read sheet, or the shared strings,
	// may declare or unpack to.
	MaxSheetUnpacked = 512 << 20
	// maxOtherPart is the most any other part that is read (the workbook,
	// styles, theme, relationships) may declare; excelize holds those in
	// memory.
	maxOtherPart = 32 << 20
	// maxBlankRun is the longest run of white space kept in a sheet's XML:
	// more than a cell can hold (32,767 characters), so squeezing longer
	// runs changes no cell, while a bomb of blank space inflates to nothing.
	maxBlankRun = 32 << 10
	// maxTextRun is the most bytes allowed between two tags once blank runs
	// are squeezed: far more than a cell of 32,767 characters written with
	// entities, far less than the memory a bomb would need.
	maxTextRun = 1 << 20
)

// tooBig returns the InputError for a workbook past a limit.
func tooBig(p, what string, size uint64, limit int) *InputError {
	return &InputError{Path: p,
		Problem: fmt.Sprintf("unpacks to more than cardbatch reads: %s declares %s, the limit is %s", what, bytesText(size), sizeText(limit)),
		Hint:    "open it in Excel, delete what is not needed (other sheets, pictures) or save the card sheet as CSV (UTF-8), and try again"}
}

// bytesText renders a size for messages in whole MiB when it is large.
func bytesText(n uint64) string {
	if n >= 1<<20 {
		return fmt.Sprintf("%d MiB", n>>20)
	}
	return fmt.Sprintf("%d bytes", n)
}

// checkDeclared refuses a workbook whose parts declare more than
// MaxWorkbookUnpacked in total. It reads only the central directory.
func checkDeclared(p string, zr *zip.Reader) error {
	var total uint64
	for _, f := range zr.File {
		total += f.UncompressedSize64
		if total > MaxWorkbookUnpacked || f.UncompressedSize64 > MaxWorkbookUnpacked {
			return tooBig(p, "the workbook", max(total, f.UncompressedSize64), MaxWorkbookUnpacked)
		}
	}
	return nil
}

// errPartTooBig is returned when a part unpacks to more than its limit,
// whatever it declared.
var errPartTooBig = errors.New("a part of the workbook unpacks to more than it may")

// errTextRun is returned for a sheet with too much text between two tags.
var errTextRun = errors.New("more than 1 MiB of text between two tags")

// openPart opens a zip entry for reading, bounded to limit bytes of
// inflated data (errPartTooBig past it) whatever the entry declares.
func openPart(zf *zip.File, limit int64) (io.ReadCloser, error) {
	if zf.UncompressedSize64 > uint64(limit) {
		return nil, errPartTooBig
	}
	rc, err := zf.Open()
	if err != nil {
		return nil, err
	}
	return struct {
		io.Reader
		io.Closer
	}{&limitedReader{r: rc, left: limit}, rc}, nil
}

// limitedReader is io.LimitReader that fails instead of ending at the
// limit.
type limitedReader struct {
	r    io.Reader
	left int64
}

func (l *limitedReader) Read(p []byte) (int, error) {
	if l.left <= 0 {
		var one [1]byte
		if n, _ := l.r.Read(one[:]); n > 0 {
			return 0, errPartTooBig
		}
		return l.r.Read(p)
	}
	p = p[:min(int64(len(p)), l.left)]
	n, err := l.r.Read(p)
	l.left -= int64(n)
	return n, err
}

// squeezer passes XML through, dropping white space past maxBlankRun in a
// run (insignificant between tags, and longer than any cell) and failing
// with errTextRun when more than maxTextRun bytes stand between two tags.
// It keeps a decoder from building a token of the size of a bomb.
type squeezer struct {
	r           io.Reader
	blank, text int
}

func newSqueezer(r io.Reader) *squeezer { return &squeezer{r: r} }

func (s *squeezer) Read(p []byte) (int, error) {
	for {
		n, err := s.r.Read(p)
		out := 0
		for i := 0; i < n; i++ {
			c := p[i]
			switch {
			case c > ' ' && c != '<':
				s.blank = 0
			case c == '<':
				s.blank, s.text = 0, 0
			case c == ' ' || c == '\t' || c == '\r' || c == '\n':
				s.blank++
				if s.blank > maxBlankRun {
					continue
				}
			default:
				s.blank = 0
			}
			s.text++
			if s.text > maxTextRun {
				return 0, errTextRun
			}
			p[out] = c
			out++
		}
		if out > 0 || err != nil {
			return out, err
		}
	}
}

// slimPart is how a part goes into the slim copy.
type slimPart struct {
	zf      *zip.File
	squeeze bool // sheet XML or shared strings: squeezed and bounded
}

// slimParts picks the parts excelize needs to read one sheet: the content
// types, the relationships of the package and the workbook, the workbook,
// its styles, theme and shared strings, and the sheet. The rest (other
// sheets, pictures, anything unused) is left out, so that it is never
// inflated.
func slimParts(p string, wb workbookInfo, sheetPart string) ([]slimPart, error) {
	names := []string{"[Content_Types].xml", "_rels/.rels", wb.part}
	dir, base := path.Split(wb.part)
	names = append(names, dir+"_rels/"+base+".rels")
	for _, r := range wb.rels {
		if strings.HasSuffix(r.typ, "/styles") || strings.HasSuffix(r.typ, "/theme") {
			names = append(names, r.target)
		}
	}
	var parts []slimPart
	seen := map[*zip.File]bool{}
	for _, n := range names {
		if zf := lookup(wb.files, n); zf != nil && !seen[zf] {
			if zf.UncompressedSize64 > maxOtherPart {
				return nil, tooBig(p, "the part "+zf.Name, zf.UncompressedSize64, maxOtherPart)
			}
			seen[zf] = true
			parts = append(parts, slimPart{zf: zf})
		}
	}
	for _, n := range []string{wb.sst, sheetPart} {
		if zf := lookup(wb.files, n); n != "" && zf != nil && !seen[zf] {
			if zf.UncompressedSize64 > MaxSheetUnpacked {
				return nil, tooBig(p, "the part "+zf.Name, zf.UncompressedSize64, MaxSheetUnpacked)
			}
			seen[zf] = true
			parts = append(parts, slimPart{zf: zf, squeeze: true})
		}
	}
	return parts, nil
}

// writeSlim writes the parts into a new workbook in dir and returns its
// path: small parts copied compressed as they are, the sheet and the shared
// strings squeezed, bounded and stored uncompressed (compressing them again
// would cost more time than excelize takes to read them). The caller
// removes the file as soon as excelize has read it.
func writeSlim(dir string, parts []slimPart) (name string, err error) {
	f, err := os.CreateTemp(dir, "cardbatch-xlsx-*.xlsx")
	if err != nil {
		return "", fmt.Errorf("sources: creating a temporary file: %w", err)
	}
	defer func() {
		if cerr := f.Close(); err == nil {
			err = cerr
		}
		if err != nil {
			os.Remove(f.Name())
		}
	}()
	zw := zip.NewWriter(f)
	for _, sp := range parts {
		if !sp.squeeze {
			if err := zw.Copy(sp.zf); err != nil {
				return "", err
			}
			continue
		}
		if err := copySqueezed(zw, sp.zf); err != nil {
			return "", err
		}
	}
	return f.Name(), zw.Close()
}

// copySqueezed writes a squeezed, bounded copy of a part into zw.
func copySqueezed(zw *zip.Writer, zf *zip.File) error {
	rc, err := openPart(zf, MaxSheetUnpacked)
	if err != nil {
		return err
	}
	defer rc.Close()
	w, err := zw.CreateHeader(&zip.FileHeader{Name: zf.Name, Method: zip.Store})
	if err != nil {
		return err
	}
	_, err = io.Copy(w, newSqueezer(rc))
	return err
}
