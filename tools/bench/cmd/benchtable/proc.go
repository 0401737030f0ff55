package main

import (
	"bytes"
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"time"
)

// measure is what one finished subprocess cost.
type measure struct {
	start     time.Time // just before the launcher started it
	wall      time.Duration
	user, sys time.Duration
	maxrssKiB int64
	busy      float64       // CPU seconds the whole machine spent meanwhile (/proc/stat)
	stopped   time.Duration // from SIGINT to its exit (0 when it was not interrupted)
	exit      int
	tail      string // the end of its stderr, when it failed
}

func (m measure) cpu() float64   { return (m.user + m.sys).Seconds() }
func (m measure) rssMB() float64 { return float64(m.maxrssKiB) * 1024 / 1e6 }

// launchResult is what tools/bench/cmd/launch writes (its Result).
type launchResult struct {
	StartUnixNS int64  `json:"start_unix_ns"`
	WallNS      int64  `json:"wall_ns"`
	UserNS      int64  `json:"user_ns"`
	SysNS       int64  `json:"sys_ns"`
	MaxRSSKiB   int64  `json:"maxrss_kib"`
	Exit        int    `json:"exit"`
	LauncherKiB int64  `json:"launcher_hwm_kib"`
	Err         string `json:"error,omitempty"`
}

// copyFile copies an executable.
func copyFile(from, to string) error {
	bs, err := os.ReadFile(from)
	if err != nil {
		return err
	}
	return os.WriteFile(to, bs, 0o755)
}

// buildLauncher builds tools/bench/cmd/launch into the temporary folder. Every
// tool runs through it: on Linux a child's ru_maxrss is at least the peak
// RSS of the process that spawned it, and this program holds a million
// card numbers while it writes the inputs; the small launcher's ~2 MB are
// the floor of the measure.
func buildLauncher(work string) (string, error) {
	goBin, err := exec.LookPath("go")
	if err != nil {
		return "", fmt.Errorf("build the launcher: %w (put the go command on PATH)", err)
	}
	out := filepath.Join(work, "launch")
	cmd := exec.Command(goBin, "build", "-o", out, "./tools/bench/cmd/launch")
	cmd.Stdout, cmd.Stderr = os.Stderr, os.Stderr
	if err := cmd.Run(); err != nil {
		return "", fmt.Errorf("build the launcher (go build ./tools/bench/cmd/launch): %w", err)
	}
	return out, nil
}

// runTool runs argv in dir through the launcher (see buildLauncher), with
// stdout and stderr in files. With stopAfter > 0 the tool gets SIGINT once
// stopAfter has passed since it started, if it is still running. A non-zero
// exit is not an error (it is reported); failing to start is.
func (b *bench) runTool(dir, name string, argv []string, stopAfter time.Duration) (measure, error) {
	stdout, err := os.Create(filepath.Join(dir, name+".stdout"))
	if err != nil {
		return measure{}, err
	}
	defer stdout.Close()
	errPath := filepath.Join(dir, name+".stderr")
	stderr, err := os.Create(errPath)
	if err != nil {
		return measure{}, err
	}
	defer stderr.Close()
	resPath := filepath.Join(dir, name+".rusage.json")
	cmd := exec.Command(b.launcher, append([]string{resPath}, argv...)...)
	cmd.Dir = dir
	// cardbatch's answer cache lives in the user's cache folder: give each
	// run folder its own, so that no run answers from an earlier one and the
	// benchmark leaves nothing in the user's real cache.
	cmd.Env = append(slices.Clone(b.env), "XDG_CACHE_HOME="+filepath.Join(dir, "xdg-cache"))
	cmd.Stdout, cmd.Stderr = stdout, stderr
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	busy0 := machineBusy()
	if err := cmd.Start(); err != nil {
		return measure{}, fmt.Errorf("%s (launcher): %w", name, err)
	}
	stopped, err := waitOrStop(cmd, stopAfter)
	if err != nil {
		return measure{}, fmt.Errorf("%s (launcher): %w", name, err)
	}
	m, err := readLaunch(resPath, name)
	if err != nil {
		return measure{}, err
	}
	m.busy, m.stopped = machineBusy()-busy0, stopped
	b.floorKiB = max(b.floorKiB, launcherFloor(resPath))
	if m.exit != 0 {
		m.tail = tailOf(errPath, 300)
	}
	return m, nil
}

// waitOrStop waits for the launcher; with stopAfter > 0 it sends it SIGINT
// (which it passes on) after stopAfter, and returns how long the tool took
// from then to its exit.
func waitOrStop(cmd *exec.Cmd, stopAfter time.Duration) (time.Duration, error) {
	waited := make(chan error, 1)
	go func() { waited <- cmd.Wait() }()
	if stopAfter <= 0 {
		return 0, <-waited
	}
	select {
	case err := <-waited:
		return 0, err
	case <-time.After(stopAfter):
	}
	sent := time.Now()
	_ = cmd.Process.Signal(os.Interrupt)
	err := <-waited
	return time.Since(sent), err
}

func readLaunch(resPath, name string) (measure, error) {
	var r launchResult
	if bs, err := os.ReadFile(resPath); err != nil {
		return measure{}, err
	} else if err := json.Unmarshal(bs, &r); err != nil {
		return measure{}, fmt.Errorf("%s: %w", resPath, err)
	}
	if r.Err != "" {
		return measure{}, fmt.Errorf("%s: %s", name, r.Err)
	}
	return measure{start: time.Unix(0, r.StartUnixNS), wall: time.Duration(r.WallNS), user: time.Duration(r.UserNS),
		sys: time.Duration(r.SysNS), maxrssKiB: r.MaxRSSKiB, exit: r.Exit}, nil
}

