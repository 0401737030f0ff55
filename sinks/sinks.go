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
	"strings"
	"syscall"

	"cardbatch/billing"
)

// Options says where and how to write the output.
type Options struct {
	Path        string      // .csv or .xlsx (by extension, case-insensitive)
	Header      []string    // the full header: original columns followed by the answer columns; nil writes no header row
	CardColumn  int         // 0-based index of the card column (XLSX: always written as text so Excel never rounds it)
	TextColumns []int       // further 0-based columns to force as text (may be nil)
	Mode        os.FileMode // permission bits of the final file; 0 means 0600
	BOM         bool        // CSV: start with a UTF-8 BOM (for Excel)
	SheetName   string      // XLSX data sheet name; "" means "Results"
	TmpDir      string      // excelize temp folder (excelize.Options.TmpDir); "" means the output's directory
	// StageDir is where the temporary output file is made before Commit
	// renames it into place: it must be on the same file system as Path
	// (a run-owned folder beside the output, so that what a killed run
	// leaves is cleared with that folder); "" means Path's directory.
	StageDir string
}

// Sink writes rows in the order given. Nothing is visible at Path until
// Commit returns nil: rows go to a temporary file in the same directory,
// which Commit syncs and renames into place (replacing an existing file only
// then) and Abort removes. Write is not safe for concurrent use with another
// Write; Abort may be called from any goroutine, at any time.
type Sink interface {
	// Write appends one row, its fields written as given (the caller pads
	// short rows). It returns ErrClosed after Commit or Abort.
	Write(fields []string) error
	// Commit finishes the file and renames it to Path. sum may be nil; an
	// XLSX output gets a "Summary" sheet from it. If Commit fails before
	// the rename, the temporary file is removed and Path is left as it was;
	// an error after the rename (syncing the directory) says so. It returns
	// ErrClosed after Commit or Abort.
	Commit(sum *billing.Summary) error
	// Abort removes the temporary file. It is idempotent and a no-op after
	// Commit.
	Abort() error
}

// DefaultSheetName is the XLSX data sheet's name when Options.SheetName is "".
const DefaultSheetName = "Results"

// SummarySheetName is the name of the XLSX sheet that holds the billing
// summary; the data sheet may not use it.
const SummarySheetName = "Summary"

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
// .csv or .xlsx, and one wrapping fs.ErrNotExist when Path's directory does
// not exist.
func Create(opts Options) (Sink, error) {
	if opts.Path == "" {
		return nil, errors.New("no output path given")
	}
	ext := strings.ToLower(filepath.Ext(opts.Path))
	if ext != ".csv" && ext != ".xlsx" {
		return nil, fmt.Errorf("output %q: %w %q: the supported extensions are .csv and .xlsx",
			opts.Path, ErrUnsupportedFormat, filepath.Ext(opts.Path))
	}
	if err := checkOutputPath(opts.Path); err != nil {
		return nil, err
	}
	if opts.CardColumn < 0 || (len(opts.Header) > 0 && opts.CardColumn >= len(opts.Header)) {
		return nil, fmt.Errorf("card column index %d is outside the header's %d columns", opts.CardColumn, len(opts.Header))
	}
	for _, c := range opts.TextColumns {
		if c < 0 {
			return nil, fmt.Errorf("text column index %d is negative", c)
		}
	}
	if ext == ".csv" {
		return newCSVSink(opts)
	}
	return newXLSXSink(opts)
}

// checkOutputPath refuses a path whose directory is missing or which names a
// directory, so a long run never fails only at the end.
func checkOutputPath(path string) error {
	dir := filepath.Dir(path)
	fi, err := os.Stat(dir)
	switch {
	case errors.Is(err, fs.ErrNotExist):
		return fmt.Errorf("output directory %q does not exist (create it first or choose another output path): %w", dir, fs.ErrNotExist)
	case err != nil:
		return fmt.Errorf("output directory %q: %w", dir, err)
	case !fi.IsDir():
		return fmt.Errorf("output directory %q is not a directory", dir)
	}
	if fi, err := os.Stat(path); err == nil && fi.IsDir() {
		return fmt.Errorf("output %q is a directory; give a file name ending in .csv or .xlsx", path)
	}
	return nil
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
