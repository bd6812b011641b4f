package index

import (
	"context"
	"database/sql"
	"embed"
	"fmt"
	"hash/fnv"
	"io/fs"
	"time"

	"github.com/pressly/goose/v3"
	"github.com/pressly/goose/v3/lock"

	"github.com/vigil-telemetry/vigil/tsdb/search"
)

//go:embed migrations/sqlite/*.sql migrations/postgres/*.sql
var migrations embed.FS

// versionTable is goose's table of applied migrations. It is unqualified, so
// that on PostgreSQL it lands in the first schema of the search_path, beside
// the index's tables.
const versionTable = "vigil_index_version"

// Migrate brings the schema to the newest version this binary knows. It is
// safe to run from several processes at once.
func (ix *Index) Migrate(ctx context.Context) error {
	dir, dialect := "migrations/sqlite", goose.DialectSQLite3
	if ix.d == search.PostgreSQL {
		dir, dialect = "migrations/postgres", goose.DialectPostgres
	}
	sub, err := fs.Sub(migrations, dir)
	if err != nil {
		return fmt.Errorf("BUG: embedded migrations: %w", err)
	}
	opts := []goose.ProviderOption{
		goose.WithTableName(versionTable),
		goose.WithDisableGlobalRegistry(true),
		goose.WithGoMigrations(
			goose.NewGoMigration(2, &goose.GoFunc{RunTx: ix.seed}, &goose.GoFunc{RunTx: ix.unseed}),
		),
		goose.WithSlog(ix.log),
	}
	if ix.d == search.PostgreSQL {
		id, err := ix.lockID(ctx)
		if err != nil {
			return err
		}
		locker, err := lock.NewPostgresSessionLocker(lock.WithLockID(id), lock.WithLockTimeout(1, 600))
		if err != nil {
			return fmt.Errorf("BUG: migration lock: %w", err)
		}
		opts = append(opts, goose.WithSessionLocker(locker))
	}
	p, err := goose.NewProvider(dialect, ix.w, sub, opts...)
	if err != nil {
		return fmt.Errorf("cannot prepare the migrations of index %s: %w", ix.where, err)
	}
	res, err := p.Up(ctx)
	// goose has no lock for SQLite, so two processes may both see a
	// version as pending; the loser's transaction fails and rolls back,
	// and running again finds the version applied. Every migration is one
	// transaction, so a retry never applies half of one twice.
	for try := 0; err != nil && ix.d == search.SQLite && try < 5 && ctx.Err() == nil; try++ {
		time.Sleep(time.Duration(50*(try+1)) * time.Millisecond)
		var more []*goose.MigrationResult
		more, err = p.Up(ctx)
		res = append(res, more...)
	}
	if err != nil {
		return fmt.Errorf("cannot migrate index %s: %w", ix.where, err)
	}
	for _, r := range res {
		ix.log.Info("index migrated", "version", r.Source.Version, "took", r.Duration)
	}
	return nil
}

// lockID is the advisory lock that serialises migrators of the current
// schema, so that installations in different schemas of one database do not
// wait for each other.
func (ix *Index) lockID(ctx context.Context) (int64, error) {
	var schema sql.NullString
	if err := ix.w.QueryRowContext(ctx, "SELECT current_schema()").Scan(&schema); err != nil {
		return 0, fmt.Errorf("cannot read the current schema of index %s: %w", ix.where, err)
	}
	if !schema.Valid {
		return 0, fmt.Errorf("cannot migrate index %s: %w: its search_path names no existing schema", ix.where, ErrInvalid)
	}
	h := fnv.New64a()
	h.Write([]byte("vigil index\x00" + schema.String))
	return int64(h.Sum64() >> 1), nil
}

// seed is migration 2: the built-in policies, the default rule and the
// built-in resource types.
func (ix *Index) seed(ctx context.Context, tx *sql.Tx) error {
	for _, p := range builtinPolicies() {
		if err := ix.insertPolicy(ctx, tx, p); err != nil {
			return fmt.Errorf("cannot seed archive policy %s: %w", p.Name, err)
		}
	}
	r := defaultRule()
	if _, err := tx.ExecContext(ctx, ix.q("INSERT INTO archive_policy_rule (name, metric_pattern, archive_policy_name) VALUES (?, ?, ?)"),
		r.Name, r.MetricPattern, r.PolicyName); err != nil {
		return fmt.Errorf("cannot seed archive policy rule %s: %w", r.Name, err)
	}
	for _, rt := range builtinResourceTypes() {
		if err := ix.insertResourceType(ctx, tx, rt, true); err != nil {
			return fmt.Errorf("cannot seed resource type %s: %w", rt.Name, err)
		}
	}
	return nil
}

func (ix *Index) unseed(ctx context.Context, tx *sql.Tx) error {
	for _, rt := range builtinResourceTypes() {
		for name := range rt.Attributes {
			if _, err := tx.ExecContext(ctx, "DROP INDEX IF EXISTS "+attrIndexName(rt.Name, name)); err != nil {
				return err
			}
		}
	}
	for _, q := range []string{"DELETE FROM metric", "DELETE FROM resource_history", "DELETE FROM resource",
		"DELETE FROM resource_type", "DELETE FROM archive_policy_rule", "DELETE FROM archive_policy"} {
		if _, err := tx.ExecContext(ctx, q); err != nil {
			return err
		}
	}
	return nil
}
