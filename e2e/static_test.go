package e2e

import (
	"bytes"
	"context"
	"debug/elf"
	"encoding/csv"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// The static build: cgo (go-sqlite3) linked statically, glibc's NSS left
// out by the netgo and osusergo tags and SQLite's dlopen by
// sqlite_omit_load_extension. The Dockerfile builds the same way.
var (
	staticTags    = "netgo,osusergo,sqlite_omit_load_extension"
	staticLDFlags = "-linkmode external -extldflags -static"
)

// buildStatic builds the static binary into path.
func buildStatic(t *testing.T, path string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 2*procTimeout)
	defer cancel()
	cmd := exec.CommandContext(ctx, "go", "build", "-tags", staticTags, "-ldflags", staticLDFlags, "-o", path, "cardbatch")
	cmd.Dir = ".."
	cmd.Env = append(os.Environ(), "CGO_ENABLED=1")
	out, err := cmd.CombinedOutput()
	if err != nil || bytes.Contains(out, []byte("warning")) {
		t.Fatalf("static build (a warning means a part of glibc is still loaded at run time): %v\n%s", err, out)
	}
}

// checkStaticELF fails unless path is an ELF executable with no program
// interpreter and no shared library: the kernel runs it alone.
func checkStaticELF(t *testing.T, path string) {
	t.Helper()
	f, err := elf.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	for _, p := range f.Progs {
		if p.Type == elf.PT_INTERP {
			t.Fatalf("%s asks for a program interpreter: it is dynamically linked", path)
		}
	}
	if libs, err := f.ImportedLibraries(); err != nil || len(libs) > 0 {
		t.Fatalf("%s needs shared libraries %v (%v)", path, libs, err)
	}
}

// caBundle returns the host's CA bundle (Debian's ca-certificates).
func caBundle(t *testing.T) []byte {
	t.Helper()
	b, err := os.ReadFile("/etc/ssl/certs/ca-certificates.crt")
	if err != nil {
		t.Fatalf("no CA bundle: install Debian's ca-certificates package (apt-get install -y ca-certificates): %v", err)
	}
	return b
}

// readCSV reads every record of a CSV file.
func readCSV(t *testing.T, path string) [][]string {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	recs, err := csv.NewReader(bytes.NewReader(bytes.TrimPrefix(b, []byte("\xef\xbb\xbf")))).ReadAll()
	if err != nil {
		t.Fatalf("%s: %v", path, err)
	}
	return recs
}

// The static binary runs alone: inside an empty root (chroot) holding only
// itself, a CA bundle and a writable /tmp, with an empty environment (no
// HOME, no PATH), `run --simulate` enriches the sample file: every input row
// is in the output, with its own cells and a final status.
func TestStaticBinaryRunsInAnEmptyRoot(t *testing.T) {
	t.Parallel()
	chroot := program(t, "chroot", "coreutils")
	root := t.TempDir()
	binPath := filepath.Join(root, "cardbatch")
	buildStatic(t, binPath)
	checkStaticELF(t, binPath)
	if err := os.MkdirAll(filepath.Join(root, "etc", "ssl", "certs"), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(root, "etc", "ssl", "certs", "ca-certificates.crt"), caBundle(t), 0o644); err != nil {
		t.Fatal(err)
	}
	tmp := filepath.Join(root, "tmp")
	if err := os.Mkdir(tmp, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.Chmod(tmp, 0o1777); err != nil {
		t.Fatal(err)
	}
	sample, err := os.ReadFile(filepath.Join("..", "samples", "cards.csv"))
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(tmp, "cards.csv"), sample, 0o600); err != nil {
		t.Fatal(err)
	}

	ctx, cancel := context.WithTimeout(context.Background(), procTimeout)
	defer cancel()
	cmd := exec.CommandContext(ctx, chroot, root, "/cardbatch", "run", "--simulate", "--input", "/tmp/cards.csv",
		"--output", "/tmp/out.csv", "--rate", "0", "--no-progress", "-q")
	cmd.Env = []string{}
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("chroot %s /cardbatch run --simulate (as root; the test needs the right to chroot): %v\n%s", root, err, out)
	}

	in, got := readCSV(t, filepath.Join(tmp, "cards.csv")), readCSV(t, filepath.Join(tmp, "out.csv"))
	if len(in) < 2 || len(got) != len(in) {
		t.Fatalf("output has %d records, input %d (header included)", len(got), len(in))
	}
	status := -1
	for i, h := range got[0] {
		if h == "status" {
			status = i
		}
	}
	if status < 0 {
		t.Fatalf("no status column: %v", got[0])
	}
	for i := 1; i < len(in); i++ {
		if strings.Join(got[i][:len(in[i])], "\x00") != strings.Join(in[i], "\x00") || got[i][status] == "" {
			t.Fatalf("row %d: output %q does not carry the input's %q with a status", i, got[i], in[i])
		}
	}
	t.Logf("%d rows enriched inside %s, which holds only the binary, a CA bundle and /tmp; its output:\n%s", len(in)-1, root, out)
}
