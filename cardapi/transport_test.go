package cardapi

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"strings"
	"sync"
	"testing"
	"time"

	"cardbatch/billing"
)

// The environment variable that makes the test binary a child process
// (TestMain): a benchmark server, or a client calling through a proxy.
const childEnv = "CARDAPI_TEST_CHILD"

func TestMain(m *testing.M) {
	switch os.Getenv(childEnv) {
	case "":
		os.Exit(m.Run())
	case "bench-server":
		os.Exit(benchServer())
	case "proxy-call":
		os.Exit(proxyCall())
	default:
		fmt.Fprintf(os.Stderr, "unknown %s=%q\n", childEnv, os.Getenv(childEnv))
		os.Exit(2)
	}
}

// wantNotSent fails unless o is a call that cannot have reached the API:
// free, retried.
func wantNotSent(t *testing.T, o Outcome) {
	t.Helper()
	if o.Kind != KindRetryable || o.Sent || o.Billing != billing.None || o.InDoubt() || o.HTTPStatus != 0 || o.Err == nil {
		t.Errorf("outcome %+v; want retryable, not sent, billing none, with Err", o)
	}
}

// wantInDoubt fails unless o is a call that may have been charged although
// no answer came: retryable, billing unknown, with HTTPStatus status.
func wantInDoubt(t *testing.T, o Outcome, status int) {
	t.Helper()
	if o.Kind != KindRetryable || !o.Sent || o.Billing != billing.Unknown || !o.InDoubt() || o.HTTPStatus != status || o.Err == nil {
		t.Errorf("outcome %+v; want retryable, sent, in doubt, HTTP status %d, with Err", o, status)
	}
	if o.Answer != (Answer{}) {
		t.Errorf("Answer = %+v; want none from a broken answer", o.Answer)
	}
}

// reset closes conn with a TCP reset instead of an orderly close.
func reset(conn net.Conn) { conn.(*net.TCPConn).SetLinger(0) }

// TestConnectionBreaks: a server that hijacks the connection and closes it
// at each point of a call. Before the request is written whole, the call
// is not sent (free, retried); from then on it is in doubt.
func TestConnectionBreaks(t *testing.T) {
	// A request larger than the loopback socket buffers of both ends, so
	// the client is still writing it when the server resets the connection.
	hugeCard := strings.Repeat("4", 64<<20)
	const okJSON = `{"result":"0","description":"Query successful","account_bank":"ICBC","account_type":1}`
	for _, tc := range []struct {
		name     string
		card     string
		readBody bool                          // the server reads the whole request first
		serve    func(net.Conn, *bufio.Writer) // after the hijack; then the connection is closed
		sent     bool
		status   int
	}{
		{name: "reset while the request is being written", card: hugeCard, serve: func(c net.Conn, _ *bufio.Writer) { reset(c) }},
		{name: "closed right after reading the request", readBody: true, serve: func(net.Conn, *bufio.Writer) {}, sent: true},
		{name: "reset right after reading the request", readBody: true, serve: func(c net.Conn, _ *bufio.Writer) { reset(c) }, sent: true},
		{name: "closed in the status line", readBody: true, sent: true, serve: func(_ net.Conn, w *bufio.Writer) {
			w.WriteString("HTTP/1.1 20")
			w.Flush()
		}},
		{name: "malformed status line", readBody: true, sent: true, serve: func(_ net.Conn, w *bufio.Writer) {
			w.WriteString("HTTP/1.1 abc\r\n\r\n")
			w.Flush()
		}},
		{name: "closed in the headers", readBody: true, sent: true, serve: func(_ net.Conn, w *bufio.Writer) {
			w.WriteString("HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Len")
			w.Flush()
		}},
		{name: "closed after the headers", readBody: true, sent: true, status: 200, serve: func(_ net.Conn, w *bufio.Writer) {
			fmt.Fprintf(w, "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: %d\r\n\r\n", len(okJSON))
			w.Flush()
		}},
		{name: "closed mid-body", readBody: true, sent: true, status: 200, serve: func(_ net.Conn, w *bufio.Writer) {
			fmt.Fprintf(w, "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: %d\r\n\r\n%s", len(okJSON), okJSON[:30])
			w.Flush()
		}},
		{name: "reset mid-body", readBody: true, sent: true, status: 200, serve: func(c net.Conn, w *bufio.Writer) {
			fmt.Fprintf(w, "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: %d\r\n\r\n%s", len(okJSON), okJSON[:30])
			w.Flush()
			time.Sleep(50 * time.Millisecond) // let the client read the headers before the reset discards them
			reset(c)
		}},
		{name: "closed mid-chunk", readBody: true, sent: true, status: 200, serve: func(_ net.Conn, w *bufio.Writer) {
			fmt.Fprintf(w, "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n%x\r\n%s", len(okJSON), okJSON[:30])
			w.Flush()
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				if tc.readBody {
					io.Copy(io.Discard, r.Body)
				}
				conn, bw, err := w.(http.Hijacker).Hijack()
				if err != nil {
					t.Error(err)
					return
				}
				defer conn.Close()
				tc.serve(conn, bw.Writer)
			}))
			defer srv.Close()
			card := tc.card
			if card == "" {
				card = testCard
			}
			c := newClient(t, srv.URL, nil)
			o := c.Check(context.Background(), card)
			assertClean(t, o, card)
			if tc.sent {
				wantInDoubt(t, o, tc.status)
			} else {
				wantNotSent(t, o)
			}
		})
	}
}

