package search

import (
	"fmt"
	"strconv"
	"strings"
	"time"
)

// Dialect is the SQL flavour Compile writes.
type Dialect int

// Supported dialects.
const (
	SQLite Dialect = iota
	PostgreSQL
)

// Column is what an attribute compiles to.
type Column struct {
	// SQL is the column or expression the attribute reads, such as
	// "r.project_id" or a JSON extraction. It is trusted and inserted as
	// is, so it must come from the schema, never from the request.
	SQL string
	// Kind decides how values are converted.
	Kind Kind
	// Encode, when set, turns the converted value into the bound argument:
	// it gets a string (String, UUID: the value as written, so that the
	// caller can apply Gnocchi's resource id rule), float64, int64, bool,
	// time.Time (UTC) or time.Duration, and returns what the driver should
	// bind, e.g. Unix nanoseconds for a time stored as an integer. Without
	// it UUIDs must parse and are bound in canonical form, durations as
	// float64 seconds, the rest as they are. It is not applied to like
	// patterns nor to the creator kinds.
	Encode func(v any) (any, error)
}

// Columns maps an attribute name to its column; false means the attribute
// does not exist.
type Columns func(attr string) (Column, bool)

// Compile turns a filter into a WHERE fragment and its arguments. Values are
// only ever bound as arguments; the SQL holds nothing but Column.SQL, fixed
// keywords and placeholders: "?" for SQLite, "$n" for PostgreSQL numbered
// from argOffset+1 so that the fragment can follow argOffset arguments of
// the caller. The fragment may be joined to others with AND as it is.
//
// Semantics follow Gnocchi on PostgreSQL: null compares with = and != as IS
// NULL and IS NOT NULL, and with the ordering operators as unknown; like is
// case-sensitive with backslash as the escape character (SQLite uses GLOB
// with a translated pattern to get the same matches); an empty in-list
// matches nothing and a null in it matches a null attribute; logic is SQL's
// three-valued logic. A nil filter compiles to "1=1". Relative times count
// from the time Compile is called.
func Compile(e Expr, d Dialect, cols Columns, argOffset int) (where string, args []any, err error) {
	if d != SQLite && d != PostgreSQL {
		return "", nil, fmt.Errorf("cannot compile filter: unknown dialect %d", int(d))
	}
	if e == nil {
		return "1=1", nil, nil
	}
	if err := Check(e); err != nil {
		return "", nil, err
	}
	c := compiler{d: d, cols: cols, offset: argOffset, now: time.Now()}
	var b strings.Builder
	if err := c.expr(&b, e); err != nil {
		return "", nil, err
	}
	return b.String(), c.args, nil
}

type compiler struct {
	d      Dialect
	cols   Columns
	offset int
	now    time.Time
	args   []any
}

// unknownSQL is SQL's unknown truth value, which a comparison with null
// yields and which NOT keeps unknown.
const unknownSQL = "CAST(NULL AS BOOLEAN)"

func (c *compiler) bind(v any) string {
	c.args = append(c.args, v)
	if c.d == PostgreSQL {
		return "$" + strconv.Itoa(c.offset+len(c.args))
	}
	return "?"
}

func (c *compiler) column(attr string) (Column, error) {
	col, ok := c.cols(attr)
	if !ok {
		return Column{}, &AttributeError{Attr: attr}
	}
	if col.SQL == "" {
		return Column{}, fmt.Errorf("cannot compile filter: attribute %s maps to an empty column", attr)
	}
	return col, nil
}

func (c *compiler) value(col Column, attr string, v any) (any, error) {
	cv, err := coerce(col.Kind, attr, v, c.now)
	if err != nil {
		return nil, err
	}
	var arg any
	if col.Encode != nil {
		arg, err = col.Encode(cv)
	} else {
		arg, err = defaultEncode(col.Kind, cv)
	}
	if err != nil {
		return nil, fmt.Errorf("%w for attribute %s: %s: %w", ErrInvalidValue, attr, formatValue(v), err)
	}
	return arg, nil
}

func (c *compiler) expr(b *strings.Builder, e Expr) error {
	switch e := e.(type) {
	case Cmp:
		return c.cmp(b, e)
	case In:
		return c.in(b, e)
	case And:
		return c.join(b, e, " AND ", "1=1")
	case Or:
		return c.join(b, e, " OR ", "1=0")
	case Not:
		b.WriteString("NOT (")
		if err := c.expr(b, e.Expr); err != nil {
			return err
		}
		b.WriteString(")")
		return nil
	}
	return fmt.Errorf("%w: unknown expression %T", ErrSyntax, e)
}

func (c *compiler) join(b *strings.Builder, es []Expr, sep, empty string) error {
	if len(es) == 0 {
		b.WriteString(empty)
		return nil
	}
	b.WriteString("(")
	for i, sub := range es {
		if i > 0 {
			b.WriteString(sep)
		}
		if err := c.expr(b, sub); err != nil {
			return err
		}
	}
	b.WriteString(")")
	return nil
}

var sqlOps = map[Op]string{OpEq: "=", OpNe: "<>", OpLt: "<", OpLe: "<=", OpGt: ">", OpGe: ">="}

