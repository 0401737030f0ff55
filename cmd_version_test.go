package main

import (
	"runtime"
	"runtime/debug"
	"strings"
	"testing"
)

func TestFormatVersion(t *testing.T) {
	vcs := func(kv ...string) []debug.BuildSetting {
		var s []debug.BuildSetting
		for i := 0; i < len(kv); i += 2 {
			s = append(s, debug.BuildSetting{Key: kv[i], Value: kv[i+1]})
		}
		return s
	}
	// The last two lines are facts of this test process.
	tail := "go:       " + runtime.Version() + "\nplatform: " + runtime.GOOS + "/" + runtime.GOARCH + "\n"
	const rev = "9e6f0cf2b1d4a7c3e5f60718293a4b5c6d7e8f90"
	tests := []struct {
		name    string
		stamped string
		bi      *debug.BuildInfo
		want    string
	}{
		{
			name:    "stamped by make wins over the module version",
			stamped: "v1.4.0-3-g9e6f0cf",
			bi: &debug.BuildInfo{Main: debug.Module{Path: "cardbatch", Version: "v1.4.0"},
				Settings: vcs("vcs.revision", rev, "vcs.time", "2026-11-29T20:05:00Z", "vcs.modified", "false")},
			want: "cardbatch v1.4.0-3-g9e6f0cf\ncommit:   " + rev + "\nbuilt:    2026-11-29T20:05:00Z\n" + tail,
		},
		{
			name:    "not stamped: the module's pseudo-version from git, work tree modified",
			stamped: "dev",
			bi: &debug.BuildInfo{Main: debug.Module{Path: "cardbatch", Version: "v0.0.0-20261129200500-9e6f0cf2b1d4+dirty"},
				Settings: vcs("vcs", "git", "vcs.revision", rev, "vcs.time", "2026-11-29T20:05:00Z", "vcs.modified", "true")},
			want: "cardbatch v0.0.0-20261129200500-9e6f0cf2b1d4+dirty\ncommit:   " + rev + " (modified)\nbuilt:    2026-11-29T20:05:00Z\n" + tail,
		},
		{
			name:    "empty stamp and a tagged go install",
			stamped: "",
			bi:      &debug.BuildInfo{Main: debug.Module{Path: "cardbatch", Version: "v1.5.2"}},
			want:    "cardbatch v1.5.2\ncommit:   unknown\n" + tail,
		},
		{
			name:    "devel build without vcs information",
			stamped: "dev",
			bi:      &debug.BuildInfo{Main: debug.Module{Path: "cardbatch", Version: "(devel)"}},
			want:    "cardbatch dev\ncommit:   unknown\n" + tail,
		},
		{
			name:    "no build information at all",
			stamped: "",
			bi:      nil,
			want:    "cardbatch dev\ncommit:   unknown\n" + tail,
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if got := formatVersion(tc.stamped, tc.bi); got != tc.want {
				t.Errorf("formatVersion(%q) =\n%s\nwant\n%s", tc.stamped, got, tc.want)
			}
		})
	}
}

// TestVersionInfoReadsThisBinary runs the real fallback: a test binary is
// built without a stamp and without VCS settings, and its main module
// version is "(devel)".
func TestVersionInfoReadsThisBinary(t *testing.T) {
	want := "cardbatch dev\ncommit:   unknown\ngo:       " + runtime.Version() +
		"\nplatform: " + runtime.GOOS + "/" + runtime.GOARCH + "\n"
	if got := versionInfo(""); got != want {
		t.Errorf("versionInfo(\"\") =\n%s\nwant\n%s", got, want)
	}
	if got := versionInfo("v2.0.0"); !strings.HasPrefix(got, "cardbatch v2.0.0\ncommit:   unknown\n") {
		t.Errorf("versionInfo(\"v2.0.0\") starts %q, want the stamped version first", got)
	}
}
