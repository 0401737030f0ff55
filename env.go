package main

import (
	"flag"
	"fmt"
	"strings"
)

// envPrefix starts the environment variable of every run flag.
const envPrefix = "CARDBATCH_"

// envName is the environment variable of a flag: CARDBATCH_ and the name in
// capitals with underscores for dashes (max-charged: CARDBATCH_MAX_CHARGED).
func envName(flagName string) string {
	return envPrefix + strings.ToUpper(strings.ReplaceAll(flagName, "-", "_"))
}

// fromEnv reports whether a flag may be set from the environment: not the
// one-letter shorthands (-q and -v are CARDBATCH_LOG_LEVEL).
func fromEnv(f *flag.Flag) bool { return len(f.Name) > 1 }

// applyEnv sets each flag of fs that the command line did not set from its
// environment variable, when that is not empty: a flag on the command line
// wins. The token keeps its own rules: CARDBATCH_TOKEN is refused, since
// the token is read from ACEDATA_TOKEN or --token-file only.
func applyEnv(fs *flag.FlagSet, getenv func(string) string) error {
	if getenv(envPrefix+"TOKEN") != "" {
		return fmt.Errorf("%sTOKEN is not read: the API token comes from ACEDATA_TOKEN or --token-file FILE; "+
			"unset %sTOKEN and set ACEDATA_TOKEN instead", envPrefix, envPrefix)
	}
	given := map[string]bool{}
	fs.Visit(func(f *flag.Flag) { given[f.Name] = true })
	var err error
	fs.VisitAll(func(f *flag.Flag) {
		if err != nil || given[f.Name] || !fromEnv(f) {
			return
		}
		v := getenv(envName(f.Name))
		if v == "" {
			return
		}
		if e := fs.Set(f.Name, v); e != nil {
			err = fmt.Errorf("%s=%q: invalid value for --%s: %v", envName(f.Name), v, f.Name, e)
		}
	})
	return err
}
