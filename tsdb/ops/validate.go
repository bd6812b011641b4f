package ops

import "fmt"

// validate checks a tree that may have been built by hand rather than
// parsed, so that evaluation cannot fail on an impossible node.
func validate(n Node, depth int) error {
	if depth > MaxDepth {
		return fmt.Errorf("operations are nested deeper than %d levels", MaxDepth)
	}
	switch n := n.(type) {
	case *Number:
		if n == nil {
			return fmt.Errorf("nil number")
		}
		return nil
	case *Metric:
		if n == nil || len(n.Refs) == 0 {
			return fmt.Errorf("metric without references")
		}
		return nil
	case *Aggregate:
		if n == nil || !validMethod(n.Method, false) {
			return fmt.Errorf("invalid aggregate")
		}
		return validate(n.Operand, depth+1)
	case *Rolling:
		if n == nil || !validMethod(n.Method, false) || n.Window < 1 || n.Window > MaxRollingWindow {
			return fmt.Errorf("invalid rolling")
		}
		return validate(n.Operand, depth+1)
	case *Resample:
		if n == nil || !validMethod(n.Method, true) || n.Granularity <= 0 {
			return fmt.Errorf("invalid resample")
		}
		return validate(n.Operand, depth+1)
	case *Unary:
		if n == nil || (n.Op != "rateofchange" && unaryFunc(n.Op) == nil) {
			return fmt.Errorf("invalid unary operation")
		}
		return validate(n.Operand, depth+1)
	case *Round:
		if n == nil || n.Decimals < -400 || n.Decimals > 400 {
			return fmt.Errorf("invalid round")
		}
		return validate(n.Operand, depth+1)
	case *Binary:
		if n == nil || binaryFunc(n.Op) == nil {
			return fmt.Errorf("invalid binary operation")
		}
		if err := validate(n.Left, depth+1); err != nil {
			return err
		}
		return validate(n.Right, depth+1)
	case *Clip:
		if n == nil {
			return fmt.Errorf("nil clip")
		}
		for _, x := range []Node{n.Operand, n.Min, n.Max} {
			if err := validate(x, depth+1); err != nil {
				return err
			}
		}
		return nil
	}
	return fmt.Errorf("unknown node %T", n)
}

func validMethod(m Method, resample bool) bool {
	if crossMethods[m.Name] || (resample && (m.Name == "first" || m.Name == "last")) {
		return m.Q == 0
	}
	return m.Q >= 1 && m.Q <= 99 && m.Name == formatNumber(m.Q)+"pct"
}
