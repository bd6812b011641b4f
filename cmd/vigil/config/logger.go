package config

import (
	"io"
	"log/slog"
	"path/filepath"
)

// IndexURL returns index.url, or the SQLite database in the data directory
// when it is empty.
func (c *Config) IndexURL() string {
	if c.Index.URL != "" {
		return c.Index.URL
	}
	return "sqlite://" + filepath.Join(c.DataDir, "index.db")
}

// Logger returns a logger writing to w in log.format at log.level. A
// configuration that did not pass Validate logs text at info.
func (c *Config) Logger(w io.Writer) *slog.Logger {
	level, err := parseLevel(c.Log.Level)
	if err != nil {
		level = slog.LevelInfo
	}
	opts := &slog.HandlerOptions{Level: level}
	if c.Log.Format == "json" {
		return slog.New(slog.NewJSONHandler(w, opts))
	}
	return slog.New(slog.NewTextHandler(w, opts))
}
