package cardapi_test

// Tests of the client's default transport (direct.go), through the public
// API: an external test package, because they use cardapi/sim, which
// imports cardapi.

import (
	"bufio"
	"bytes"
	"compress/gzip"
	"context"
	"encoding/pem"
	"errors"
	"fmt"
	"io"
	"log"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"cardbatch/billing"
	"cardbatch/cardapi"
	"cardbatch/cardapi/sim"
)

const directToken = "tok-direct-1a2b3c"

// simServer is the simulator behind an httptest server that counts the
// connections it accepted.
type simServer struct {
	*httptest.Server
	conns atomic.Int64
}

func newSimServer(t testing.TB, cfg sim.Config) *simServer {
	t.Helper()
	s := &simServer{}
	s.Server = httptest.NewUnstartedServer(sim.New(cfg))
	s.Config.ConnState = func(_ net.Conn, st http.ConnState) {
		if st == http.StateNew {
			s.conns.Add(1)
		}
	}
	s.Config.ErrorLog = log.New(io.Discard, "", 0)
	s.Start()
	t.Cleanup(s.Close)
	return s
}

func newDirectClient(t testing.TB, endpoint string, mod func(*cardapi.Config)) *cardapi.Client {
	t.Helper()
	cfg := cardapi.Config{Endpoint: endpoint, Token: directToken, Timeout: 5 * time.Second}
	if mod != nil {
		mod(&cfg)
	}
	c, err := cardapi.New(cfg)
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	t.Cleanup(c.Close)
	return c
}

// wantAnswer fails unless o is the simulator's answer for card.
func wantAnswer(t testing.TB, o cardapi.Outcome, seed int64, card string) {
	t.Helper()
	if o.Kind != cardapi.KindAnswer || o.HTTPStatus != 200 || !o.Sent || o.Err != nil || o.Answer != sim.Answer(seed, card) {
		t.Errorf("card %s: outcome %+v; want the answer %+v", card, o, sim.Answer(seed, card))
	}
}

// wantInDoubt fails unless o is a call that may have reached the API.
func wantInDoubt(t *testing.T, o cardapi.Outcome) {
	t.Helper()
	if o.Kind != cardapi.KindRetryable || !o.Sent || o.Billing != billing.Unknown || !o.InDoubt() || o.Err == nil {
		t.Errorf("outcome %+v; want retryable, sent, in doubt", o)
	}
}

// wantNotSent fails unless o is a call that cannot have reached the API.
func wantNotSent(t *testing.T, o cardapi.Outcome) {
	t.Helper()
	if o.Kind != cardapi.KindRetryable || o.Sent || o.Billing != billing.None || o.InDoubt() || o.HTTPStatus != 0 || o.Err == nil {
		t.Errorf("outcome %+v; want retryable, not sent, billing none", o)
	}
}

func TestDirectKeepAliveSequential(t *testing.T) {
	const seed, calls = 7, 1000
	srv := newSimServer(t, sim.Config{Seed: seed})
	c := newDirectClient(t, srv.URL, nil)
	cards := sim.GenerateCards(1, calls)
	for _, card := range cards {
		wantAnswer(t, c.Check(context.Background(), card), seed, card)
		if t.Failed() {
			return
		}
	}
	if n := srv.conns.Load(); n != 1 {
		t.Errorf("%d sequential calls opened %d connections; want 1", calls, n)
	}
}

func TestDirectKeepAliveConcurrent(t *testing.T) {
	const seed, workers, calls = 3, 64, 40
	srv := newSimServer(t, sim.Config{Seed: seed})
	c := newDirectClient(t, srv.URL, func(cfg *cardapi.Config) { cfg.MaxConns = workers })
	cards := sim.GenerateCards(2, workers*calls)
	var wg sync.WaitGroup
	for w := range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range calls {
				card := cards[w*calls+i]
				wantAnswer(t, c.Check(context.Background(), card), seed, card)
			}
		}()
	}
	wg.Wait()
	if n := srv.conns.Load(); n < 1 || n > workers {
		t.Errorf("%d workers opened %d connections; want 1 to %d", workers, n, workers)
	}
	// The pool keeps them: another round opens none.
	before := srv.conns.Load()
	for i := range 50 {
		wantAnswer(t, c.Check(context.Background(), cards[i]), seed, cards[i])
	}
	if n := srv.conns.Load() - before; n != 0 {
		t.Errorf("sequential calls after the concurrent ones opened %d connections; want 0", n)
	}
}