// TestTransportFailures covers the other calls that got no complete answer.
func TestTransportFailures(t *testing.T) {
	t.Run("no answer within the timeout is in doubt", func(t *testing.T) {
		release := make(chan struct{})
		srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			io.Copy(io.Discard, r.Body)
			select {
			case <-r.Context().Done():
			case <-release:
			}
		}))
		defer srv.Close()
		defer close(release)
		c := newClient(t, srv.URL, func(cfg *Config) { cfg.Timeout = 200 * time.Millisecond })
		o := c.Check(context.Background(), testCard)
		assertClean(t, o, testCard)
		wantInDoubt(t, o, 0)
		var ne net.Error
		if !errors.As(o.Err, &ne) || !ne.Timeout() || !strings.Contains(o.Err.Error(), "200ms") {
			t.Errorf("Err = %v; want a timeout naming the 200ms limit", o.Err)
		}
		if o.Latency < 200*time.Millisecond {
			t.Errorf("Latency = %v; want >= the timeout", o.Latency)
		}
	})

	refused := func(t *testing.T) string {
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		addr := ln.Addr().String()
		ln.Close()
		return "http://" + addr
	}
	t.Run("connection refused is not sent", func(t *testing.T) {
		c := newClient(t, refused(t), nil)
		o := c.Check(context.Background(), testCard)
		assertClean(t, o, testCard)
		wantNotSent(t, o)
		if !strings.Contains(o.Err.Error(), "refused") {
			t.Errorf("Err = %v; want connection refused", o.Err)
		}
	})
	t.Run("connection refused through a wrapping transport is not sent", func(t *testing.T) {
		c := newClient(t, refused(t), func(cfg *Config) {
			cfg.Transport = roundTripFunc(func(r *http.Request) (*http.Response, error) {
				return http.DefaultTransport.RoundTrip(r)
			})
		})
		wantNotSent(t, c.Check(context.Background(), testCard))
	})
	t.Run("unknown transport error is in doubt", func(t *testing.T) {
		c := newClient(t, "http://127.0.0.1:9", func(cfg *Config) {
			cfg.Transport = roundTripFunc(func(*http.Request) (*http.Response, error) {
				return nil, errors.New("simulated drop")
			})
		})
		o := c.Check(context.Background(), testCard)
		assertClean(t, o, testCard)
		wantInDoubt(t, o, 0)
		if !strings.Contains(o.Err.Error(), "simulated drop") {
			t.Errorf("Err = %v; want the transport's error", o.Err)
		}
	})
	// The first request was written and answered (a redirect, not billed);
	// the followed one never left: the call is not sent.
	t.Run("redirect to a closed port is not sent", func(t *testing.T) {
		srv := httptest.NewUnstartedServer(nil)
		srv.Config.Handler = http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			io.Copy(io.Discard, r.Body)
			srv.Listener.Close()
			w.Header().Set("Connection", "close")
			http.Redirect(w, r, "/v2"+Path, http.StatusTemporaryRedirect)
		})
		srv.Start()
		defer srv.Close()
		c := newClient(t, srv.URL, nil)
		o := c.Check(context.Background(), testCard)
		wantNotSent(t, o)
		if !strings.Contains(o.Err.Error(), "refused") {
			t.Errorf("Err = %v; want connection refused", o.Err)
		}
	})
	t.Run("unknown host is not sent", func(t *testing.T) {
		c := newClient(t, "https://no-such-host.invalid", nil)
		o := c.Check(context.Background(), testCard)
		assertClean(t, o, testCard)
		wantNotSent(t, o)
	})
}

