// Package sinks writes the enriched rows of a run (CSV or XLSX, in the order
// given, atomically) and renders its billing summary (JSON file, table for a
// terminal, and the "Summary" sheet of an XLSX output).
//
// Every file this package produces appears at its final path only once it is
// complete: it is written to a temporary file in the same directory, synced,
// and renamed into place. A run that stops early therefore never leaves a
// half-written output, and an earlier output at the same path survives until
// the new one replaces it whole. The package logs nothing, so no card number
// can leak from it.
package sinks

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"syscall"
	"time"
	"unicode/utf16"

	"github.com/xuri/excelize/v2"

	"cardbatch/billing"
	"cardbatch/sources"
)

// Options says where and how to write the output.
type Options struct {
	Path string // .csv or .xlsx (by extension, case-insensitive)
	// Header is the input's header: its column names, without the added
	// ones (the sink appends AddedColumns(Lang, Prefix)). nil writes no
	// header row.
	Header     []string
	CardColumn int         // 0-based index of the card column (XLSX: written as text so Excel never rounds it)
	Mode       os.FileMode // permission bits of the final file; 0 means 0600
	TmpDir     string      // excelize temporary folder (excelize.Options.TmpDir); "" means the output's folder
	// StageDir is where the temporary output file is made before Commit
	// renames it into place: it must be on the same file system as Path
	// (a run-owned folder beside the output, so that what a killed run
	// leaves is cleared with that folder); "" means Path's folder.
	StageDir string

	Lang      string // "en" (default when "") or "zh": added column names, account_type_name values, the Summary sheet
	Prefix    string // put before every added column name
	BOM       bool   // CSV: start with a UTF-8 BOM (for Excel)
	Delimiter rune   // CSV: the input's delimiter; 0 means ','
	CSVSafe   bool   // CSV: neutralise formula-like cells of the input's own columns too
	MaskCard  bool   // write the card column masked (first 6 and last 4 digits)

	// InputPath and Sheet name the input workbook and its card sheet when
	// the input is XLSX ("" Sheet: the first sheet). An XLSX output is then
	// that workbook with the added columns; otherwise a fresh workbook.
	InputPath string
	Sheet     string
	InputName string  // the input file's name, shown on the Summary sheet
	Price     float64 // per charged call; the Summary sheet shows the cost when > 0

	// SummaryPath is the JSON summary's path, checked by CheckFits only.
	SummaryPath string
}

// Answer is what cardbatch adds to one output row.
type Answer struct {
	Result, Description, AccountBank string
	AccountType                      int // 0 = none
	Billing, Status, Error           string
	AnsweredAt                       time.Time // zero when the row has no answer
}

// Sink writes rows in the order given. Nothing is visible at Path until
// Commit returns nil: rows go to a temporary file in the same directory,
// which Commit syncs and renames into place (replacing an existing file only
// then) and Abort removes. Write is not safe for concurrent use with another
// Write; Abort may be called from any goroutine, at any time.
type Sink interface {
	// Write appends one input row followed by its answer, in input order.
	// It returns ErrClosed after Commit or Abort. Call Options.FitsRow on
	// each row before paying for it: Write fails on a row that does not fit.
	Write(row sources.Row, a Answer) error
	// Commit finishes the file and renames it to Path. sum may be nil; an
	// XLSX output gets a Summary sheet from it. If Commit fails before the
	// rename, the temporary file is removed and Path is left as it was; an
	// error after the rename (syncing the folder) says so. It returns
	// ErrClosed after Commit or Abort.
	Commit(sum *billing.Summary) error
	// Abort removes the temporary file. It is idempotent and a no-op after
	// Commit.
	Abort() error
}

// ErrUnsupportedFormat is returned (wrapped) by Create for a Path whose
// extension is neither .csv nor .xlsx.
var ErrUnsupportedFormat = errors.New("unsupported output format")

// ErrClosed is returned by Write and Commit once the sink has been committed
// or aborted.
var ErrClosed = errors.New("output already committed or aborted")

// defaultMode is the permission of output files when Options.Mode is 0: the
// output holds card numbers, so only its owner may read it.
const defaultMode os.FileMode = 0o600

// Create validates opts and opens a sink for opts.Path. It creates only a
// temporary file next to Path; Path itself is untouched until Commit. It
// returns an error wrapping ErrUnsupportedFormat for an extension other than
// .csv or .xlsx, and one wrapping fs.ErrNotExist when Path's folder does
// not exist.
func Create(opts Options) (Sink, error) {
	ext, err := opts.check()
	if err != nil {
		return nil, err
	}
	if err := checkOutputPath(opts.Path); err != nil {
		return nil, err
	}
	switch {
	case ext == ".csv":
		return newCSVSink(opts)
	case opts.InputPath != "":
		return newKeepSink(opts)
	}
	return newXLSXSink(opts)
}