// rawServer answers each request with bytes a test scripts, on
// connections it counts.
type rawServer struct {
	ln    net.Listener
	url   string
	conns atomic.Int64
	wg    sync.WaitGroup
}

// newRawServer serves every connection with serve (in its own goroutine);
// the listener and the goroutines are stopped at cleanup.
func newRawServer(t *testing.T, serve func(conn net.Conn)) *rawServer {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	s := &rawServer{ln: ln, url: "http://" + ln.Addr().String()}
	var mu sync.Mutex
	var open []net.Conn
	s.wg.Add(1)
	go func() {
		defer s.wg.Done()
		for {
			conn, err := ln.Accept()
			if err != nil {
				return
			}
			s.conns.Add(1)
			mu.Lock()
			open = append(open, conn)
			mu.Unlock()
			s.wg.Add(1)
			go func() {
				defer s.wg.Done()
				defer conn.Close()
				serve(conn)
			}()
		}
	}()
	t.Cleanup(func() {
		ln.Close()
		mu.Lock()
		for _, c := range open {
			c.Close()
		}
		mu.Unlock()
		s.wg.Wait()
	})
	return s
}

// readRequest reads one request and its body; it returns nil when the
// connection ends.
func readRequest(br *bufio.Reader) *http.Request {
	req, err := http.ReadRequest(br)
	if err != nil {
		return nil
	}
	io.Copy(io.Discard, req.Body)
	return req
}

// scriptedServer answers the i-th request (from 0, over all connections)
// with answer(i); it closes the connection after writing when closeAfter
// is set, the answer says "Connection: close" or is HTTP/1.0 (whose body
// without a length ends with the connection).
func scriptedServer(t *testing.T, closeAfter bool, answer func(i int) string) *rawServer {
	var n atomic.Int64
	return newRawServer(t, func(conn net.Conn) {
		br := bufio.NewReader(conn)
		for readRequest(br) != nil {
			a := answer(int(n.Add(1) - 1))
			if _, err := io.WriteString(conn, a); err != nil || closeAfter ||
				strings.Contains(a, "Connection: close") || strings.HasPrefix(a, "HTTP/1.0") {
				return
			}
		}
	})
}

const okJSON = `{"result":"0","description":"Query successful","account_bank":"Bank","account_type":1}`

func TestDirectAnswerFraming(t *testing.T) {
	chunked := func(s string) string {
		var b strings.Builder
		for len(s) > 0 {
			n := min(len(s), 7)
			fmt.Fprintf(&b, "%x\r\n%s\r\n", n, s[:n])
			s = s[n:]
		}
		return b.String() + "0\r\n\r\n"
	}
	var gz bytes.Buffer
	zw := gzip.NewWriter(&gz)
	io.WriteString(zw, okJSON)
	zw.Close()

	for _, tc := range []struct {
		name      string
		answer    string
		wantConns int64 // after 3 calls
	}{
		{"content-length", "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: " +
			strconv.Itoa(len(okJSON)) + "\r\n\r\n" + okJSON, 1},
		{"chunked", "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nTransfer-Encoding: chunked\r\n\r\n" + chunked(okJSON), 1},
		{"chunked with trailer", "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\nTrailer: X-T\r\n\r\n" +
			strings.TrimSuffix(chunked(okJSON), "\r\n") + "X-T: 1\r\n\r\n", 1},
		{"connection close", "HTTP/1.1 200 OK\r\nConnection: close\r\nContent-Length: " +
			strconv.Itoa(len(okJSON)) + "\r\n\r\n" + okJSON, 3},
		{"100 continue first", "HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 200 OK\r\nContent-Length: " +
			strconv.Itoa(len(okJSON)) + "\r\n\r\n" + okJSON, 1},
		{"103 and 100 first", "HTTP/1.1 103 Early Hints\r\nLink: </x>\r\n\r\nHTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 200 OK\r\nContent-Length: " +
			strconv.Itoa(len(okJSON)) + "\r\n\r\n" + okJSON, 1},
		{"http/1.0 without length", "HTTP/1.0 200 OK\r\nContent-Type: application/json\r\n\r\n" + okJSON, 3},
		{"http/1.1 without length", "HTTP/1.1 200 OK\r\nConnection: close\r\n\r\n" + okJSON, 3},
		{"gzip not asked for", "HTTP/1.1 200 OK\r\nContent-Encoding: gzip\r\nContent-Length: " +
			strconv.Itoa(gz.Len()) + "\r\n\r\n" + gz.String(), 1},
	} {
		t.Run(tc.name, func(t *testing.T) {
			srv := scriptedServer(t, false, func(int) string { return tc.answer })
			c := newDirectClient(t, srv.url, nil)
			for range 3 {
				o := c.Check(context.Background(), "6222020200112233445")
				if o.Kind != cardapi.KindAnswer || o.Answer.Result != "0" || o.Answer.AccountBank != "Bank" || o.Answer.AccountType != 1 || o.Err != nil {
					t.Fatalf("outcome %+v; want the answer %s", o, okJSON)
				}
			}
			if n := srv.conns.Load(); n != tc.wantConns {
				t.Errorf("3 calls opened %d connections; want %d", n, tc.wantConns)
			}
		})
	}
}