func (c *compiler) cmp(b *strings.Builder, e Cmp) error {
	col, err := c.column(e.Attr)
	if err != nil {
		return err
	}
	if col.Kind == CreatorUser || col.Kind == CreatorProject {
		return c.creator(b, col, e)
	}
	if e.Op == OpLike && col.Kind != String {
		return fmt.Errorf("%w for attribute %s: like applies only to string attributes, not %s", ErrInvalidValue, e.Attr, col.Kind)
	}
	if e.Value == nil {
		switch e.Op {
		case OpEq:
			b.WriteString(col.SQL + " IS NULL")
		case OpNe:
			b.WriteString(col.SQL + " IS NOT NULL")
		default:
			b.WriteString(unknownSQL)
		}
		return nil
	}
	if e.Op == OpLike {
		pat, err := coerce(String, e.Attr, e.Value, c.now)
		if err != nil {
			return err
		}
		return c.like(b, col.SQL, "", e.Attr, pat.(string))
	}
	arg, err := c.value(col, e.Attr, e.Value)
	if err != nil {
		return err
	}
	b.WriteString(col.SQL + " " + sqlOps[e.Op] + " " + c.bind(arg))
	return nil
}

// like writes a case-sensitive LIKE with backslash escapes; SQLite's LIKE
// ignores ASCII case and has no default escape, so there the pattern is
// translated to GLOB, which is case-sensitive.
func (c *compiler) like(b *strings.Builder, sql, not, attr, pattern string) error {
	if c.d == PostgreSQL {
		if err := checkLikePattern(pattern); err != nil {
			return fmt.Errorf("%w for attribute %s: %s: %w", ErrInvalidValue, attr, formatValue(pattern), err)
		}
		b.WriteString(sql + " " + not + "LIKE " + c.bind(pattern))
		return nil
	}
	glob, err := likeToGlob(pattern)
	if err != nil {
		return fmt.Errorf("%w for attribute %s: %s: %w", ErrInvalidValue, attr, formatValue(pattern), err)
	}
	b.WriteString(sql + " " + not + "GLOB " + c.bind(glob))
	return nil
}

// creator compiles Gnocchi's created_by_user_id and created_by_project_id,
// which match one side of the "user_id:project_id" creator column.
func (c *compiler) creator(b *strings.Builder, col Column, e Cmp) error {
	if e.Value == nil {
		return fmt.Errorf("%w for attribute %s: null: expected a string", ErrInvalidValue, e.Attr)
	}
	v, err := coerce(col.Kind, e.Attr, e.Value, c.now)
	if err != nil {
		return err
	}
	s := v.(string)
	var part string
	switch e.Op {
	case OpEq, OpNe:
		part = escapeLike(s)
	case OpLike:
		part = s
	default:
		return fmt.Errorf("%w for attribute %s: only =, != and like apply, not %s", ErrInvalidValue, e.Attr, e.Op)
	}
	pattern := part + ":%"
	if col.Kind == CreatorProject {
		pattern = "%:" + part
	}
	not := ""
	if e.Op == OpNe {
		not = "NOT "
	}
	return c.like(b, col.SQL, not, e.Attr, pattern)
}

func (c *compiler) in(b *strings.Builder, e In) error {
	col, err := c.column(e.Attr)
	if err != nil {
		return err
	}
	if col.Kind == CreatorUser || col.Kind == CreatorProject {
		return fmt.Errorf("%w for attribute %s: only =, != and like apply, not in", ErrInvalidValue, e.Attr)
	}
	if len(e.Values) == 0 {
		b.WriteString("1=0")
		return nil
	}
	var phs []string
	hasNull := false
	for _, v := range e.Values {
		if v == nil {
			hasNull = true
			continue
		}
		arg, err := c.value(col, e.Attr, v)
		if err != nil {
			return err
		}
		phs = append(phs, c.bind(arg))
	}
	switch {
	case len(phs) == 0:
		b.WriteString(col.SQL + " IS NULL")
	case hasNull:
		b.WriteString("(" + col.SQL + " IN (" + strings.Join(phs, ", ") + ") OR " + col.SQL + " IS NULL)")
	default:
		b.WriteString(col.SQL + " IN (" + strings.Join(phs, ", ") + ")")
	}
	return nil
}

// escapeLike makes s match itself literally in a LIKE pattern.
func escapeLike(s string) string {
	var b strings.Builder
	for _, r := range s {
		if r == '%' || r == '_' || r == '\\' {
			b.WriteByte('\\')
		}
		b.WriteRune(r)
	}
	return b.String()
}

func checkLikePattern(p string) error {
	for i := 0; i < len(p); i++ {
		if p[i] == '\\' {
			if i+1 == len(p) {
				return fmt.Errorf("like pattern must not end with the escape character")
			}
			i++
		}
	}
	return nil
}

// likeToGlob translates a LIKE pattern (%, _, backslash escapes) to the
// GLOB pattern matching the same strings.
func likeToGlob(p string) (string, error) {
	if err := checkLikePattern(p); err != nil {
		return "", err
	}
	var b strings.Builder
	escaped := false
	for _, r := range p {
		switch {
		case escaped:
			escaped = false
		case r == '\\':
			escaped = true
			continue
		case r == '%':
			b.WriteByte('*')
			continue
		case r == '_':
			b.WriteByte('?')
			continue
		}
		if r == '*' || r == '?' || r == '[' {
			b.WriteByte('[')
			b.WriteRune(r)
			b.WriteByte(']')
			continue
		}
		b.WriteRune(r)
	}
	return b.String(), nil
}
