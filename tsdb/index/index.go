package index

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"log/slog"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"time"

	_ "github.com/jackc/pgx/v5/stdlib" // registers the "pgx" driver
	_ "modernc.org/sqlite"             // registers the "sqlite" driver

	"github.com/vigil-telemetry/vigil/tsdb/search"
)

// Options tune Open.
type Options struct {
	// MaxOpenConns bounds the connections to PostgreSQL, or the SQLite
	// read connections (SQLite always has exactly one write connection).
	// Zero means 10 for PostgreSQL and 4 for SQLite.
	MaxOpenConns int
	// NoMigrate skips the schema migration Open otherwise runs; Migrate
	// runs it later. `vigil migrate` opens this way.
	NoMigrate bool
	// Logger receives the migration log; nil discards it.
	Logger *slog.Logger
}

// Index is the SQL index. It is safe for concurrent use by many goroutines,
// and several processes may share one database: every method that creates
// something settles races in the database, not in memory.
type Index struct {
	d   search.Dialect
	w   *sql.DB // writes; on SQLite its single connection serialises writers
	r   *sql.DB // reads; the same pool as w on PostgreSQL
	log *slog.Logger
	// where names the database in messages, without credentials.
	where string

	rebound sync.Map // PostgreSQL: query with ? placeholders → with $n
}

// Open connects to the index at rawURL (sqlite:///abs/path.db,
// sqlite://relative/path.db, postgres://… or postgresql://…) and migrates
// its schema unless o.NoMigrate. See INDEX.md for what a PostgreSQL URL may
// carry.
func Open(ctx context.Context, rawURL string, o Options) (*Index, error) {
	ix := &Index{log: o.Logger}
	if ix.log == nil {
		ix.log = slog.New(slog.DiscardHandler)
	}
	var err error
	switch {
	case strings.HasPrefix(rawURL, "sqlite://"):
		err = ix.openSQLite(strings.TrimPrefix(rawURL, "sqlite://"), o)
	case strings.HasPrefix(rawURL, "postgres://"), strings.HasPrefix(rawURL, "postgresql://"):
		err = ix.openPostgres(rawURL, o)
	default:
		return nil, fmt.Errorf("cannot open index %q: %w: the URL must start with sqlite:// or postgres://", redact(rawURL), ErrInvalid)
	}
	if err != nil {
		return nil, err
	}
	if err := ix.Ping(ctx); err != nil {
		ix.Close()
		return nil, err
	}
	if !o.NoMigrate {
		if err := ix.Migrate(ctx); err != nil {
			ix.Close()
			return nil, err
		}
	}
	return ix, nil
}

func (ix *Index) openSQLite(path string, o Options) error {
	ix.d = search.SQLite
	ix.where = "sqlite://" + path
	if path == "" || strings.ContainsAny(path, "?#") || path == ":memory:" {
		return fmt.Errorf("cannot open index %s: %w: a SQLite index needs a file path without '?' or '#'", ix.where, ErrInvalid)
	}
	const pragmas = "_pragma=busy_timeout(10000)&_pragma=foreign_keys(1)&_pragma=journal_mode(WAL)&_pragma=synchronous(NORMAL)"
	w, err := sql.Open("sqlite", path+"?"+pragmas+"&_txlock=immediate")
	if err != nil {
		return fmt.Errorf("cannot open index %s: %w", ix.where, err)
	}
	w.SetMaxOpenConns(1)
	w.SetMaxIdleConns(1)
	w.SetConnMaxLifetime(0)
	w.SetConnMaxIdleTime(0)
	r, err := sql.Open("sqlite", path+"?"+pragmas+"&_pragma=query_only(1)")
	if err != nil {
		w.Close()
		return fmt.Errorf("cannot open index %s: %w", ix.where, err)
	}
	n := o.MaxOpenConns
	if n <= 0 {
		n = 4
	}
	r.SetMaxOpenConns(n)
	r.SetMaxIdleConns(n)
	ix.w, ix.r = w, r
	return nil
}

func (ix *Index) openPostgres(rawURL string, o Options) error {
	ix.d = search.PostgreSQL
	ix.where = redact(rawURL)
	db, err := sql.Open("pgx", rawURL)
	if err != nil {
		return fmt.Errorf("cannot open index %s: %w", ix.where, err)
	}
	n := o.MaxOpenConns
	if n <= 0 {
		n = 10
	}
	db.SetMaxOpenConns(n)
	db.SetMaxIdleConns(n)
	db.SetConnMaxIdleTime(5 * time.Minute)
	ix.w, ix.r = db, db
	return nil
}

// redact drops the password of a URL for messages.
func redact(raw string) string {
	u, err := url.Parse(raw)
	if err != nil || u.User == nil {
		return raw
	}
	if _, ok := u.User.Password(); ok {
		u.User = url.UserPassword(u.User.Username(), "xxxxx")
	}
	return u.String()
}

// Close releases the connections. The Index must not be used afterwards.
func (ix *Index) Close() error {
	err := ix.w.Close()
	if ix.r != ix.w {
		err = errors.Join(err, ix.r.Close())
	}
	return err
}