func TestDirectErrorAnswersKeepConnection(t *testing.T) {
	srv := scriptedServer(t, false, func(i int) string {
		body := `{"error":{"code":"timeout","message":"later"},"trace_id":"x"}`
		if i%2 == 1 {
			return "HTTP/1.1 429 Too Many Requests\r\nRetry-After: 2\r\nContent-Length: " + strconv.Itoa(len(body)) + "\r\n\r\n" + body
		}
		return "HTTP/1.1 503 Service Unavailable\r\nContent-Length: " + strconv.Itoa(len(body)) + "\r\n\r\n" + body
	})
	c := newDirectClient(t, srv.url, nil)
	for i := range 10 {
		o := c.Check(context.Background(), "6222020200112233445")
		want := 503
		if i%2 == 1 {
			want = 429
		}
		if o.Kind != cardapi.KindRetryable || o.HTTPStatus != want || o.Billing != billing.Free || o.Code != "timeout" {
			t.Fatalf("call %d: outcome %+v; want retryable HTTP %d", i, o, want)
		}
	}
	if n := srv.conns.Load(); n != 1 {
		t.Errorf("10 error answers opened %d connections; want 1", n)
	}
}

func TestDirectBodyOverLimit(t *testing.T) {
	big := `{"result":"0"}` + strings.Repeat(" ", 8000)
	srv := scriptedServer(t, false, func(i int) string {
		if i == 0 {
			return "HTTP/1.1 200 OK\r\nContent-Length: " + strconv.Itoa(len(big)) + "\r\n\r\n" + big
		}
		return "HTTP/1.1 200 OK\r\nContent-Length: " + strconv.Itoa(len(okJSON)) + "\r\n\r\n" + okJSON
	})
	c := newDirectClient(t, srv.url, func(cfg *cardapi.Config) { cfg.MaxBodyBytes = 4096 })
	o := c.Check(context.Background(), "6222020200112233445")
	if o.Kind != cardapi.KindProtocol || o.Billing != billing.Unknown || !strings.Contains(o.Excerpt, "larger than 4096") {
		t.Fatalf("outcome %+v; want a protocol error for the large body", o)
	}
	// The rest of the large body was not read: the connection must not
	// carry the next call, which would read it as its answer.
	for range 3 {
		if o := c.Check(context.Background(), "6222020200112233445"); o.Kind != cardapi.KindAnswer || o.Answer.Result != "0" {
			t.Fatalf("outcome %+v after the large body; want an answer", o)
		}
	}
	if n := srv.conns.Load(); n != 2 {
		t.Errorf("connections: %d; want 2 (the large body's closed, one more reused)", n)
	}
}

