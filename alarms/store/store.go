// Package store keeps alarms and their history in SQL: SQLite (the
// embedded default, modernc.org/sqlite) or PostgreSQL (pgx). One schema
// serves both (migrations/, described in SCHEMA.md); the differences are
// placeholders, the regular-expression operator and error codes. A Store
// is safe for concurrent use.
package store

import (
	"context"
	"database/sql"
	"database/sql/driver"
	"embed"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"regexp"
	"strings"
	"sync"
	"time"

	"github.com/jackc/pgx/v5/pgconn"
	_ "github.com/jackc/pgx/v5/stdlib" // registers the "pgx" driver
	"github.com/pressly/goose/v3"
	"modernc.org/sqlite"
	sqlite3 "modernc.org/sqlite/lib"

	"github.com/vigil-telemetry/vigil/alarms"
)

// Dialect is the SQL flavour of a database.
type Dialect int

// The two dialects.
const (
	SQLite Dialect = iota + 1
	Postgres
)

func (d Dialect) String() string {
	switch d {
	case SQLite:
		return "sqlite"
	case Postgres:
		return "postgres"
	}
	return fmt.Sprintf("Dialect(%d)", int(d))
}

// Sentinel outcomes callers branch on; the API maps them to Aodh's codes.
var (
	ErrNotFound      = alarms.ErrNotFound
	ErrExists        = errors.New("alarm name exists")
	ErrOverQuota     = errors.New("alarm quota exceeded")
	ErrInvalidMarker = errors.New("invalid marker")
)

//go:embed migrations/*.sql
var migrations embed.FS

// versionTable is goose's table for this schema, apart from the metering
// index's so that both can live in one database.
const versionTable = "alarms_schema_version"

// Store is the alarm store.
type Store struct {
	db  *sql.DB
	d   Dialect
	log *slog.Logger

	stopCheckpoint chan struct{} // nil without the background checkpoint
	checkpointDone chan struct{}
	closeOnce      sync.Once
}

// Open connects to a database and brings its schema up to date. driver is
// "sqlite" (dsn a file path or file: URI) or "postgres" (dsn a postgres://
// URL or key=value string). The caller must Close the Store.
func Open(ctx context.Context, driver, dsn string, log *slog.Logger) (*Store, error) {
	var d Dialect
	var name string
	switch driver {
	case "sqlite", "sqlite3":
		d, name = SQLite, "sqlite"
		registerSQLiteFuncs()
		dsn = sqliteDSN(dsn)
	case "postgres", "postgresql", "pgx":
		d, name = Postgres, "pgx"
	default:
		return nil, fmt.Errorf("cannot open alarm store: unknown driver %q: want sqlite or postgres", driver)
	}
	db, err := sql.Open(name, dsn)
	if err != nil {
		return nil, fmt.Errorf("cannot open %s alarm store: %w", d, err)
	}
	memory := d == SQLite && (strings.Contains(dsn, ":memory:") || strings.Contains(dsn, "mode=memory"))
	if memory {
		// Each connection to an in-memory database is a database of its own.
		db.SetMaxOpenConns(1)
	} else if d == SQLite {
		// Readers run beside the writer in WAL mode; writers queue on
		// the database lock (transactions take it at BEGIN).
		db.SetMaxOpenConns(4)
	} else {
		db.SetMaxOpenConns(16)
		db.SetMaxIdleConns(16)
	}
	s, err := New(ctx, db, d, log)
	if err != nil {
		_ = db.Close()
		return nil, err
	}
	if d == SQLite && !memory {
		s.startCheckpoints()
	}
	return s, nil
}

// sqliteDSN adds the pragmas the store needs: WAL for concurrent readers,
// a busy timeout, synchronous=NORMAL (durable at each checkpoint; a power
// loss can lose the last transactions, never corrupt), transactions that
// take the write lock at BEGIN (a read-then-write transaction cannot fail
// to upgrade), and no automatic checkpoint: a background one keeps the
// WAL short, so that no commit pays for copying pages back.
func sqliteDSN(dsn string) string {
	if !strings.HasPrefix(dsn, "file:") {
		dsn = "file:" + dsn
	}
	sep := "?"
	if strings.Contains(dsn, "?") {
		sep = "&"
	}
	return dsn + sep + "_pragma=busy_timeout(10000)&_pragma=journal_mode(WAL)&_pragma=synchronous(NORMAL)&_pragma=foreign_keys(1)&_pragma=wal_autocheckpoint(0)&_txlock=immediate"
}

// checkpointEvery is how often the background checkpoint runs.
const checkpointEvery = time.Second

func (s *Store) startCheckpoints() {
	s.stopCheckpoint = make(chan struct{})
	s.checkpointDone = make(chan struct{})
	go func() {
		defer close(s.checkpointDone)
		t := time.NewTicker(checkpointEvery)
		defer t.Stop()
		for {
			select {
			case <-s.stopCheckpoint:
				ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
				_, _ = s.db.ExecContext(ctx, "PRAGMA wal_checkpoint(TRUNCATE)")
				cancel()
				return
			case <-t.C:
				ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
				if _, err := s.db.ExecContext(ctx, "PRAGMA wal_checkpoint(PASSIVE)"); err != nil {
					s.log.Warn("cannot checkpoint the alarm store", "err", err)
				}
				cancel()
			}
		}
	}()
}

