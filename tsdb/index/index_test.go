package index

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"math/rand/v2"
	"path/filepath"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/vigil-telemetry/vigil/tsdb/archive"
)

const pgBase = "postgres://postgres@127.0.0.1:5432/test?sslmode=disable"

const pgHelp = "start PostgreSQL with: pg_ctlcluster --skip-systemctl-redirect $(ls /etc/postgresql) main start"

// testURL returns the URL of a fresh, empty index of dialect ("sqlite" or
// "postgres"), removed when the test ends.
func testURL(t testing.TB, dialect string) string {
	t.Helper()
	switch dialect {
	case "sqlite":
		return "sqlite://" + filepath.Join(t.TempDir(), "index.db")
	case "postgres":
		db, err := sql.Open("pgx", pgBase)
		if err != nil {
			t.Fatalf("cannot open PostgreSQL: %v", err)
		}
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		if err := db.PingContext(ctx); err != nil {
			db.Close()
			t.Fatalf("PostgreSQL is not reachable at 127.0.0.1:5432 (%v); %s", err, pgHelp)
		}
		schema := fmt.Sprintf("vigil_index_test_%d_%d", time.Now().UnixNano(), rand.Uint32())
		if _, err := db.ExecContext(ctx, "CREATE SCHEMA "+schema); err != nil {
			db.Close()
			t.Fatalf("cannot create schema %s: %v", schema, err)
		}
		t.Cleanup(func() {
			if _, err := db.Exec("DROP SCHEMA " + schema + " CASCADE"); err != nil {
				t.Errorf("cannot drop schema %s: %v", schema, err)
			}
			db.Close()
		})
		return pgBase + "&search_path=" + schema
	}
	t.Fatalf("BUG: unknown dialect %q", dialect)
	return ""
}

func openTest(t testing.TB, dialect string) *Index {
	t.Helper()
	url := testURL(t, dialect)
	ix, err := Open(context.Background(), url, Options{})
	if err != nil {
		t.Fatalf("Open(%s): %v", url, err)
	}
	t.Cleanup(func() { ix.Close() })
	return ix
}

var testDialects = []string{"sqlite", "postgres"}

// dialects runs f once per dialect on a fresh index: the one suite both
// dialects must pass.
func dialects(t *testing.T, f func(t *testing.T, ix *Index)) {
	t.Helper()
	for _, d := range testDialects {
		t.Run(d, func(t *testing.T) {
			t.Parallel()
			f(t, openTest(t, d))
		})
	}
}

func wantErr(t *testing.T, what string, err, want error) {
	t.Helper()
	if !errors.Is(err, want) {
		t.Errorf("%s: error %v, want %v", what, err, want)
	}
}

func must(t *testing.T, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}

func TestOpenURLs(t *testing.T) {
	ctx := context.Background()
	for _, url := range []string{"mysql://x", "sqlite://", "sqlite:///tmp/a.db?mode=ro", "sqlite://:memory:", "file.db"} {
		if _, err := Open(ctx, url, Options{}); !errors.Is(err, ErrInvalid) {
			t.Errorf("Open(%q): error %v, want ErrInvalid", url, err)
		}
	}
	// A relative path is relative to the working directory.
	t.Chdir(t.TempDir())
	ix, err := Open(ctx, "sqlite://rel.db", Options{})
	if err != nil {
		t.Fatal(err)
	}
	ix.Close()
	if _, err := filepath.Glob("rel.db"); err != nil {
		t.Fatal(err)
	}
	if m, _ := filepath.Glob("rel.db"); len(m) != 1 {
		t.Errorf("sqlite://rel.db did not create rel.db in the working directory")
	}
}

func TestMigrate(t *testing.T) {
	for _, d := range testDialects {
		t.Run(d, func(t *testing.T) {
			t.Parallel()
			ctx := context.Background()
			url := testURL(t, d)
			ix, err := Open(ctx, url, Options{NoMigrate: true})
			if err != nil {
				t.Fatal(err)
			}
			if _, err := ix.ArchivePolicies(ctx); err == nil {
				t.Error("an unmigrated index lists policies")
			}
			// Several migrators at once agree.
			var wg sync.WaitGroup
			errs := make([]error, 4)
			for i := range errs {
				wg.Go(func() {
					o, err := Open(ctx, url, Options{})
					if err == nil {
						err = o.Close()
					}
					errs[i] = err
				})
			}
			wg.Wait()
			for _, err := range errs {
				must(t, err)
			}
			must(t, ix.Migrate(ctx))
			must(t, ix.Ping(ctx))
			must(t, ix.Close())
			ix = openTest(t, d)
			_ = ix
			// Reopening the migrated index changes nothing.
			ix2, err := Open(ctx, url, Options{})
			if err != nil {
				t.Fatal(err)
			}
			defer ix2.Close()
			ps, err := ix2.ArchivePolicies(ctx)
			must(t, err)
			if len(ps) != len(archive.Builtins()) {
				t.Errorf("%d policies after reopening, want %d", len(ps), len(archive.Builtins()))
			}
			if d == "postgres" {
				var n int
				must(t, ix2.r.QueryRowContext(ctx, `SELECT COUNT(*) FROM information_schema.tables
					WHERE table_schema = current_schema() AND table_name IN ('vigil_index_version', 'resource', 'metric')`).Scan(&n))
				if n != 3 {
					t.Errorf("%d of the version, resource and metric tables are in the search_path schema, want 3", n)
				}
			}
		})
	}
}

func TestBuiltins(t *testing.T) {
	dialects(t, func(t *testing.T, ix *Index) {
		ctx := context.Background()
		ps, err := ix.ArchivePolicies(ctx)
		must(t, err)
		var names []string
		for _, p := range ps {
			names = append(names, p.Name)
		}
		want := []string{"bool", "ceilometer-high", "ceilometer-high-rate", "ceilometer-low", "ceilometer-low-rate", "high", "low", "medium"}
		if !slices.Equal(names, want) {
			t.Errorf("policies %v, want %v", names, want)
		}
		for _, b := range archive.Builtins() {
			p, err := ix.ArchivePolicy(ctx, b.Name)
			must(t, err)
			if fmt.Sprint(p) != fmt.Sprint(b) {
				t.Errorf("policy %s = %+v, want %+v", b.Name, p, b)
			}
		}
		rules, err := ix.ArchivePolicyRules(ctx)
		must(t, err)
		if len(rules) != 1 || rules[0] != archive.DefaultRule() {
			t.Errorf("rules %v, want only %v", rules, archive.DefaultRule())
		}
		rts, err := ix.ResourceTypes(ctx)
		must(t, err)
		if len(rts) != len(builtinResourceTypes()) {
			t.Errorf("%d resource types, want %d", len(rts), len(builtinResourceTypes()))
		}
		host, err := ix.ResourceType(ctx, "host")
		must(t, err)
		if s := host.Attributes["host_name"]; s.Type != TypeString || !s.Required || *s.MaxLength != 255 {
			t.Errorf("host.host_name = %+v", s)
		}
		inst, err := ix.ResourceType(ctx, "instance")
		must(t, err)
		if s := inst.Attributes["launched_at"]; s.Type != TypeDatetime || s.Required {
			t.Errorf("instance.launched_at = %+v", s)
		}
		for _, name := range []string{"generic", "container", "instance_disk", "volume", "ipmi_sensor"} {
			if _, err := ix.ResourceType(ctx, name); err != nil {
				t.Errorf("resource type %s: %v", name, err)
			}
		}
	})
}
