//go:build unix

package cardapi

import (
	"syscall"
	"time"
)

// cpuTime returns this process's user + system CPU time (benchmarks only).
func cpuTime() (time.Duration, bool) {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0, false
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano()), true
}