// TestDirectStaleIdleConnection: a server that closes (or resets) an idle
// connection must not make the next call fail or be in doubt.
func TestDirectStaleIdleConnection(t *testing.T) {
	for _, reset := range []bool{false, true} {
		t.Run(fmt.Sprintf("reset=%v", reset), func(t *testing.T) {
			t.Parallel()
			closed := make(chan struct{}, 10)
			answer := "HTTP/1.1 200 OK\r\nContent-Length: " + strconv.Itoa(len(okJSON)) + "\r\n\r\n" + okJSON
			srv := newRawServer(t, func(conn net.Conn) {
				// One answer per connection, then the connection is closed
				// while idle, without "Connection: close".
				if readRequest(bufio.NewReader(conn)) == nil {
					return
				}
				io.WriteString(conn, answer)
				time.Sleep(20 * time.Millisecond)
				if reset {
					conn.(*net.TCPConn).SetLinger(0)
				}
				conn.Close()
				closed <- struct{}{}
			})
			c := newDirectClient(t, srv.url, nil)
			for i := range 3 {
				o := c.Check(context.Background(), "6222020200112233445")
				if o.Kind != cardapi.KindAnswer || o.Answer.Result != "0" || o.Err != nil {
					t.Fatalf("call %d: outcome %+v; want an answer (the idle connection was closed by the server)", i, o)
				}
				<-closed
				time.Sleep(20 * time.Millisecond) // the FIN or RST has arrived
			}
			if n := srv.conns.Load(); n != 3 {
				t.Errorf("connections: %d; want 3", n)
			}
		})
	}
}

// TestDirectUnsolicitedBytes: bytes the server sends after an answer (a
// wrong Content-Length) must never be read as the next call's answer.
func TestDirectUnsolicitedBytes(t *testing.T) {
	second := `{"result":"-1"}`
	srv := newRawServer(t, func(conn net.Conn) {
		br := bufio.NewReader(conn)
		if readRequest(br) == nil {
			return
		}
		// Content-Length says less than what follows: the extra bytes look
		// like a second answer.
		io.WriteString(conn, "HTTP/1.1 200 OK\r\nContent-Length: "+strconv.Itoa(len(okJSON))+"\r\n\r\n"+okJSON)
		time.Sleep(5 * time.Millisecond)
		io.WriteString(conn, "HTTP/1.1 200 OK\r\nContent-Length: "+strconv.Itoa(len(second))+"\r\n\r\n"+second)
		for readRequest(br) != nil {
			io.WriteString(conn, "HTTP/1.1 200 OK\r\nContent-Length: "+strconv.Itoa(len(okJSON))+"\r\n\r\n"+okJSON)
		}
	})
	c := newDirectClient(t, srv.url, nil)
	for i := range 3 {
		o := c.Check(context.Background(), "6222020200112233445")
		if o.Kind != cardapi.KindAnswer || o.Answer.Result != "0" {
			t.Fatalf("call %d: outcome %+v; want result 0 (not the unsolicited -1)", i, o)
		}
		time.Sleep(20 * time.Millisecond) // the extra bytes have arrived
	}
}

func TestDirectClosedAfterRequest(t *testing.T) {
	for _, reset := range []bool{false, true} {
		t.Run(fmt.Sprintf("reset=%v", reset), func(t *testing.T) {
			srv := newRawServer(t, func(conn net.Conn) {
				if readRequest(bufio.NewReader(conn)) != nil && reset {
					conn.(*net.TCPConn).SetLinger(0)
				}
			})
			c := newDirectClient(t, srv.url, nil)
			wantInDoubt(t, c.Check(context.Background(), "6222020200112233445"))
		})
	}
	t.Run("simulator drop", func(t *testing.T) {
		const drop = "6222020200112233445"
		srv := newSimServer(t, sim.Config{Override: func(card string) (sim.Override, bool) {
			return sim.Override{Drop: true}, card == drop
		}})
		c := newDirectClient(t, srv.URL, nil)
		cards := sim.GenerateCards(5, 3)
		wantAnswer(t, c.Check(context.Background(), cards[0]), 0, cards[0])
		wantInDoubt(t, c.Check(context.Background(), drop))
		wantAnswer(t, c.Check(context.Background(), cards[1]), 0, cards[1])
	})
	t.Run("headers then closed mid-body", func(t *testing.T) {
		srv := scriptedServer(t, true, func(int) string {
			return "HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\n" + okJSON[:20]
		})
		c := newDirectClient(t, srv.url, nil)
		o := c.Check(context.Background(), "6222020200112233445")
		wantInDoubt(t, o)
		if o.HTTPStatus != 200 {
			t.Errorf("HTTPStatus %d; want 200", o.HTTPStatus)
		}
	})
	t.Run("malformed status line", func(t *testing.T) {
		srv := scriptedServer(t, true, func(int) string { return "HTTP/1.1 abc\r\n\r\n" })
		c := newDirectClient(t, srv.url, nil)
		wantInDoubt(t, c.Check(context.Background(), "6222020200112233445"))
	})
}

