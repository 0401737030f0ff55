package cache

import (
	"context"
	"database/sql"
	"net/url"
	"regexp"
	"strings"

	_ "github.com/jackc/pgx/v5/stdlib" // the database/sql driver "pgx"
)

// IsURL reports whether a --cache value names a PostgreSQL database
// (postgres:// or postgresql://) rather than a SQLite file.
func IsURL(s string) bool {
	l := strings.ToLower(s)
	return strings.HasPrefix(l, "postgres://") || strings.HasPrefix(l, "postgresql://")
}

// userinfo matches the user:password@ part of a URL, even one that does
// not parse.
var userinfo = regexp.MustCompile(`(?i)(://[^/@:?#]*:)[^@]*@`)

// passwordParam matches a password given as a query parameter.
var passwordParam = regexp.MustCompile(`(?i)(password=)[^&\s]*`)

// Redact returns a connection URL with its password masked, fit for a
// message: "postgres://team:xxxxx@db1:5432/answers".
func Redact(connURL string) string {
	return passwordParam.ReplaceAllString(userinfo.ReplaceAllString(connURL, "${1}xxxxx@"), "${1}xxxxx")
}

// masker returns a function that hides the password of connURL (and the
// URL itself) wherever a text repeats it.
func masker(connURL string) func(string) string {
	secrets := []string{connURL}
	if u, err := url.Parse(connURL); err == nil {
		if pw, ok := u.User.Password(); ok && pw != "" {
			secrets = append(secrets, pw, url.QueryEscape(pw), url.PathEscape(pw))
		}
		if pw := u.Query().Get("password"); pw != "" {
			secrets = append(secrets, pw, url.QueryEscape(pw))
		}
	}
	return func(s string) string {
		for _, sec := range secrets {
			if sec != "" {
				s = strings.ReplaceAll(s, sec, "xxxxx")
			}
		}
		return Redact(s)
	}
}

// OpenPostgres opens the team answer cache in the PostgreSQL database at
// connURL, with the HMAC key every machine sharing it uses (the key never
// goes to the database). The tables are created on first use. No error or
// Path ever holds the password.
func OpenPostgres(ctx context.Context, connURL string, key []byte) (*Cache, error) {
	d := postgresDialect(masker(connURL))
	name := Redact(connURL)
	fail := &Cache{d: d, name: name}
	db, err := sql.Open("pgx", connURL)
	if err != nil {
		return nil, fail.wrap(err)
	}
	db.SetMaxOpenConns(8)
	db.SetMaxIdleConns(8)
	if err := db.PingContext(ctx); err != nil {
		db.Close()
		return nil, fail.wrap(err)
	}
	return newCache(ctx, db, d, key, name)
}

func postgresDialect(mask func(string) string) *dialect {
	return &dialect{
		// Two runs starting on an empty database create the tables once.
		lock: `SELECT pg_advisory_xact_lock(7146723980313)`,
		schema: []string{
			`CREATE TABLE IF NOT EXISTS answers (
				mac          BYTEA PRIMARY KEY,
				result       TEXT NOT NULL,
				description  TEXT NOT NULL,
				account_bank TEXT NOT NULL,
				account_type INTEGER NOT NULL,
				answered_at  BIGINT NOT NULL -- unix seconds
			)`,
			`CREATE TABLE IF NOT EXISTS claims (
				mac     BYTEA PRIMARY KEY,
				owner   TEXT NOT NULL,  -- process, host and start of the claiming run
				expires BIGINT NOT NULL -- unix milliseconds, the server's clock
			)`,
			`CREATE TABLE IF NOT EXISTS schema_version (version INTEGER NOT NULL)`,
		},
		cleanup: []string{`DELETE FROM claims WHERE expires < {now} - 86400000`},
		now:     `CAST(EXTRACT(EPOCH FROM clock_timestamp()) * 1000 AS BIGINT)`,
		marker:  "$",
		mask:    mask,
	}
}
