//go:build !unix

package cardapi

import "time"

// cpuTime reports no CPU time where the benchmark does not read it.
func cpuTime() (time.Duration, bool) { return 0, false }