func TestDirectDialRefused(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	c := newDirectClient(t, "http://"+addr, nil)
	o := c.Check(context.Background(), "6222020200112233445")
	wantNotSent(t, o)
	var op *net.OpError
	if !errors.As(o.Err, &op) || op.Op != "dial" || !strings.Contains(o.Err.Error(), "refused") {
		t.Errorf("Err = %v; want a dial *net.OpError, connection refused", o.Err)
	}
}

// TestDirectShortWrite: a request the server stopped reading and reset
// cannot have reached it whole, so the call is not sent (free).
func TestDirectShortWrite(t *testing.T) {
	// More than the client's socket send buffer can hold, so the write is
	// still in progress when the server resets the connection.
	sndMax := 4 << 20
	if b, err := os.ReadFile("/proc/sys/net/ipv4/tcp_wmem"); err == nil {
		if f := strings.Fields(string(b)); len(f) == 3 {
			if n, err := strconv.Atoi(f[2]); err == nil {
				sndMax = n
			}
		}
	}
	card := strings.Repeat("4", 2*sndMax+1<<20)
	lc := net.ListenConfig{Control: func(_, _ string, rc syscall.RawConn) error {
		var serr error
		err := rc.Control(func(fd uintptr) {
			serr = syscall.SetsockoptInt(int(fd), syscall.SOL_SOCKET, syscall.SO_RCVBUF, 4096)
		})
		return errors.Join(err, serr)
	}}
	ln, err := lc.Listen(context.Background(), "tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	done := make(chan struct{})
	go func() {
		defer close(done)
		conn, err := ln.Accept()
		if err != nil {
			return
		}
		io.ReadFull(conn, make([]byte, 64<<10))
		time.Sleep(200 * time.Millisecond) // the client blocks in its write
		conn.(*net.TCPConn).SetLinger(0)
		conn.Close()
	}()
	c := newDirectClient(t, "http://"+ln.Addr().String(), func(cfg *cardapi.Config) { cfg.Timeout = 10 * time.Second })
	o := c.Check(context.Background(), card)
	<-done
	wantNotSent(t, o)
	if o.Err != nil && strings.Contains(o.Err.Error(), card[:1000]) {
		t.Errorf("Err holds the card")
	}
}

func TestDirectContext(t *testing.T) {
	arrived := make(chan struct{}, 1)
	release := make(chan struct{})
	defer close(release)
	srv := newRawServer(t, func(conn net.Conn) {
		if readRequest(bufio.NewReader(conn)) != nil {
			arrived <- struct{}{}
			<-release
		}
	})

	t.Run("cancelled in flight", func(t *testing.T) {
		c := newDirectClient(t, srv.url, nil)
		ctx, cancel := context.WithCancel(context.Background())
		go func() { <-arrived; cancel() }()
		start := time.Now()
		o := c.Check(ctx, "6222020200112233445")
		if !errors.Is(o.Err, context.Canceled) {
			t.Errorf("Err = %v; want context.Canceled", o.Err)
		}
		wantInDoubt(t, o)
		if d := time.Since(start); d > 2*time.Second {
			t.Errorf("the cancelled call took %v", d)
		}
	})
	t.Run("deadline in flight", func(t *testing.T) {
		c := newDirectClient(t, srv.url, nil)
		ctx, cancel := context.WithTimeout(context.Background(), 150*time.Millisecond)
		defer cancel()
		o := c.Check(ctx, "6222020200112233445")
		<-arrived
		if !errors.Is(o.Err, context.DeadlineExceeded) {
			t.Errorf("Err = %v; want context.DeadlineExceeded", o.Err)
		}
		wantInDoubt(t, o)
	})
	t.Run("cancelled before the call", func(t *testing.T) {
		c := newDirectClient(t, srv.url, nil)
		ctx, cancel := context.WithCancel(context.Background())
		cancel()
		o := c.Check(ctx, "6222020200112233445")
		if !errors.Is(o.Err, context.Canceled) {
			t.Errorf("Err = %v; want context.Canceled", o.Err)
		}
		wantNotSent(t, o)
	})
	t.Run("pooled connection after a cancelled call", func(t *testing.T) {
		// A call cancelled right after its answer must not leave a past
		// deadline on a pooled connection.
		srv := newSimServer(t, sim.Config{Seed: 1})
		c := newDirectClient(t, srv.URL, func(cfg *cardapi.Config) { cfg.MaxConns = 4 })
		cards := sim.GenerateCards(3, 200)
		for i, card := range cards {
			ctx, cancel := context.WithCancel(context.Background())
			if i%2 == 0 {
				time.AfterFunc(time.Duration(i%7)*10*time.Microsecond, cancel)
			}
			o := c.Check(ctx, card)
			cancel()
			if o.Err != nil && !errors.Is(o.Err, context.Canceled) {
				t.Fatalf("call %d: Err = %v; want nil or context.Canceled", i, o.Err)
			}
			if o.Err == nil {
				wantAnswer(t, o, 1, card)
			}
			if i%2 == 1 { // uncancelled: must succeed
				wantAnswer(t, o, 1, card)
			}
		}
	})
}

func TestDirectTimeout(t *testing.T) {
	for _, tc := range []struct {
		name   string
		answer string // written before stalling
		status int
	}{
		{"no answer", "", 0},
		{"stalled body", "HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\n" + okJSON[:20], 200},
	} {
		t.Run(tc.name, func(t *testing.T) {
			release := make(chan struct{})
			srv := newRawServer(t, func(conn net.Conn) {
				if readRequest(bufio.NewReader(conn)) != nil {
					io.WriteString(conn, tc.answer)
					<-release
				}
			})
			t.Cleanup(func() { close(release) }) // before the server's cleanup
			const timeout = 200 * time.Millisecond
			c := newDirectClient(t, srv.url, func(cfg *cardapi.Config) { cfg.Timeout = timeout })
			start := time.Now()
			o := c.Check(context.Background(), "6222020200112233445")
			d := time.Since(start)
			wantInDoubt(t, o)
			var ne net.Error
			if !errors.As(o.Err, &ne) || !ne.Timeout() || !errors.Is(o.Err, context.DeadlineExceeded) {
				t.Errorf("Err = %v; want a timeout wrapping context.DeadlineExceeded", o.Err)
			}
			if o.HTTPStatus != tc.status {
				t.Errorf("HTTPStatus %d; want %d", o.HTTPStatus, tc.status)
			}
			if d < timeout || d > timeout+2*time.Second || o.Latency < timeout {
				t.Errorf("the call took %v (latency %v); want about %v", d, o.Latency, timeout)
			}
		})
	}
}

// TestDirectRedirect: a same-host 307 is followed on the pooled connection
// with the same body and authorization.
func TestDirectRedirect(t *testing.T) {
	var mu sync.Mutex
	var seen []string
	srv := newRawServer(t, func(conn net.Conn) {
		br := bufio.NewReader(conn)
		for {
			req, err := http.ReadRequest(br)
			if err != nil {
				return
			}
			b, _ := io.ReadAll(req.Body)
			mu.Lock()
			seen = append(seen, req.Method+" "+req.RequestURI+" "+req.Header.Get("Authorization")+" "+string(b))
			mu.Unlock()
			if req.URL.Path == cardapi.Path {
				io.WriteString(conn, "HTTP/1.1 307 Temporary Redirect\r\nLocation: /v2"+cardapi.Path+"\r\nContent-Length: 0\r\n\r\n")
				continue
			}
			io.WriteString(conn, "HTTP/1.1 200 OK\r\nContent-Length: 15\r\n\r\n"+`{"result":"-3"}`)
		}
	})
	c := newDirectClient(t, srv.url, nil)
	o := c.Check(context.Background(), "6222020200112233445")
	if o.Kind != cardapi.KindAnswer || o.Answer.Result != "-3" {
		t.Fatalf("outcome %+v; want the answer after the redirect", o)
	}
	body := `{"bank_card":"6222020200112233445"}`
	want := []string{"POST " + cardapi.Path + " Bearer " + directToken + " " + body, "POST /v2" + cardapi.Path + " Bearer " + directToken + " " + body}
	if fmt.Sprint(seen) != fmt.Sprint(want) {
		t.Errorf("requests %q; want %q", seen, want)
	}
	if n := srv.conns.Load(); n != 1 {
		t.Errorf("connections: %d; want 1", n)
	}
}

// TestDirectRequestWire checks the bytes of a request: one write, the
// headers of the client, a Content-Length, the body.
func TestDirectRequestWire(t *testing.T) {
	got := make(chan string, 1)
	srv := newRawServer(t, func(conn net.Conn) {
		buf := make([]byte, 4096)
		n, _ := conn.Read(buf)
		got <- string(buf[:n])
		io.WriteString(conn, "HTTP/1.1 200 OK\r\nContent-Length: 15\r\n\r\n"+`{"result":"-1"}`)
	})
	c := newDirectClient(t, srv.url+"/", nil)
	if o := c.Check(context.Background(), "6222020200112233445"); o.Kind != cardapi.KindAnswer {
		t.Fatalf("outcome %+v", o)
	}
	req := <-got
	head, body, ok := strings.Cut(req, "\r\n\r\n")
	lines := strings.Split(head, "\r\n")
	if !ok || lines[0] != "POST "+cardapi.Path+" HTTP/1.1" || body != `{"bank_card":"6222020200112233445"}` {
		t.Fatalf("request %q; want it whole in the first read", req)
	}
	hdr := map[string]string{}
	for _, l := range lines[1:] {
		k, v, _ := strings.Cut(l, ": ")
		hdr[k] = v
	}
	want := map[string]string{
		"Host":           strings.TrimPrefix(srv.url, "http://"),
		"Authorization":  "Bearer " + directToken,
		"Accept":         "application/json",
		"Content-Type":   "application/json",
		"User-Agent":     cardapi.DefaultUserAgent,
		"Content-Length": strconv.Itoa(len(body)),
	}
	if fmt.Sprint(hdr) != fmt.Sprint(want) {
		t.Errorf("headers %v; want %v", hdr, want)
	}
}

// TestDirectTLS runs a client in a child process that trusts the test
// server's certificate (SSL_CERT_FILE); the server offers HTTP/2 too, and
// must see HTTP/1.1 on one kept-alive connection.
func TestDirectTLS(t *testing.T) {
	var protos sync.Map
	srv := httptest.NewUnstartedServer(sim.New(sim.Config{Seed: 4}))
	var conns atomic.Int64
	srv.Config.ConnState = func(_ net.Conn, st http.ConnState) {
		if st == http.StateNew {
			conns.Add(1)
		}
	}
	h := srv.Config.Handler
	srv.Config.Handler = http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		protos.Store(r.Proto, true)
		h.ServeHTTP(w, r)
	})
	srv.Config.ErrorLog = log.New(io.Discard, "", 0)
	srv.EnableHTTP2 = true
	srv.StartTLS()
	defer srv.Close()

	dir := t.TempDir()
	certFile := filepath.Join(dir, "ca.pem")
	pemCert := pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: srv.Certificate().Raw})
	if err := os.WriteFile(certFile, pemCert, 0o600); err != nil {
		t.Fatal(err)
	}
	out, err := helper(t, "tls", srv.URL, "SSL_CERT_FILE="+certFile, "SSL_CERT_DIR="+dir)
	if err != nil {
		t.Fatalf("child: %v\n%s", err, out)
	}
	var seen []string
	protos.Range(func(k, _ any) bool { seen = append(seen, k.(string)); return true })
	if len(seen) != 1 || seen[0] != "HTTP/1.1" {
		t.Errorf("server saw %v; want HTTP/1.1 only", seen)
	}
	if n := conns.Load(); n != 1 {
		t.Errorf("connections: %d; want 1", n)
	}

	// Without the certificate trusted: a handshake failure, not sent.
	c := newDirectClient(t, srv.URL, nil)
	o := c.Check(context.Background(), "6222020200112233445")
	wantNotSent(t, o)
	if o.Err == nil || !strings.Contains(o.Err.Error(), "certificate") {
		t.Errorf("Err = %v; want a certificate error", o.Err)
	}
}