// check validates the fields of opts that need no file system and returns
// Path's extension in lower case.
func (opts *Options) check() (string, error) {
	if opts.Path == "" {
		return "", errors.New("no output path given")
	}
	ext := strings.ToLower(filepath.Ext(opts.Path))
	if ext != ".csv" && ext != ".xlsx" {
		return "", fmt.Errorf("output %q: %w %q: the supported extensions are .csv and .xlsx",
			opts.Path, ErrUnsupportedFormat, filepath.Ext(opts.Path))
	}
	if opts.CardColumn < 0 || (len(opts.Header) > 0 && opts.CardColumn >= len(opts.Header)) {
		return "", fmt.Errorf("card column index %d is outside the header's %d columns", opts.CardColumn, len(opts.Header))
	}
	if _, err := langOf(opts.Lang); err != nil {
		return "", err
	}
	return ext, nil
}

// CheckFits tells, before anything is sent, whether the output can be
// written: XLSX can hold the header and the added columns (at most 16,384
// columns), the output and summary paths are creatable (their folder
// exists and is writable, the path is not under a regular file, not a
// folder and not a symbolic link). Its messages say what to do next.
func CheckFits(opts Options) error {
	ext, err := opts.check()
	if err != nil {
		return err
	}
	if ext == ".xlsx" {
		width := len(opts.Header) + len(addedKeys)
		if width > excelize.MaxColumns {
			return fmt.Errorf("an XLSX sheet holds at most %s columns; this output needs %s (the input's %s and %d added): write a .csv output instead",
				formatInt(excelize.MaxColumns), formatInt(int64(width)), formatInt(int64(len(opts.Header))), len(addedKeys))
		}
	}
	if err := checkCreatable("output", opts.Path); err != nil {
		return err
	}
	if opts.SummaryPath != "" {
		return checkCreatable("summary", opts.SummaryPath)
	}
	return nil
}

// FitsRow reports whether row can be written to this output, so that the
// caller can refuse it before paying for its call: an XLSX cell holds at
// most 32,767 characters and a sheet at most 1,048,576 rows and 16,384
// columns. A CSV output holds any row. Added cells are cut to the limit by
// Write (they come from the API), so they never make a row unfit.
func (opts Options) FitsRow(row sources.Row) error {
	if !strings.EqualFold(filepath.Ext(opts.Path), ".xlsx") {
		return nil
	}
	sheetRow := row.Index + 2 // a fresh workbook: header in row 1
	if opts.InputPath != "" {
		sheetRow = row.Line + 1 // kept in place; one more when a header must be inserted
	}
	if sheetRow > excelize.TotalRows {
		return fmt.Errorf("row %d: an XLSX sheet holds at most %s rows: write a .csv output instead",
			row.Line, formatInt(excelize.TotalRows))
	}
	width := max(len(row.Fields), len(row.Cells)) + len(addedKeys)
	if width > excelize.MaxColumns {
		return fmt.Errorf("row %d has %s cells with the added columns; an XLSX sheet holds at most %s columns: write a .csv output instead",
			row.Line, formatInt(int64(width)), formatInt(excelize.MaxColumns))
	}
	for i, v := range row.Fields {
		if tooLong(v) {
			return cellTooLong(row.Line, i)
		}
	}
	for i, c := range row.Cells {
		if tooLong(c.Value) {
			return cellTooLong(row.Line, i)
		}
	}
	return nil
}

func cellTooLong(line, col int) error {
	name, _ := excelize.ColumnNumberToName(col + 1)
	return fmt.Errorf("row %d, column %s: a cell holds more than %s characters, the XLSX limit: write a .csv output instead",
		line, name, formatInt(excelize.TotalCellChars))
}

// tooLong reports whether v has more than excelize.TotalCellChars UTF-16
// code units (Excel's count of characters).
func tooLong(v string) bool {
	return len(v) > excelize.TotalCellChars && len(utf16.Encode([]rune(v))) > excelize.TotalCellChars
}

