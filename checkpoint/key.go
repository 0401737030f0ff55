package checkpoint

// KeyPath returns the key file that belongs to a checkpoint.
func KeyPath(checkpointPath string) string { return checkpointPath + ".key" }
