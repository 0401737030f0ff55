// Command launch runs one command and reports what it cost, for `make
// bench` (tools/bench/cmd/benchtable builds and uses it):
//
//	launch RESULT.json ARGV...
//
// runs ARGV with this process's standard streams, working folder and
// environment, waits for it, and writes the wall-clock time it was started,
// its wall time, user and system CPU time, peak RSS (ru_maxrss, KiB), exit
// code, and this launcher's own peak RSS to RESULT.json. SIGINT and SIGTERM
// sent to the launcher are passed on to the command. It exits 0 once
// RESULT.json is written.
//
// Why a separate, minimal process: on Linux a child's ru_maxrss is at least
// the peak RSS of the process that spawned it (at exec the kernel keeps the
// high-water mark of the memory the child shared with its parent), and the
// benchmark holds a million card numbers. Started from this small program,
// a tool's peak RSS is its own, give or take the launcher's ~2 MB (which is
// reported as the measure's floor).
package main

import (
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"os/signal"
	"strconv"
	"strings"
	"syscall"
	"time"
)

// Result is what the launcher writes; benchtable reads the same fields.
type Result struct {
	StartUnixNS int64  `json:"start_unix_ns"` // just before the command was started
	WallNS      int64  `json:"wall_ns"`
	UserNS      int64  `json:"user_ns"`
	SysNS       int64  `json:"sys_ns"`
	MaxRSSKiB   int64  `json:"maxrss_kib"`
	Exit        int    `json:"exit"`
	LauncherKiB int64  `json:"launcher_hwm_kib"` // the floor of MaxRSSKiB
	Err         string `json:"error,omitempty"`
}

func main() {
	if len(os.Args) < 3 {
		fmt.Fprintln(os.Stderr, "usage: launch RESULT.json ARGV...")
		os.Exit(2)
	}
	var r Result
	r.LauncherKiB = selfHWM()
	cmd := exec.Command(os.Args[2], os.Args[3:]...)
	cmd.Stdin, cmd.Stdout, cmd.Stderr = os.Stdin, os.Stdout, os.Stderr
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	sigs := make(chan os.Signal, 2)
	signal.Notify(sigs, os.Interrupt, syscall.SIGTERM)
	start := time.Now()
	r.StartUnixNS = start.UnixNano()
	err := cmd.Start()
	if err == nil {
		go func() {
			for s := range sigs {
				_ = cmd.Process.Signal(s)
			}
		}()
		err = cmd.Wait()
	}
	r.WallNS = int64(time.Since(start))
	var ee *exec.ExitError
	if err != nil && !errors.As(err, &ee) {
		r.Err = err.Error()
	}
	if ps := cmd.ProcessState; ps != nil {
		r.UserNS, r.SysNS, r.Exit = int64(ps.UserTime()), int64(ps.SystemTime()), ps.ExitCode()
		if ru, ok := ps.SysUsage().(*syscall.Rusage); ok {
			r.MaxRSSKiB = ru.Maxrss // KiB on Linux
		}
	}
	bs, _ := json.Marshal(r)
	if err := os.WriteFile(os.Args[1], bs, 0o644); err != nil {
		fmt.Fprintln(os.Stderr, "launch:", err)
		os.Exit(1)
	}
}

// selfHWM returns this process's peak RSS so far in KiB (VmHWM).
func selfHWM() int64 {
	bs, err := os.ReadFile("/proc/self/status")
	if err != nil {
		return 0
	}
	for _, l := range strings.Split(string(bs), "\n") {
		if f := strings.Fields(l); len(f) >= 2 && f[0] == "VmHWM:" {
			v, _ := strconv.ParseInt(f[1], 10, 64)
			return v
		}
	}
	return 0
}
