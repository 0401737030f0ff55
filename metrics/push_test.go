package metrics

import (
	"context"
	"errors"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"golang.org/x/crypto/bcrypt"
)

func TestPushgatewayHoldsPushedSeries(t *testing.T) {
	base := startPushgateway(t)
	tests := []struct {
		name     string
		job      string
		grouping map[string]string
		labels   map[string]string // labels the Pushgateway shows on every series
	}{
		{"job and grouping key", "nightly", map[string]string{"input": "cards.csv", "shard": "1/2"},
			map[string]string{"job": "nightly", "input": "cards.csv", "shard": "1/2"}},
		{"default job", "", nil, map[string]string{"job": "cardbatch"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e, err := New(Options{Job: tt.job, Grouping: tt.grouping, PushURL: base})
			if err != nil {
				t.Fatal(err)
			}
			e.Update(fullSnapshot())
			if err := e.Flush(context.Background()); err != nil {
				t.Fatal(err)
			}
			checkSeries(t, scrape(t, base, "", ""), fullExpected(), tt.labels)
		})
	}
}

// TestPushgatewayKeepsLastSuccess pushes a sequence of runs to one group, as
// nightly runs do, each from a new Exporter as a new process would.
func TestPushgatewayKeepsLastSuccess(t *testing.T) {
	base := startPushgateway(t)
	run := func(night time.Time, success bool, calls map[string]int64) Snapshot {
		return Snapshot{CallsByResult: calls, Start: night, Now: night.Add(time.Minute), Success: success}
	}
	tests := []struct {
		name     string
		runs     []Snapshot
		wantLast float64 // 0: the series is absent
		wantOdd  bool    // the first run's result -4 still shows
	}{
		{"a failed run keeps the last success",
			[]Snapshot{run(night1, true, map[string]int64{"0": 5, "-4": 3}), run(night2, false, map[string]int64{"0": 9})},
			1772330460, false},
		{"a success after a failure replaces it",
			[]Snapshot{run(night1, true, nil), run(night2, false, nil), run(night3, true, map[string]int64{"0": 9})},
			1772503260, false},
		{"no success yet: no series",
			[]Snapshot{run(night1, false, map[string]int64{"0": 9})}, 0, false},
		{"an unknown code stays while runs report it",
			[]Snapshot{run(night1, false, map[string]int64{"0": 5, "-4": 3}), run(night2, true, map[string]int64{"0": 9, "-4": 3})},
			1772416860, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			grouping := map[string]string{"case": strings.ReplaceAll(tt.name, " ", "_")}
			for _, s := range tt.runs {
				e, err := New(Options{Job: "nightly", Grouping: grouping, PushURL: base})
				if err != nil {
					t.Fatal(err)
				}
				e.Update(s)
				if err := e.Flush(context.Background()); err != nil {
					t.Fatal(err)
				}
			}
			families := scrape(t, base, "", "")
			last, ok := value(families, "cardbatch_last_success_timestamp_seconds", grouping)
			if tt.wantLast == 0 && ok || tt.wantLast != 0 && last != tt.wantLast {
				t.Errorf("last success = %v (present %v), want %v", last, ok, tt.wantLast)
			}
			if got, _ := value(families, "cardbatch_calls_total", merge(grouping, map[string]string{"result": "0"})); got != 9 {
				t.Errorf(`calls{result="0"} = %v, want the last run's 9`, got)
			}
			_, odd := value(families, "cardbatch_calls_total", merge(grouping, map[string]string{"result": "-4"}))
			if odd != tt.wantOdd {
				t.Errorf(`calls{result="-4"} present = %v, want %v`, odd, tt.wantOdd)
			}
		})
	}
}

func TestPushgatewayBasicAuth(t *testing.T) {
	hash, err := bcrypt.GenerateFromPassword([]byte("s3cret-pw"), bcrypt.MinCost)
	if err != nil {
		t.Fatal(err)
	}
	config := filepath.Join(t.TempDir(), "web.yml")
	if err := os.WriteFile(config, []byte("basic_auth_users:\n  pusher: "+string(hash)+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	base := startPushgateway(t, "--web.config.file="+config)
	host := strings.TrimPrefix(base, "http://")
	tests := []struct {
		name, url string
		wantErr   string
	}{
		{"right password", "http://pusher:s3cret-pw@" + host, ""},
		{"wrong password", "http://pusher:wrong-pw@" + host, "401"},
		{"no scheme", "pusher:s3cret-pw@" + host, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			grouping := map[string]string{"case": strings.ReplaceAll(tt.name, " ", "_")}
			e, err := New(Options{Job: "auth", Grouping: grouping, PushURL: tt.url})
			if err != nil {
				t.Fatal(err)
			}
			if shown := e.PushTarget(); strings.Contains(shown, "-pw") || !strings.Contains(shown, "pusher:xxxxx@") {
				t.Errorf("PushTarget() = %q, want the password masked", shown)
			}
			e.Update(fullSnapshot())
			err = e.Flush(context.Background())
			mustNotLeak(t, err, "-pw")
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("Flush() = %v, want an error with %q", err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			checkSeries(t, scrape(t, base, "pusher", "s3cret-pw"), fullExpected(), merge(grouping, map[string]string{"job": "auth"}))
		})
	}
}

// TestFlushGivesUpOnDeadPushgateway: a Pushgateway that never answers or
// refuses connections costs the run at most Timeout and an error to log.
func TestFlushGivesUpOnDeadPushgateway(t *testing.T) {
	silent := silentServer(t)
	refused, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	refusedAddr := refused.Addr().String()
	refused.Close()
	tests := []struct {
		name, addr string
		want       error // nil: any error
	}{
		{"accepts and never answers", silent, context.DeadlineExceeded},
		{"refuses connections", refusedAddr, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			file := filepath.Join(t.TempDir(), "cardbatch.prom")
			e, err := New(Options{PushURL: "http://u:s3cret-pw@" + tt.addr, File: file, Timeout: 200 * time.Millisecond})
			if err != nil {
				t.Fatal(err)
			}
			e.Update(fullSnapshot())
			err = e.Flush(context.Background())
			if err == nil || tt.want != nil && !errors.Is(err, tt.want) {
				t.Fatalf("Flush() = %v, want an error (%v)", err, tt.want)
			}
			mustNotLeak(t, err, "s3cret-pw")
			if !strings.Contains(err.Error(), "u:xxxxx@"+tt.addr) {
				t.Errorf("error %q does not name the masked URL", err)
			}
			// The file is written all the same.
			f, err := os.Open(file)
			if err != nil {
				t.Fatal(err)
			}
			defer f.Close()
			checkSeries(t, parseText(t, f), fullExpected(), nil)
		})
	}
}

// silentServer accepts TCP connections on loopback and never answers them.
func silentServer(t *testing.T) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan struct{})
	go func() {
		var conns []net.Conn
		defer func() {
			for _, c := range conns {
				c.Close()
			}
			close(done)
		}()
		for {
			c, err := l.Accept()
			if err != nil {
				return
			}
			conns = append(conns, c)
		}
	}()
	t.Cleanup(func() {
		l.Close()
		<-done
	})
	return l.Addr().String()
}
