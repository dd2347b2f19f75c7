package store

import (
	"context"
	"database/sql"
	"fmt"
	"net/url"
	"strconv"
	"strings"
)

// dialect is the SQL the database speaks. The store's statements are
// written once, with ? placeholders and portable SQL; the few differences
// are methods here.
type dialect int

const (
	sqliteDialect dialect = iota
	postgresDialect
)

func (d dialect) String() string {
	if d == postgresDialect {
		return "postgres"
	}
	return "sqlite"
}

// jsonText is the SQL expression of the text at key of the JSON object in column col.
func (d dialect) jsonText(col, key string) string {
	if d == postgresDialect {
		return col + "->>'" + key + "'"
	}
	return "json_extract(" + col + ", '$." + key + "')"
}

// deliveryOrder is the column that orders deliveries by insertion (SQLite's
// rowid; on PostgreSQL an identity column).
func (d dialect) deliveryOrder() string {
	if d == postgresDialect {
		return "seq"
	}
	return "rowid"
}

// ValidateDatabaseURL checks a HOOKCI_DATABASE_URL: "" (the embedded SQLite
// store) or a postgres:// or postgresql:// URL. Anything else is an error
// naming the scheme; the error never repeats the URL (it may hold a password).
func ValidateDatabaseURL(raw string) error {
	_, err := parseDatabaseURL(raw)
	return err
}

// parseDatabaseURL says which database a database URL names.
func parseDatabaseURL(raw string) (dialect, error) {
	if raw == "" {
		return sqliteDialect, nil
	}
	u, err := url.Parse(raw)
	if err != nil {
		// url.Parse's error repeats the URL, which may hold a password.
		return 0, fmt.Errorf("database URL: not a URL (want postgres://user:password@host/database)")
	}
	switch u.Scheme {
	case "postgres", "postgresql":
		return postgresDialect, nil
	case "":
		return 0, fmt.Errorf("database URL has no scheme: want postgres://user:password@host/database")
	default:
		return 0, fmt.Errorf("database URL scheme %q is not supported: want postgres:// (or leave the URL empty for the embedded SQLite store)", u.Scheme)
	}
}

// rebind rewrites ? placeholders as $1, $2, … (PostgreSQL), leaving
// string literals, quoted identifiers and comments alone.
func rebind(query string) string {
	var b strings.Builder
	b.Grow(len(query) + 16)
	n := 0
	for i := 0; i < len(query); i++ {
		c := query[i]
		switch c {
		case '\'', '"':
			j := strings.IndexByte(query[i+1:], c)
			if j < 0 {
				b.WriteString(query[i:])
				return b.String()
			}
			b.WriteString(query[i : i+j+2])
			i += j + 1
		case '-':
			if i+1 < len(query) && query[i+1] == '-' {
				j := strings.IndexByte(query[i:], '\n')
				if j < 0 {
					b.WriteString(query[i:])
					return b.String()
				}
				b.WriteString(query[i : i+j])
				i += j - 1
				continue
			}
			b.WriteByte(c)
		case '?':
			n++
			b.WriteByte('$')
			b.WriteString(strconv.Itoa(n))
		default:
			b.WriteByte(c)
		}
	}
	return b.String()
}

// bind is query in the store's dialect (rebound once, then cached).
func (s *Store) bind(query string) string {
	if s.dialect != postgresDialect {
		return query
	}
	if v, ok := s.rebound.Load(query); ok {
		return v.(string)
	}
	q := rebind(query)
	s.rebound.Store(query, q)
	return q
}

// boundDB runs the store's ?-placeholder statements on a database,
// connection or transaction in the store's dialect.
type boundDB struct {
	s *Store
	e execer
}

func (b boundDB) ExecContext(ctx context.Context, query string, args ...any) (sql.Result, error) {
	res, err := b.e.ExecContext(ctx, b.s.bind(query), args...)
	if err == nil {
		b.s.changes.changedOutsideTx(b.e) // followers read again (changes.go)
	}
	return res, err
}

func (b boundDB) QueryContext(ctx context.Context, query string, args ...any) (*sql.Rows, error) {
	return b.e.QueryContext(ctx, b.s.bind(query), args...)
}

func (b boundDB) QueryRowContext(ctx context.Context, query string, args ...any) *sql.Row {
	return b.e.QueryRowContext(ctx, b.s.bind(query), args...)
}
