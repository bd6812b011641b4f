package ops

import "math"

// The element-wise functions follow numpy's float64 ufuncs: no operation
// fails, division by zero gives ±Inf or NaN, comparisons give 1 or 0.

func b2f(b bool) float64 {
	if b {
		return 1
	}
	return 0
}

// binaryFunc returns the function of a canonical binary operator, nil for
// an unknown one.
func binaryFunc(op string) func(a, b float64) float64 {
	switch op {
	case "add":
		return func(a, b float64) float64 { return a + b }
	case "sub":
		return func(a, b float64) float64 { return a - b }
	case "mul":
		return func(a, b float64) float64 { return a * b }
	case "div":
		return func(a, b float64) float64 { return a / b }
	case "mod":
		return pyMod
	case "pow":
		return math.Pow
	case "eq":
		return func(a, b float64) float64 { return b2f(a == b) }
	case "ne":
		return func(a, b float64) float64 { return b2f(a != b) }
	case "lt":
		return func(a, b float64) float64 { return b2f(a < b) }
	case "le":
		return func(a, b float64) float64 { return b2f(a <= b) }
	case "gt":
		return func(a, b float64) float64 { return b2f(a > b) }
	case "ge":
		return func(a, b float64) float64 { return b2f(a >= b) }
	case "clip_min":
		return clipMin
	case "clip_max":
		return clipMax
	}
	return nil
}

// pyMod is numpy.mod: the remainder takes the sign of the divisor.
func pyMod(a, b float64) float64 {
	m := math.Mod(a, b)
	if m == 0 {
		return math.Copysign(0, b)
	}
	if (m < 0) != (b < 0) {
		m += b
	}
	return m
}

// clipMin and clipMax are numpy.maximum and numpy.minimum, which
// propagate NaN from either side.
func clipMin(a, lo float64) float64 {
	if a != a || lo != lo {
		return math.NaN()
	}
	return math.Max(a, lo)
}

func clipMax(a, hi float64) float64 {
	if a != a || hi != hi {
		return math.NaN()
	}
	return math.Min(a, hi)
}

// unaryFunc returns the function of a canonical unary operator, nil for an
// unknown one.
func unaryFunc(op string) func(float64) float64 {
	switch op {
	case "abs":
		return math.Abs
	case "neg":
		return func(v float64) float64 { return -v }
	case "cos":
		return math.Cos
	case "sin":
		return math.Sin
	case "tan":
		return math.Tan
	case "floor":
		return math.Floor
	case "ceil":
		return math.Ceil
	}
	return nil
}

// roundFunc is numpy.around: scale, round half to even, scale back.
func roundFunc(decimals int) func(float64) float64 {
	if decimals >= 0 {
		f := math.Pow10(decimals)
		return func(v float64) float64 { return math.RoundToEven(v*f) / f }
	}
	f := math.Pow10(-decimals)
	return func(v float64) float64 { return math.RoundToEven(v/f) * f }
}
