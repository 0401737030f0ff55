package cardapi

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
)

// benchAnswer is the server's answer in BenchmarkCheck: the API document's
// example.
const benchAnswer = `{"result":"0","description":"Query successful","account_bank":"Industrial and Commercial Bank of China","account_type":1}`

// BenchmarkCheck measures one call on the client's own net/http transport
// with keep-alive connections, against a loopback server in a child
// process, so that allocs/op and cpu-ns/op (user + system CPU time of this
// process per call, where the platform reports it) are the client's alone.
// Callers: 1 (one call at a time), and 32 (the default pool, all busy).
// The "bare" runs make the same call with a plain http.Client and a
// json.Decoder: the floor that Check's own work (httptrace, the timeout,
// lenient decoding, classification) adds to.
func BenchmarkCheck(b *testing.B) {
	endpoint := startBenchServer(b)
	for _, callers := range []int{1, 32} {
		b.Run(fmt.Sprintf("callers=%d", callers), func(b *testing.B) {
			c := newClient(b, endpoint, func(cfg *Config) { cfg.MaxConns = callers })
			runCalls(b, callers, func() error {
				if o := c.Check(context.Background(), testCard); o.Kind != KindAnswer || o.Answer.AccountType != 1 {
					return fmt.Errorf("outcome %+v", o)
				}
				return nil
			})
		})
		b.Run(fmt.Sprintf("bare/callers=%d", callers), func(b *testing.B) {
			hc := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: callers}}
			defer hc.CloseIdleConnections()
			url := endpoint + Path
			runCalls(b, callers, func() error { return bareCall(hc, url) })
		})
	}
}

// runCalls runs call b.N times from exactly callers goroutines (not
// RunParallel's multiple of GOMAXPROCS: more callers than connections would
// measure waiting for the pool) and reports allocs and CPU time per call.
func runCalls(b *testing.B, callers int, call func() error) {
	b.ReportAllocs()
	var next atomic.Int64
	var wg sync.WaitGroup
	cpu0, cpuOK := cpuTime()
	b.ResetTimer()
	for range callers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for next.Add(1) <= int64(b.N) {
				if err := call(); err != nil {
					b.Error(err)
					return
				}
			}
		}()
	}
	wg.Wait()
	b.StopTimer()
	if cpu1, ok := cpuTime(); ok && cpuOK {
		b.ReportMetric(float64(cpu1-cpu0)/float64(b.N), "cpu-ns/op")
	}
}

// bareCall is the least a Go program does for one call: POST the card,
// read and decode the answer.
func bareCall(hc *http.Client, url string) error {
	req, err := http.NewRequest(http.MethodPost, url, strings.NewReader(`{"bank_card":"`+testCard+`"}`))
	if err != nil {
		return err
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Authorization", "Bearer "+testToken)
	resp, err := hc.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	var a Answer
	if err := json.NewDecoder(resp.Body).Decode(&a); err != nil || a.AccountType != 1 {
		return fmt.Errorf("answer %+v, %v", a, err)
	}
	_, err = io.Copy(io.Discard, resp.Body)
	return err
}

// startBenchServer starts the test binary as a child process serving
// benchAnswer on a loopback port, and returns its base URL. The child ends
// when its stdin closes (at the end of the benchmark).
func startBenchServer(b *testing.B) string {
	b.Helper()
	cmd := exec.Command(os.Args[0], "-test.run=^$")
	cmd.Env = append(os.Environ(), childEnv+"=bench-server")
	cmd.Stderr = os.Stderr
	stdin, err := cmd.StdinPipe()
	if err != nil {
		b.Fatal(err)
	}
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		b.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() {
		stdin.Close()
		cmd.Wait()
	})
	line, err := bufio.NewReader(stdout).ReadString('\n')
	if err != nil {
		b.Fatalf("benchmark server: %v", err)
	}
	return "http://" + strings.TrimSpace(line)
}

// benchServer is the child of BenchmarkCheck: it prints its address, then
// serves benchAnswer until its stdin closes.
func benchServer() int {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	srv := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		io.Copy(io.Discard, r.Body)
		w.Header().Set("Content-Type", "application/json")
		io.WriteString(w, benchAnswer)
	})}
	go srv.Serve(ln)
	fmt.Println(ln.Addr())
	io.Copy(io.Discard, os.Stdin)
	srv.Close()
	return 0
}
