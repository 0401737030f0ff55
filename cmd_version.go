package main

import (
	"fmt"
	"runtime"
	"runtime/debug"
	"strings"
)

// versionInfo is what `cardbatch version` prints: the version, the commit it
// was built from, the Go release and the platform. stamped is the version
// `make` writes with -ldflags "-X main.version=..."; when it is empty or
// "dev" (a plain `go build` or `go install`), the version and commit come
// from the build information the Go toolchain embeds in every binary.
func versionInfo(stamped string) string {
	bi, _ := debug.ReadBuildInfo() // nil when the binary carries none
	return formatVersion(stamped, bi)
}

// formatVersion renders versionInfo from an explicit build information
// (nil when the binary has none), so that tests can supply their own.
func formatVersion(stamped string, bi *debug.BuildInfo) string {
	var b strings.Builder
	fmt.Fprintf(&b, "cardbatch %s\n", releaseVersion(stamped, bi))
	fmt.Fprintf(&b, "commit:   %s\n", commitOf(bi))
	if t := setting(bi, "vcs.time"); t != "" {
		fmt.Fprintf(&b, "built:    %s\n", t)
	}
	fmt.Fprintf(&b, "go:       %s\n", runtime.Version())
	fmt.Fprintf(&b, "platform: %s/%s\n", runtime.GOOS, runtime.GOARCH)
	return b.String()
}

// releaseVersion is the stamped version, else the main module's version
// (a tag or a pseudo-version the toolchain derives from git), else "dev".
func releaseVersion(stamped string, bi *debug.BuildInfo) string {
	if stamped != "" && stamped != "dev" {
		return stamped
	}
	if bi != nil && bi.Main.Version != "" && bi.Main.Version != "(devel)" {
		return bi.Main.Version
	}
	return "dev"
}

// commitOf is the git revision the binary was built from, marked when the
// work tree had uncommitted changes, or "unknown" when none was recorded
// (go test binaries, builds with -buildvcs=false, builds outside git).
func commitOf(bi *debug.BuildInfo) string {
	rev := setting(bi, "vcs.revision")
	if rev == "" {
		return "unknown"
	}
	if setting(bi, "vcs.modified") == "true" {
		return rev + " (modified)"
	}
	return rev
}

// setting is one key of the build settings, "" when absent.
func setting(bi *debug.BuildInfo, key string) string {
	if bi == nil {
		return ""
	}
	for _, s := range bi.Settings {
		if s.Key == key {
			return s.Value
		}
	}
	return ""
}