// TestPoolLimit: with MaxConns 1 and that connection busy, a second call
// waits for it; when its ctx ends while it waits, it was not sent. The
// first call then ends with its answer, on the one connection.
func TestPoolLimit(t *testing.T) {
	arrived := make(chan struct{}, 2)
	release := make(chan struct{})
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		io.Copy(io.Discard, r.Body)
		arrived <- struct{}{}
		select {
		case <-release:
		case <-r.Context().Done():
			return
		}
		io.WriteString(w, `{"result":"-1"}`)
	}))
	defer srv.Close()
	c := newClient(t, srv.URL, func(cfg *Config) { cfg.MaxConns = 1 })

	var first Outcome
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		first = c.Check(context.Background(), testCard)
	}()
	<-arrived
	ctx, cancel := context.WithTimeout(context.Background(), 100*time.Millisecond)
	defer cancel()
	o := c.Check(ctx, testCard)
	close(release)
	wg.Wait()
	wantNotSent(t, o)
	if !errors.Is(o.Err, context.DeadlineExceeded) {
		t.Errorf("Err = %v; want DeadlineExceeded", o.Err)
	}
	if len(arrived) != 0 {
		t.Errorf("the server got the second request; want it held back by the pool")
	}
	if first.Kind != KindAnswer || first.Answer.Result != "-1" {
		t.Errorf("first call: outcome %+v; want result -1", first)
	}
}

// TestProxyFromEnvironment: when the environment names a proxy for the
// endpoint, calls go through it. http.ProxyFromEnvironment reads the
// environment once per process, so the call is made by a child process.
func TestProxyFromEnvironment(t *testing.T) {
	got := make(chan string, 1)
	proxy := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		select {
		case got <- r.Method + " " + r.Host:
		default:
		}
		http.Error(w, "no", http.StatusForbidden)
	}))
	defer proxy.Close()
	cmd := exec.Command(os.Args[0], "-test.run=^$")
	for _, kv := range os.Environ() {
		if k, _, _ := strings.Cut(kv, "="); !strings.HasSuffix(strings.ToLower(k), "_proxy") {
			cmd.Env = append(cmd.Env, kv)
		}
	}
	cmd.Env = append(cmd.Env, childEnv+"=proxy-call", "HTTPS_PROXY="+proxy.URL)
	out, err := cmd.CombinedOutput()
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
	// The proxy refused the tunnel: no connection to the API, not sent.
	if !strings.Contains(string(out), "sent=false billing=none") {
		t.Errorf("child output %q; want a call not sent", out)
	}
}

// proxyCall is the child of TestProxyFromEnvironment: one call to a host
// that does not exist, which only the proxy can reach.
func proxyCall() int {
	c, err := New(Config{Endpoint: "https://api.example.invalid", Token: testToken})
	if err != nil {
		fmt.Println(err)
		return 1
	}
	defer c.Close()
	o := c.Check(context.Background(), testCard)
	fmt.Printf("kind=%v sent=%v billing=%s err=%v\n", o.Kind, o.Sent, o.Billing, o.Err)
	return 0
}
