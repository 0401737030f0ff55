// Package pgtest starts a throwaway PostgreSQL server for tests: Debian's
// postgresql binaries, a fresh cluster made with initdb in a temporary
// folder, run by an unprivileged user (the postgres system user when the
// tests run as root), listening only on 127.0.0.1 on a free port, with
// password authentication, stopped and removed when the test ends.
package pgtest

import (
	"context"
	"database/sql"
	"fmt"
	"net"
	"net/url"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"testing"
	"time"

	_ "github.com/jackc/pgx/v5/stdlib" // the database/sql driver "pgx"
)

// Password is the superuser's password in every server Start makes.
const Password = "s3cret-pw-9f2c"

// Server is a running test server.
type Server struct {
	Port int
	// Setup is how long making and starting the cluster took.
	Setup time.Duration
	t     testing.TB
}

// URL returns the connection URL of database db as the superuser.
func (s *Server) URL(db string) string {
	return fmt.Sprintf("postgres://postgres:%s@127.0.0.1:%d/%s?sslmode=disable", url.QueryEscape(Password), s.Port, db)
}

// NewDB creates an empty database and returns its URL.
func (s *Server) NewDB(name string) string {
	s.t.Helper()
	db, err := sql.Open("pgx", s.URL("postgres"))
	if err != nil {
		s.t.Fatal(err)
	}
	defer db.Close()
	if _, err := db.ExecContext(context.Background(), "CREATE DATABASE "+name); err != nil {
		s.t.Fatalf("create database %s: %v", name, err)
	}
	return s.URL(name)
}

// binDir finds Debian's PostgreSQL binaries (the newest version).
func binDir() (string, error) {
	dirs, _ := filepath.Glob("/usr/lib/postgresql/*/bin")
	sort.Slice(dirs, func(i, j int) bool { return version(dirs[i]) < version(dirs[j]) })
	for i := len(dirs) - 1; i >= 0; i-- {
		if _, err := os.Stat(filepath.Join(dirs[i], "initdb")); err == nil {
			return dirs[i], nil
		}
	}
	return "", fmt.Errorf("PostgreSQL is not installed (no /usr/lib/postgresql/*/bin/initdb): apt-get install -y postgresql")
}

func version(dir string) int {
	n, _ := strconv.Atoi(filepath.Base(filepath.Dir(dir)))
	return n
}

// Start makes and starts a server; it fails the test, naming the Debian
// package, when PostgreSQL is not installed.
func Start(t testing.TB) *Server {
	t.Helper()
	begin := time.Now()
	bin, err := binDir()
	if err != nil {
		t.Fatal(err)
	}
	dir, err := os.MkdirTemp("", "cardbatch-pg-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	as, err := unprivileged(dir)
	if err != nil {
		t.Fatal(err)
	}
	pwfile := filepath.Join(dir, "pw")
	if err := os.WriteFile(pwfile, []byte(Password+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := as.chown(pwfile); err != nil {
		t.Fatal(err)
	}
	data := filepath.Join(dir, "data")
	as.run(t, filepath.Join(bin, "initdb"), "-D", data, "-U", "postgres", "--pwfile", pwfile,
		"--auth-host=scram-sha-256", "--auth-local=trust", "-E", "UTF8", "--no-instructions")
	port := freePort(t)
	opts := fmt.Sprintf("-c listen_addresses=127.0.0.1 -p %d -c unix_socket_directories=%s -c fsync=off", port, dir)
	as.run(t, filepath.Join(bin, "pg_ctl"), "-D", data, "-l", filepath.Join(dir, "log"), "-o", opts, "-w", "-t", "60", "start")
	t.Cleanup(func() {
		cmd := as.cmd(filepath.Join(bin, "pg_ctl"), "-D", data, "-m", "fast", "-w", "stop")
		if out, err := cmd.CombinedOutput(); err != nil {
			t.Errorf("stop PostgreSQL: %v\n%s", err, out)
		}
	})
	return &Server{Port: port, Setup: time.Since(begin), t: t}
}

// runner runs PostgreSQL's programs as an unprivileged user.
type runner struct{ user string } // "" when the tests themselves are not root

// unprivileged prepares dir for the user the server will run as: the
// postgres system user (created when missing) when the tests run as root.
func unprivileged(dir string) (runner, error) {
	if os.Geteuid() != 0 {
		return runner{}, nil
	}
	if _, err := user.Lookup("postgres"); err != nil {
		if out, err := exec.Command("useradd", "--system", "--no-create-home", "postgres").CombinedOutput(); err != nil {
			return runner{}, fmt.Errorf("create the postgres user: %v: %s", err, out)
		}
	}
	r := runner{user: "postgres"}
	return r, r.chown(dir)
}

func (r runner) chown(path string) error {
	if r.user == "" {
		return nil
	}
	u, err := user.Lookup(r.user)
	if err != nil {
		return err
	}
	uid, _ := strconv.Atoi(u.Uid)
	gid, _ := strconv.Atoi(u.Gid)
	return os.Chown(path, uid, gid)
}

func (r runner) cmd(name string, args ...string) *exec.Cmd {
	if r.user == "" {
		return exec.Command(name, args...)
	}
	return exec.Command("runuser", append([]string{"-u", r.user, "--", name}, args...)...)
}

func (r runner) run(t testing.TB, name string, args ...string) {
	t.Helper()
	if out, err := r.cmd(name, args...).CombinedOutput(); err != nil {
		t.Fatalf("%s %s: %v\n%s", filepath.Base(name), strings.Join(args, " "), err, out)
	}
}

// freePort returns a loopback port nobody listens on now.
func freePort(t testing.TB) int {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port
}