// checkOutputPath refuses a path whose folder is missing or which names a
// folder, so a long run never fails only at the end.
func checkOutputPath(path string) error {
	dir := filepath.Dir(path)
	fi, err := os.Stat(dir)
	switch {
	case errors.Is(err, fs.ErrNotExist):
		return fmt.Errorf("output folder %q does not exist (create it first or choose another output path): %w", dir, fs.ErrNotExist)
	case errors.Is(err, syscall.ENOTDIR) || (err == nil && !fi.IsDir()):
		return fmt.Errorf("output %q: %q is a file, not a folder: choose a path in an existing folder", path, dir)
	case err != nil:
		return fmt.Errorf("output folder %q: %w", dir, err)
	}
	if fi, err := os.Lstat(path); err == nil && fi.IsDir() {
		return fmt.Errorf("output %q is a folder; give a file name ending in .csv or .xlsx", path)
	}
	return nil
}

// checkCreatable checks that a file can be created at path (what names the
// file in messages): checkOutputPath, and the path is not a symbolic link,
// and a file can be made in its folder.
func checkCreatable(what, path string) error {
	if err := checkOutputPath(path); err != nil {
		if what != "output" {
			return fmt.Errorf("%s: %w", what, err)
		}
		return err
	}
	if fi, err := os.Lstat(path); err == nil && fi.Mode()&fs.ModeSymlink != 0 {
		return fmt.Errorf("%s %q is a symbolic link; cardbatch does not write through links: remove it or choose another path", what, path)
	}
	dir := filepath.Dir(path)
	f, err := os.CreateTemp(dir, ".cardbatch-check-*")
	if err != nil {
		return fmt.Errorf("%s %q cannot be created in folder %q (%w): make the folder writable or choose another path", what, path, dir, err)
	}
	name := f.Name()
	_ = f.Close()
	return os.Remove(name)
}

// fileMode returns the permission bits to give the final file.
func fileMode(m os.FileMode) os.FileMode {
	if m.Perm() == 0 {
		return defaultMode
	}
	return m.Perm()
}

// createTemp creates the temporary file for path in path's directory, named
// ".<base>.tmp-*", with the given permission bits.
func createTemp(path, stageDir string, mode os.FileMode) (*os.File, error) {
	dir, base := filepath.Split(path)
	if dir == "" {
		dir = "."
	}
	if stageDir != "" {
		dir = stageDir
	}
	f, err := os.CreateTemp(dir, "."+base+".tmp-*")
	if err != nil {
		return nil, fmt.Errorf("create temporary file for %q: %w", path, err)
	}
	if err := f.Chmod(fileMode(mode)); err != nil {
		_ = f.Close()
		_ = os.Remove(f.Name())
		return nil, fmt.Errorf("set mode of temporary file for %q: %w", path, err)
	}
	return f, nil
}

// commitTemp syncs and closes f, renames it to path and syncs the directory so
// the rename itself survives a crash. On error f is closed and removed and
// path is left as it was (unless the rename itself already happened).
func commitTemp(f *os.File, path string) error {
	tmp := f.Name()
	if err := f.Sync(); err != nil {
		_ = f.Close()
		_ = os.Remove(tmp)
		return fmt.Errorf("sync %q: %w", tmp, err)
	}
	if err := f.Close(); err != nil {
		_ = os.Remove(tmp)
		return fmt.Errorf("close %q: %w", tmp, err)
	}
	if err := os.Rename(tmp, path); err != nil {
		_ = os.Remove(tmp)
		return fmt.Errorf("rename %q to %q: %w", tmp, path, err)
	}
	if err := syncDir(filepath.Dir(path)); err != nil {
		return fmt.Errorf("output %q written, but syncing its directory failed: %w", path, err)
	}
	return nil
}

// discardTemp closes and removes a temporary file, ignoring a file that is
// already closed or gone.
func discardTemp(f *os.File) error {
	cerr := f.Close()
	rerr := os.Remove(f.Name())
	if rerr != nil && !errors.Is(rerr, fs.ErrNotExist) {
		return fmt.Errorf("remove temporary file %q: %w", f.Name(), rerr)
	}
	if cerr != nil && !errors.Is(cerr, os.ErrClosed) {
		return fmt.Errorf("close temporary file %q: %w", f.Name(), cerr)
	}
	return nil
}

// syncDir fsyncs a directory. File systems that cannot sync a directory
// (EINVAL, ENOTSUP) are not an error: there is nothing more to do on them.
func syncDir(dir string) error {
	if runtime.GOOS == "windows" {
		return nil // Windows cannot flush a folder; its renames are durable with the file's own flush
	}
	d, err := os.Open(dir)
	if err != nil {
		return err
	}
	err = d.Sync()
	if errors.Is(err, syscall.EINVAL) || errors.Is(err, syscall.ENOTSUP) {
		err = nil
	}
	if cerr := d.Close(); err == nil {
		err = cerr
	}
	return err
}