// Ping checks that the database answers.
func (ix *Index) Ping(ctx context.Context) error {
	if err := ix.w.PingContext(ctx); err != nil {
		return fmt.Errorf("index %s does not answer: %w", ix.where, err)
	}
	if ix.r != ix.w {
		if err := ix.r.PingContext(ctx); err != nil {
			return fmt.Errorf("index %s does not answer: %w", ix.where, err)
		}
	}
	return nil
}

// Dialect reports which SQL dialect the index speaks.
func (ix *Index) Dialect() search.Dialect { return ix.d }

func (ix *Index) pg() bool { return ix.d == search.PostgreSQL }

// querier is what both *sql.DB and *sql.Tx offer.
type querier interface {
	ExecContext(ctx context.Context, query string, args ...any) (sql.Result, error)
	QueryContext(ctx context.Context, query string, args ...any) (*sql.Rows, error)
	QueryRowContext(ctx context.Context, query string, args ...any) *sql.Row
}

// q returns query with its ? placeholders in the dialect's spelling. The
// rewrite skips quoted literals and is cached, so static queries cost one
// map lookup.
func (ix *Index) q(query string) string {
	if ix.d != search.PostgreSQL {
		return query
	}
	if v, ok := ix.rebound.Load(query); ok {
		return v.(string)
	}
	s := rebind(query)
	ix.rebound.Store(query, s)
	return s
}

// qOnce is q for a query built from data (such as attribute names), which
// is not cached so that the cache stays bounded.
func (ix *Index) qOnce(query string) string {
	if ix.d != search.PostgreSQL {
		return query
	}
	return rebind(query)
}

// rebind numbers the ? placeholders of query outside quoted literals.
func rebind(query string) string {
	var b strings.Builder
	n := 0
	quote := byte(0)
	for i := 0; i < len(query); i++ {
		c := query[i]
		switch {
		case quote != 0:
			if c == quote {
				quote = 0
			}
		case c == '\'' || c == '"':
			quote = c
		case c == '?':
			n++
			b.WriteString("$" + strconv.Itoa(n))
			continue
		}
		b.WriteByte(c)
	}
	return b.String()
}

// write runs f in a transaction on the write pool and commits it when f
// returns nil.
func (ix *Index) write(ctx context.Context, f func(tx *sql.Tx) error) error {
	tx, err := ix.w.BeginTx(ctx, nil)
	if err != nil {
		return fmt.Errorf("cannot begin a transaction on index %s: %w", ix.where, err)
	}
	if err := f(tx); err != nil {
		_ = tx.Rollback()
		return err
	}
	if err := tx.Commit(); err != nil {
		return fmt.Errorf("cannot commit to index %s: %w", ix.where, err)
	}
	return nil
}

// ts is a time as the dialect binds it: Unix microseconds on SQLite, a UTC
// time truncated to microseconds on PostgreSQL.
func (ix *Index) ts(t time.Time) any {
	if ix.d == search.SQLite {
		return t.UnixMicro()
	}
	return t.UTC().Truncate(time.Microsecond)
}

// optTS is ts of an optional time; nil binds NULL.
func (ix *Index) optTS(t *time.Time) any {
	if t == nil {
		return nil
	}
	return ix.ts(*t)
}

// optStr binds an optional string; nil binds NULL.
func optStr(s *string) any {
	if s == nil {
		return nil
	}
	return *s
}

// timeDest scans a timestamp column of either dialect.
type timeDest struct{ t *time.Time }

func (d timeDest) Scan(v any) error {
	t, ok, err := scanTime(v)
	if err != nil {
		return err
	}
	if !ok {
		return fmt.Errorf("BUG: NULL in a NOT NULL timestamp column")
	}
	*d.t = t
	return nil
}

// optTimeDest scans a nullable timestamp column of either dialect.
type optTimeDest struct{ t **time.Time }

func (d optTimeDest) Scan(v any) error {
	t, ok, err := scanTime(v)
	if err != nil {
		return err
	}
	if !ok {
		*d.t = nil
		return nil
	}
	*d.t = &t
	return nil
}

func scanTime(v any) (time.Time, bool, error) {
	switch x := v.(type) {
	case nil:
		return time.Time{}, false, nil
	case int64:
		return time.UnixMicro(x).UTC(), true, nil
	case time.Time:
		return x.UTC(), true, nil
	}
	return time.Time{}, false, fmt.Errorf("cannot scan %T as a timestamp", v)
}

// optStrDest scans a nullable text column into a *string.
type optStrDest struct{ s **string }

func (d optStrDest) Scan(v any) error {
	switch x := v.(type) {
	case nil:
		*d.s = nil
	case string:
		*d.s = &x
	case []byte:
		s := string(x)
		*d.s = &s
	default:
		return fmt.Errorf("cannot scan %T as text", v)
	}
	return nil
}

// micro truncates t to the precision the index keeps, in UTC.
func micro(t time.Time) time.Time { return t.UTC().Truncate(time.Microsecond) }

// sqlString quotes s as an SQL string literal. Only names validated
// against the schema's character sets reach it.
func sqlString(s string) string { return "'" + strings.ReplaceAll(s, "'", "''") + "'" }