// TestDirectProxy: when the environment names a proxy for the endpoint,
// the client goes through it (New keeps http.Transport).
func TestDirectProxy(t *testing.T) {
	got := make(chan string, 1)
	proxy := newRawServer(t, func(conn net.Conn) {
		req, err := http.ReadRequest(bufio.NewReader(conn))
		if err != nil {
			return
		}
		got <- req.Method + " " + req.RequestURI
		io.WriteString(conn, "HTTP/1.1 403 Forbidden\r\nContent-Length: 0\r\nConnection: close\r\n\r\n")
	})
	out, err := helper(t, "proxy", "https://api.example.invalid", "HTTPS_PROXY="+proxy.url)
	if err != nil {
		t.Fatalf("child: %v\n%s", err, out)
	}
	select {
	case r := <-got:
		if r != "CONNECT api.example.invalid:443" {
			t.Errorf("proxy got %q; want CONNECT api.example.invalid:443", r)
		}
	default:
		t.Errorf("the proxy got no request (child output:\n%s)", out)
	}
}

// helper runs TestDirectHelperProcess in a child process in mode against
// endpoint, with no proxy settings but those in env.
func helper(t *testing.T, mode, endpoint string, env ...string) ([]byte, error) {
	t.Helper()
	cmd := exec.Command(os.Args[0], "-test.run=^TestDirectHelperProcess$", "-test.count=1", "-test.v")
	for _, kv := range os.Environ() {
		if k, _, _ := strings.Cut(kv, "="); !strings.HasSuffix(strings.ToLower(k), "_proxy") && !strings.HasPrefix(k, "SSL_CERT_") {
			cmd.Env = append(cmd.Env, kv)
		}
	}
	cmd.Env = append(cmd.Env, "CARDAPI_DIRECT_HELPER="+mode, "CARDAPI_DIRECT_ENDPOINT="+endpoint)
	cmd.Env = append(cmd.Env, env...)
	return cmd.CombinedOutput()
}