// launcherFloor returns the launcher's own peak RSS recorded in resPath.
func launcherFloor(resPath string) int64 {
	var r launchResult
	bs, _ := os.ReadFile(resPath)
	_ = json.Unmarshal(bs, &r)
	return r.LauncherKiB
}

// machineBusy returns the CPU seconds all cores have spent busy since boot
// (/proc/stat: user, nice, system, irq, softirq, steal), or 0 when unknown.
func machineBusy() float64 {
	bs, err := os.ReadFile("/proc/stat")
	if err != nil {
		return 0
	}
	f := strings.Fields(firstLine(bs))
	if len(f) < 9 || f[0] != "cpu" {
		return 0
	}
	var j float64
	for _, i := range []int{1, 2, 3, 6, 7, 8} {
		v, _ := strconv.ParseFloat(f[i], 64)
		j += v
	}
	return j / 100 // USER_HZ is 100 on Linux
}

// others records how many cores processes other than the measured tool and
// its simulator kept busy during a run: the benchmark's noise.
func (b *bench) others(m measure, sim float64) {
	if m.busy > 0 && m.wall > 0 {
		b.res.add("noise.cores", max(0, (m.busy-m.cpu()-sim)/m.wall.Seconds()))
	}
}

func tailOf(path string, n int) string {
	bs, _ := os.ReadFile(path)
	s := strings.TrimSpace(string(bs))
	if len(s) > n {
		s = "…" + s[len(s)-n:]
	}
	return strings.Join(strings.Fields(s), " ")
}

// simProc is one `cardbatch simulate` subprocess.
type simProc struct {
	cmd  *exec.Cmd
	addr string
	done bool
	cpu  float64 // CPU seconds, once stopped
}

// startSim starts a simulator on a free loopback port and waits until its
// ledger answers.
func (b *bench) startSim(dir string, extra ...string) (*simProc, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, err
	}
	addr := ln.Addr().String()
	ln.Close()
	args := append([]string{"simulate", "--addr", addr, "--seed", simSeed}, extra...)
	cmd := exec.Command(b.bin, args...)
	cmd.Dir = dir
	logFile, err := os.Create(filepath.Join(dir, "simulator.stderr"))
	if err != nil {
		return nil, err
	}
	defer logFile.Close() // the child keeps its own descriptor
	cmd.Stdout, cmd.Stderr = logFile, logFile
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	s := &simProc{cmd: cmd, addr: addr}
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("start the simulator: %w", err)
	}
	deadline := time.Now().Add(15 * time.Second)
	for {
		if _, err := s.ledger(); err == nil {
			return s, nil
		}
		if time.Now().After(deadline) {
			s.stop()
			return nil, fmt.Errorf("the simulator on %s did not answer within 15 s: %s", addr, tailOf(filepath.Join(dir, "simulator.stderr"), 300))
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// ledgerJSON is the simulator's GET /_sim/ledger.
type ledgerJSON struct {
	Calls             int64            `json:"calls"`
	Charged           int64            `json:"charged"`
	ByResult          map[string]int64 `json:"by_result"`
	ByStatus          map[string]int64 `json:"by_status"`
	MaxCallsPerSecond int64            `json:"max_calls_per_second"`
	FirstCall         time.Time        `json:"first_call"`
	LastCall          time.Time        `json:"last_call"`
}

// span is the time from the first to the latest call (0 when unknown).
func (l ledgerJSON) span() time.Duration {
	if l.FirstCall.IsZero() || l.LastCall.IsZero() {
		return 0
	}
	return l.LastCall.Sub(l.FirstCall)
}

// achieved is the rate of calls between the first and the latest (0 when
// unknown).
func (l ledgerJSON) achieved() float64 {
	if s := l.span(); s > 0 {
		return float64(l.Calls-1) / s.Seconds()
	}
	return 0
}

var ledgerClient = &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{DisableKeepAlives: true}}

func (s *simProc) ledger() (ledgerJSON, error) {
	var l ledgerJSON
	resp, err := ledgerClient.Get("http://" + s.addr + ledgerPath)
	if err != nil {
		return l, err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return l, fmt.Errorf("ledger: HTTP %d", resp.StatusCode)
	}
	return l, json.NewDecoder(resp.Body).Decode(&l)
}

// stop interrupts the simulator (it shuts down gracefully), waits for it,
// and records its CPU seconds. It is idempotent.
func (s *simProc) stop() {
	if s.done {
		return
	}
	s.done = true
	_ = s.cmd.Process.Signal(os.Interrupt)
	waited := make(chan error, 1)
	go func() { waited <- s.cmd.Wait() }()
	select {
	case <-waited:
	case <-time.After(10 * time.Second):
		_ = s.cmd.Process.Kill()
		<-waited
	}
	if ps := s.cmd.ProcessState; ps != nil {
		s.cpu = (ps.UserTime() + ps.SystemTime()).Seconds()
	}
}

// finish reads the simulator's ledger, stops it, and records the noise of
// the run m measured against it.
func (b *bench) finish(s *simProc, m measure) (ledgerJSON, error) {
	led, err := s.ledger()
	s.stop()
	b.others(m, s.cpu)
	return led, err
}

func firstLine(b []byte) string {
	s, _, _ := bytes.Cut(b, []byte("\n"))
	return strings.TrimSpace(string(s))
}
