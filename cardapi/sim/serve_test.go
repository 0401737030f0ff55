package sim

import (
	"context"
	"flag"
	"fmt"
	"io"
	"net/http"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"cardbatch/cardapi"
)

func TestBindFlags(t *testing.T) {
	fs := flag.NewFlagSet("simulate", flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	cfg := Config{Seed: 5}
	BindFlags(fs, &cfg)
	for _, name := range []string{"token", "seed", "latency", "latency-jitter", "slow-prob", "slow-latency", "busy-prob",
		"429-prob", "500-prob", "502-prob", "drop-prob", "unknown-prob", "rate-limit", "rate-burst",
		"fail-auth-after", "used-up-after", "error-form", "charge-drop-prob", "notexist-prob"} {
		if fs.Lookup(name) == nil {
			t.Errorf("flag --%s missing", name)
		}
	}
	if got := fs.Lookup("seed").DefValue; got != "5" {
		t.Errorf("seed default %q, want the Config's 5", got)
	}
	err := fs.Parse([]string{"--token", "T", "--seed", "9", "--latency", "20ms", "--latency-jitter", "5ms",
		"--slow-prob", "0.1", "--slow-latency", "1s", "--busy-prob", "0.03", "--429-prob", "0.1", "--500-prob", ".2",
		"--502-prob", ".05", "--drop-prob", ".01", "--unknown-prob", ".02", "--rate-limit", "20", "--rate-burst", "5",
		"--fail-auth-after", "7", "--used-up-after", "8", "--error-form", "success",
		"--charge-drop-prob", "0.04", "--notexist-prob", "0.25"})
	if err != nil {
		t.Fatal(err)
	}
	want := Config{Token: "T", Seed: 9, Latency: 20 * time.Millisecond, LatencyJitter: 5 * time.Millisecond,
		SlowProb: 0.1, SlowLatency: time.Second, BusyProb: 0.03, RateLimitedProb: 0.1, ServerErrorProb: 0.2,
		BadGatewayProb: 0.05, DropProb: 0.01, UnknownResultProb: 0.02, RateLimit: 20, RateBurst: 5,
		FailAuthAfter: 7, UsedUpAfterCharged: 8, ErrorForm: "success", ChargeDropProb: 0.04, NotExistProb: 0.25}
	if fmt.Sprintf("%+v", cfg) != fmt.Sprintf("%+v", want) {
		t.Errorf("parsed\n %+v\nwant\n %+v", cfg, want)
	}
	if err := cfg.Validate(); err != nil {
		t.Errorf("Validate: %v", err)
	}
}

func TestValidate(t *testing.T) {
	tests := []struct {
		name string
		cfg  Config
		want string // substring of the error; "" for valid
	}{
		{"zero", Config{}, ""},
		{"all faults adding to 1", Config{BusyProb: .5, DropProb: .5}, ""},
		{"probability over 1", Config{BusyProb: 1.5}, "--busy-prob"},
		{"negative probability", Config{DropProb: -0.1}, "--drop-prob"},
		{"faults over 1", Config{BusyProb: .6, ServerErrorProb: .6}, "add up"},
		{"slow prob is not a fault", Config{SlowProb: 1, BusyProb: 1}, ""},
		{"negative latency", Config{Latency: -time.Second}, "--latency"},
		{"negative rate", Config{RateLimit: -1}, "--rate-limit"},
		{"negative count", Config{UsedUpAfterCharged: -1}, "--used-up-after"},
		{"bad error form", Config{ErrorForm: "xml"}, "--error-form"},
		{"charge drop is a fault", Config{BusyProb: .6, ChargeDropProb: .6}, "add up"},
		{"charge drop over 1", Config{ChargeDropProb: 1.2}, "--charge-drop-prob"},
		{"notexist is not a fault", Config{NotExistProb: 1, BusyProb: 1}, ""},
		{"notexist over 1", Config{NotExistProb: 1.01}, "--notexist-prob"},
		{"notexist negative", Config{NotExistProb: -0.5}, "--notexist-prob"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			err := tc.cfg.Validate()
			switch {
			case tc.want == "" && err != nil:
				t.Errorf("unexpected error %v", err)
			case tc.want != "" && (err == nil || !strings.Contains(err.Error(), tc.want)):
				t.Errorf("error %v, want one mentioning %q", err, tc.want)
			}
		})
	}
}

func TestListenAndServe(t *testing.T) {
	const token = "s3cret-fake-token"
	s := New(Config{Token: token, Seed: 1})
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()

	var mu sync.Mutex
	var lines []string
	addrc := make(chan string, 1)
	logf := func(format string, args ...any) {
		line := fmt.Sprintf(format, args...)
		mu.Lock()
		lines = append(lines, line)
		mu.Unlock()
		if m := regexp.MustCompile(`http://(\S+)`).FindStringSubmatch(line); m != nil {
			addrc <- m[1]
		}
	}
	errc := make(chan error, 1)
	go func() { errc <- ListenAndServe(ctx, "127.0.0.1:0", s, logf) }()

	var addr string
	select {
	case addr = <-addrc:
	case err := <-errc:
		t.Fatalf("ListenAndServe returned early: %v", err)
	case <-time.After(5 * time.Second):
		t.Fatal("no startup line")
	}
	card := cardWithPrefix("622202", 19, 1)
	req, _ := http.NewRequest(http.MethodPost, "http://"+addr+cardapi.Path, strings.NewReader(cardBody(card)))
	req.Header.Set("Authorization", "Bearer "+token)
	tr := &http.Transport{}
	defer tr.CloseIdleConnections()
	resp, err := (&http.Client{Transport: tr}).Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 200 {
		t.Fatalf("status %d", resp.StatusCode)
	}

	cancel()
	select {
	case err := <-errc:
		if err != nil {
			t.Errorf("ListenAndServe after cancel: %v", err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("ListenAndServe did not return after cancel")
	}
	mu.Lock()
	defer mu.Unlock()
	if len(lines) != 1 {
		t.Errorf("log lines %q, want one", lines)
	}
	for _, l := range lines {
		if strings.Contains(l, token) || strings.Contains(l, card) {
			t.Errorf("log line leaks a secret: %q", l)
		}
	}

	t.Run("bad address", func(t *testing.T) {
		if err := ListenAndServe(context.Background(), "256.0.0.1:bad", s, nil); err == nil {
			t.Error("no error for a bad address")
		}
	})
}
