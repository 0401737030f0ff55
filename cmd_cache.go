package main

import (
	"context"
	"os"
	"strings"

	"cardbatch/cache"
	"cardbatch/internal/cardkey"
)

// cacheEnv may name the answer cache (a file or a postgres:// URL) when
// --cache does not.
const cacheEnv = "CARDBATCH_CACHE"

// cacheTarget returns the answer cache to open: --cache, the URL in
// --cache-url-file, $CARDBATCH_CACHE, or "" for the default file.
func (a *app) cacheTarget(f *runFlags) (string, error) {
	if f.cacheURLFile != "" {
		if f.cachePath != "" {
			return "", usageErr("--cache and --cache-url-file contradict each other: choose one")
		}
		st, err := os.Stat(f.cacheURLFile)
		if err != nil {
			return "", usageErr("--cache-url-file: %v", err)
		}
		if st.Mode().Perm()&0o077 != 0 {
			return "", usageErr("--cache-url-file %s is readable by other users (mode %04o): run chmod 600 %s",
				f.cacheURLFile, st.Mode().Perm(), f.cacheURLFile)
		}
		b, err := os.ReadFile(f.cacheURLFile)
		if err != nil {
			return "", usageErr("--cache-url-file: %v", err)
		}
		u := strings.TrimSpace(string(b))
		if !cache.IsURL(u) {
			return "", usageErr("--cache-url-file %s does not hold a postgres:// URL", f.cacheURLFile)
		}
		return u, nil
	}
	if f.cachePath != "" {
		return f.cachePath, nil
	}
	return strings.TrimSpace(a.getenv(cacheEnv)), nil
}

// openCache opens the answer cache named by target: a PostgreSQL team
// cache for a postgres:// URL, else a SQLite file ("" = the default one).
// A team cache needs the team's HMAC key, from $CARDBATCH_HMAC_KEY or
// --cache-key-file: it has no key file beside it.
func (a *app) openCache(ctx context.Context, f *runFlags, target string) (*cache.Cache, int, error) {
	if !cache.IsURL(target) {
		if f.cacheKeyFile != "" {
			return nil, exitUsage, usageErr("--cache-key-file goes with a postgres:// --cache (a cache file keeps its key in FILE.key)")
		}
		if target == "" {
			p, err := cache.DefaultPath()
			if err != nil {
				return nil, exitUsage, err
			}
			target = p
		}
		c, err := openAnswerCache(ctx, target)
		if err != nil {
			return nil, exitCodeOf(err), err
		}
		return c, exitOK, nil
	}
	if a.getenv(cardkey.KeyEnv) == "" && f.cacheKeyFile == "" {
		return nil, exitUsage, usageErr("a PostgreSQL answer cache (%s) needs the team's HMAC key, the same on every machine sharing it: "+
			"set %s or pass --cache-key-file FILE", cache.Redact(target), cardkey.KeyEnv)
	}
	key, err := cardkey.LoadKey(f.cacheKeyFile, false)
	if err != nil {
		return nil, exitUsage, usageErr("answer cache key: %v", err)
	}
	c, err := cache.OpenPostgres(ctx, target, key)
	if err != nil {
		return nil, exitFatal, err
	}
	return c, exitOK, nil
}
