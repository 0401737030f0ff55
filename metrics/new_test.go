package metrics

import (
	"path/filepath"
	"strings"
	"testing"
)

func TestNewRefusesUnusableOptions(t *testing.T) {
	dir := t.TempDir()
	file := filepath.Join(dir, "cardbatch.prom")
	tests := []struct {
		name    string
		opts    Options
		wantErr string
	}{
		{"nothing to do", Options{}, "neither a file nor a Pushgateway"},
		{"job as a label", Options{File: file, Grouping: map[string]string{"job": "x"}}, "set the job name as the job"},
		{"label starting with a digit", Options{File: file, Grouping: map[string]string{"1shard": "x"}}, "letters, digits and underscores"},
		{"label with a dash", Options{File: file, Grouping: map[string]string{"my-shard": "x"}}, "letters, digits and underscores"},
		{"reserved label", Options{File: file, Grouping: map[string]string{"__name__": "x"}}, "not starting with a digit or __"},
		{"label of the series", Options{File: file, Grouping: map[string]string{"status": "x"}}, "use this label already"},
		{"empty label value", Options{File: file, Grouping: map[string]string{"shard": ""}}, "empty value"},
		{"missing folder", Options{File: filepath.Join(dir, "nope", "cardbatch.prom")}, "create its folder"},
		{"push path with /metrics/", Options{PushURL: "http://u:s3cret-pw@pgw:9091/metrics/job/x"}, "without /metrics/"},
		{"push scheme", Options{PushURL: "ftp://u:s3cret-pw@pgw:9091"}, "scheme must be http or https"},
		{"push query", Options{PushURL: "http://u:s3cret-pw@pgw:9091/?token=s3cret-pw"}, "remove the query"},
		{"push bad port", Options{PushURL: "http://u:s3cret-pw@pgw:port"}, "is not a URL"},
		{"push bad escape", Options{PushURL: "http://u:s3cret-pw%zz@pgw:9091"}, "is not a URL"},
		{"push no host", Options{PushURL: "http://"}, "has no host"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e, err := New(tt.opts)
			if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
				t.Fatalf("New() = %v, %v; want an error with %q", e, err, tt.wantErr)
			}
			mustNotLeak(t, err, "s3cret-pw")
		})
	}
}

func TestPushTargetMasksThePassword(t *testing.T) {
	tests := []struct{ url, want string }{
		{"http://pusher:s3cret-pw@pgw:9091", "http://pusher:xxxxx@pgw:9091"},
		{"https://pusher:s3cret-pw@pgw.example/prefix/", "https://pusher:xxxxx@pgw.example/prefix/"},
		{"pgw:9091", "http://pgw:9091"},
		{"http://pusher@pgw:9091", "http://pusher@pgw:9091"},
	}
	for _, tt := range tests {
		e, err := New(Options{PushURL: tt.url})
		if err != nil {
			t.Fatalf("New(%s): %v", tt.want, err)
		}
		if got := e.PushTarget(); got != tt.want {
			t.Errorf("PushTarget() = %q, want %q", got, tt.want)
		}
	}
}
