package checkpoint

// KeyPath returns the key file that belongs to a checkpoint.
func KeyPath(checkpointPath string) string { return checkpointPath + ".key" }

// LockPath returns the run lock (package runlock) that belongs to a
// checkpoint: a run holds it for its whole life.
func LockPath(checkpointPath string) string { return checkpointPath + ".lock" }
