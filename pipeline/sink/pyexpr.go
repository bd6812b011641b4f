package sink

import (
	"fmt"
	"math"
	"reflect"
	"strings"
	"time"

	"github.com/expr-lang/expr"
	"github.com/expr-lang/expr/ast"
	"github.com/expr-lang/expr/vm"

	"github.com/vigil-telemetry/vigil/pipeline"
)

// Ceilometer's scale and arithmetic expressions are Python, evaluated with
// eval() over a namespace in which missing attributes are falsy. They are
// compiled here once, at load, to expr programs: True, False and None become
// true, false and nil, and Python's value-returning `or`, `and` and `not`
// become functions with Python's truthiness, so that the idiom
// `resource_metadata.cpu_number or 1` works. Other Python (comprehensions,
// `//`, string methods) is refused at load with expr's message.

// sampleEnv is what an expression sees of one sample: the fields of
// Ceilometer's Sample.as_dict().
type sampleEnv struct {
	Name             string         `expr:"name"`
	Type             string         `expr:"type"`
	Unit             string         `expr:"unit"`
	Volume           float64        `expr:"volume"`
	UserID           string         `expr:"user_id"`
	ProjectID        string         `expr:"project_id"`
	ResourceID       string         `expr:"resource_id"`
	Source           string         `expr:"source"`
	Timestamp        time.Time      `expr:"timestamp"`
	ResourceMetadata map[string]any `expr:"resource_metadata"`
}

func (e *sampleEnv) set(s *pipeline.Sample) {
	*e = sampleEnv{
		Name: s.Name, Type: s.Type.String(), Unit: s.Unit, Volume: s.Volume,
		UserID: s.UserID, ProjectID: s.ProjectID, ResourceID: s.ResourceID,
		Source: s.Source, Timestamp: s.Timestamp, ResourceMetadata: s.Metadata,
	}
}

// maxExprLen bounds an expression's source.
const maxExprLen = 4096

// compilePython compiles a Ceilometer expression against env (a pointer to
// the struct the program will run on).
func compilePython(src string, env any) (*vm.Program, error) {
	if len(src) > maxExprLen {
		return nil, fmt.Errorf("expression is %d bytes, the limit is %d", len(src), maxExprLen)
	}
	translated := translatePython(src)
	prog, err := expr.Compile(translated,
		expr.Env(env),
		expr.Patch(pyLogic{}),
		expr.Function("_py_or", pyOr),
		expr.Function("_py_and", pyAnd),
		expr.Function("_py_not", pyNot),
		expr.MaxNodes(1000),
	)
	if err != nil {
		return nil, fmt.Errorf("cannot compile expression %q: %w", src, err)
	}
	return prog, nil
}

// translatePython replaces Python's constant names outside string literals.
func translatePython(src string) string {
	var b strings.Builder
	b.Grow(len(src))
	for i := 0; i < len(src); {
		c := src[i]
		if c == '"' || c == '\'' {
			j := i + 1
			for j < len(src) && src[j] != c {
				if src[j] == '\\' {
					j++
				}
				j++
			}
			j = min(j+1, len(src))
			b.WriteString(src[i:j])
			i = j
			continue
		}
		if isIdentStart(c) {
			j := i + 1
			for j < len(src) && isIdentPart(src[j]) {
				j++
			}
			word := src[i:j]
			prevDot := i > 0 && src[i-1] == '.'
			switch {
			case prevDot:
				b.WriteString(word)
			case word == "True":
				b.WriteString("true")
			case word == "False":
				b.WriteString("false")
			case word == "None":
				b.WriteString("nil")
			default:
				b.WriteString(word)
			}
			i = j
			continue
		}
		b.WriteByte(c)
		i++
	}
	return b.String()
}

func isIdentStart(c byte) bool {
	return c == '_' || c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z'
}

func isIdentPart(c byte) bool { return isIdentStart(c) || c >= '0' && c <= '9' }

// pyLogic rewrites boolean operators into calls with Python's semantics.
type pyLogic struct{}

func (pyLogic) Visit(node *ast.Node) {
	switch n := (*node).(type) {
	case *ast.BinaryNode:
		var fn string
		switch n.Operator {
		case "or", "||":
			fn = "_py_or"
		case "and", "&&":
			fn = "_py_and"
		default:
			return
		}
		ast.Patch(node, &ast.CallNode{Callee: &ast.IdentifierNode{Value: fn}, Arguments: []ast.Node{n.Left, n.Right}})
	case *ast.UnaryNode:
		if n.Operator == "not" || n.Operator == "!" {
			ast.Patch(node, &ast.CallNode{Callee: &ast.IdentifierNode{Value: "_py_not"}, Arguments: []ast.Node{n.Node}})
		}
	}
}

func pyOr(args ...any) (any, error) {
	if truthy(args[0]) {
		return args[0], nil
	}
	return args[1], nil
}

func pyAnd(args ...any) (any, error) {
	if !truthy(args[0]) {
		return args[0], nil
	}
	return args[1], nil
}

func pyNot(args ...any) (any, error) { return !truthy(args[0]), nil }

// truthy is Python's truth value of what an expression may hold.
func truthy(v any) bool {
	switch x := v.(type) {
	case nil:
		return false
	case bool:
		return x
	case string:
		return x != ""
	case float64:
		return x != 0
	case int:
		return x != 0
	case int64:
		return x != 0
	case map[string]any:
		return len(x) > 0
	case []any:
		return len(x) > 0
	}
	rv := reflect.ValueOf(v)
	switch rv.Kind() {
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64:
		return rv.Int() != 0
	case reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64:
		return rv.Uint() != 0
	case reflect.Float32, reflect.Float64:
		return rv.Float() != 0
	case reflect.Map, reflect.Slice, reflect.Array, reflect.String:
		return rv.Len() > 0
	case reflect.Pointer, reflect.Interface:
		return !rv.IsNil()
	}
	return true
}

// toFloat converts an expression's result to a sample volume.
func toFloat(v any) (float64, error) {
	var f float64
	switch x := v.(type) {
	case float64:
		f = x
	case int:
		f = float64(x)
	case int64:
		f = float64(x)
	case bool:
		if x {
			f = 1
		}
	default:
		rv := reflect.ValueOf(v)
		switch rv.Kind() {
		case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64:
			f = float64(rv.Int())
		case reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64:
			f = float64(rv.Uint())
		case reflect.Float32, reflect.Float64:
			f = rv.Float()
		default:
			return 0, fmt.Errorf("expression gave %T, not a number", v)
		}
	}
	if math.IsNaN(f) || math.IsInf(f, 0) {
		return 0, fmt.Errorf("expression gave %v", f)
	}
	return f, nil
}