var sqliteFuncsOnce sync.Once

// regexpFunc is the SQLite function behind the "=~" operator.
const regexpFunc = "vigil_alarms_regexp"

func registerSQLiteFuncs() {
	sqliteFuncsOnce.Do(func() {
		// Registration is process-wide in the driver; a second store reuses it.
		_ = sqlite.RegisterDeterministicScalarFunction(regexpFunc, 2, func(_ *sqlite.FunctionContext, args []driver.Value) (driver.Value, error) {
			pat, _ := args[0].(string)
			var val string
			switch v := args[1].(type) {
			case string:
				val = v
			case []byte:
				val = string(v)
			case nil:
				return int64(0), nil
			default:
				val = fmt.Sprint(v)
			}
			re, err := regexp.Compile(pat)
			if err != nil {
				return nil, fmt.Errorf("invalid regular expression %q: %w", pat, err)
			}
			if re.MatchString(val) {
				return int64(1), nil
			}
			return int64(0), nil
		})
	})
}

// New uses an open database of dialect d, migrating its schema. The Store
// owns db from then on.
func New(ctx context.Context, db *sql.DB, d Dialect, log *slog.Logger) (*Store, error) {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	s := &Store{db: db, d: d, log: log.With("component", "alarm-store")}
	if err := s.migrate(ctx); err != nil {
		return nil, err
	}
	return s, nil
}

func (s *Store) migrate(ctx context.Context) error {
	sub, err := fs.Sub(migrations, "migrations")
	if err != nil {
		return fmt.Errorf("BUG: embedded migrations: %w", err)
	}
	gd := goose.DialectSQLite3
	if s.d == Postgres {
		gd = goose.DialectPostgres
	}
	p, err := goose.NewProvider(gd, s.db, sub,
		goose.WithTableName(versionTable),
		goose.WithDisableGlobalRegistry(true),
	)
	if err != nil {
		return fmt.Errorf("cannot prepare alarm store migrations: %w", err)
	}
	if _, err := p.Up(ctx); err != nil {
		return fmt.Errorf("cannot migrate the %s alarm store: %w", s.d, err)
	}
	return nil
}

// Close stops the background checkpoint and closes the database.
func (s *Store) Close() error {
	s.closeOnce.Do(func() {
		if s.stopCheckpoint != nil {
			close(s.stopCheckpoint)
			<-s.checkpointDone
		}
	})
	return s.db.Close()
}

// Dialect returns the store's dialect.
func (s *Store) Dialect() Dialect { return s.d }

// Ping checks that the database answers, for health checks.
func (s *Store) Ping(ctx context.Context) error { return s.db.PingContext(ctx) }

// isUnique reports whether err is a unique-constraint violation.
func isUnique(err error) bool {
	var se *sqlite.Error
	if errors.As(err, &se) {
		return se.Code() == sqlite3.SQLITE_CONSTRAINT_UNIQUE || se.Code() == sqlite3.SQLITE_CONSTRAINT_PRIMARYKEY
	}
	var pe *pgconn.PgError
	if errors.As(err, &pe) {
		return pe.Code == "23505"
	}
	return false
}

// micros converts a time to the stored form; the zero time is NULL.
func micros(t time.Time) any {
	if t.IsZero() {
		return nil
	}
	return t.UnixMicro()
}

func fromMicros(v sql.NullInt64) time.Time {
	if !v.Valid {
		return time.Time{}
	}
	return time.UnixMicro(v.Int64).UTC()
}

func boolInt(b bool) int64 {
	if b {
		return 1
	}
	return 0
}

func nullString(s string) any {
	if s == "" {
		return nil
	}
	return s
}

// builder assembles a statement with the dialect's placeholders.
type builder struct {
	d    Dialect
	sb   strings.Builder
	args []any
}

func (b *builder) w(s ...string) *builder {
	for _, x := range s {
		b.sb.WriteString(x)
	}
	return b
}

// arg appends a placeholder bound to v.
func (b *builder) arg(v any) *builder {
	b.args = append(b.args, v)
	if b.d == Postgres {
		fmt.Fprintf(&b.sb, "$%d", len(b.args))
	} else {
		b.sb.WriteByte('?')
	}
	return b
}

func (b *builder) String() string { return b.sb.String() }

// tx runs f in a transaction.
func (s *Store) tx(ctx context.Context, f func(tx *sql.Tx) error) error {
	tx, err := s.db.BeginTx(ctx, nil)
	if err != nil {
		return fmt.Errorf("cannot begin a transaction on the %s alarm store: %w", s.d, err)
	}
	if err := f(tx); err != nil {
		_ = tx.Rollback()
		return err
	}
	if err := tx.Commit(); err != nil {
		return fmt.Errorf("cannot commit to the %s alarm store: %w", s.d, err)
	}
	return nil
}