// TestDirectHelperProcess is the child of TestDirectTLS and TestDirectProxy.
func TestDirectHelperProcess(t *testing.T) {
	mode := os.Getenv("CARDAPI_DIRECT_HELPER")
	if mode == "" {
		t.Skip("run by TestDirectTLS and TestDirectProxy")
	}
	c := newDirectClient(t, os.Getenv("CARDAPI_DIRECT_ENDPOINT"), nil)
	switch mode {
	case "tls":
		for _, card := range sim.GenerateCards(9, 20) {
			wantAnswer(t, c.Check(context.Background(), card), 4, card)
		}
	case "proxy":
		o := c.Check(context.Background(), "6222020200112233445")
		t.Logf("outcome through the proxy: %+v", o)
	}
}

// BenchmarkCheckTransport compares the client's direct transport with a
// tuned http.Transport (as New used before), 64 callers against the
// simulator in the same process. cpu-ns/op is the process's CPU time (user
// + system) per call: client and simulator together, or the client alone
// when CARDAPI_BENCH_ENDPOINT names a simulator running in another process
// (cardbatch simulate --addr 127.0.0.1:PORT).
func BenchmarkCheckTransport(b *testing.B) {
	const callers = 64
	for _, name := range []string{"direct", "net/http"} {
		b.Run(name, func(b *testing.B) {
			endpoint := os.Getenv("CARDAPI_BENCH_ENDPOINT")
			var srv *simServer
			if endpoint == "" {
				srv = newSimServer(b, sim.Config{Seed: 1})
				endpoint = srv.URL
			}
			c := newDirectClient(b, endpoint, func(cfg *cardapi.Config) {
				cfg.MaxConns = callers
				if name == "net/http" {
					cfg.Transport = &http.Transport{
						Proxy:                 http.ProxyFromEnvironment,
						DialContext:           (&net.Dialer{Timeout: 10 * time.Second, KeepAlive: 30 * time.Second}).DialContext,
						ForceAttemptHTTP2:     true,
						MaxIdleConns:          callers,
						MaxIdleConnsPerHost:   callers,
						IdleConnTimeout:       90 * time.Second,
						TLSHandshakeTimeout:   10 * time.Second,
						ExpectContinueTimeout: time.Second,
						ResponseHeaderTimeout: cfg.Timeout,
					}
				}
			})
			cards := sim.GenerateCards(1, 1<<12)
			var next atomic.Int64
			b.SetParallelism((callers + runtime.GOMAXPROCS(0) - 1) / runtime.GOMAXPROCS(0))
			b.ReportAllocs()
			cpu0 := cpuTime()
			b.ResetTimer()
			b.RunParallel(func(pb *testing.PB) {
				for pb.Next() {
					card := cards[next.Add(1)&(1<<12-1)]
					if o := c.Check(context.Background(), card); o.Kind != cardapi.KindAnswer {
						b.Errorf("outcome %+v", o)
						return
					}
				}
			})
			b.StopTimer()
			b.ReportMetric(float64(cpuTime()-cpu0)/float64(b.N), "cpu-ns/op")
			if srv != nil {
				b.ReportMetric(float64(srv.conns.Load()), "conns")
			}
		})
	}
}

// cpuTime returns the process's user + system CPU time.
func cpuTime() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}
