package ops

import "fmt"

// Causes of an Error, as Gnocchi's API names them in its 400 bodies.
const (
	// CauseInvalidOperations is a string form that does not parse.
	CauseInvalidOperations = "Invalid operations"
	// CauseInvalidInput is an operation tree of the wrong shape; Gnocchi
	// answers it as the plain message "Invalid input: <reason>".
	CauseInvalidInput = "Invalid input"
	// CauseNoMetric is a tree without any metric reference.
	CauseNoMetric = "operations is invalid"
	// CauseUnaggregable is a set of series the operations cannot combine.
	CauseUnaggregable = "Metrics can't being aggregated"
	// CauseMetricsNotFound is an evaluation without any input series.
	CauseMetricsNotFound = "Metrics not found"
	// CauseArgument is an invalid query argument (fill, needed_overlap).
	CauseArgument = "Argument value error"
)

// Error is a user error: the API answers it with status 400 and a body
// made of its fields, which follow Gnocchi's {"cause", "reason", "detail"}.
type Error struct {
	Cause  string `json:"cause"`
	Reason string `json:"reason,omitempty"`
	// Detail is what the error is about: the offending text of the
	// operations, or the references ([metric, aggregation] pairs) that
	// cannot be aggregated.
	Detail any `json:"detail,omitempty"`
}

// Error returns the cause and the reason.
func (e *Error) Error() string {
	if e.Reason == "" {
		return e.Cause
	}
	return e.Cause + ": " + e.Reason
}

func invalidInput(format string, args ...any) *Error {
	return &Error{Cause: CauseInvalidInput, Reason: fmt.Sprintf(format, args...)}
}

func unaggregable(refs [][2]string, format string, args ...any) *Error {
	if refs == nil {
		refs = [][2]string{}
	}
	return &Error{Cause: CauseUnaggregable, Reason: fmt.Sprintf(format, args...), Detail: refs}
}
