package api

import (
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"strings"

	"github.com/vigil-telemetry/vigil/tsdb/archive"
	"github.com/vigil-telemetry/vigil/tsdb/index"
	"github.com/vigil-telemetry/vigil/tsdb/ops"
	"github.com/vigil-telemetry/vigil/tsdb/query"
	"github.com/vigil-telemetry/vigil/tsdb/search"
)

// Error is an HTTP error in Gnocchi's shape: {"code", "description",
// "title"}. Description may be a string or an object, as Gnocchi sends
// structured details (e.g. unknown resources of a batch) there.
type Error struct {
	Code        int
	Description any
}

func (e *Error) Error() string {
	return fmt.Sprintf("%d %s: %v", e.Code, http.StatusText(e.Code), e.Description)
}

// HTTPStatus returns the status code, for packages that mount routes on
// the server and answer its authentication errors themselves.
func (e *Error) HTTPStatus() int { return e.Code }

func errorf(code int, format string, args ...any) *Error {
	return &Error{Code: code, Description: fmt.Sprintf(format, args...)}
}

// forbidden is Gnocchi's answer when the policy refuses a request.
func forbidden() *Error {
	return &Error{Code: http.StatusForbidden, Description: "Access was denied to this resource."}
}

// notFound is a 404 with Gnocchi's message for a missing object.
func notFound(format string, args ...any) *Error {
	return errorf(http.StatusNotFound, format, args...)
}

// cause is one of Gnocchi's structured descriptions.
func cause(code int, c string, reason string, detail any) *Error {
	d := map[string]any{"cause": c}
	if reason != "" {
		d["reason"] = reason
	}
	if detail != nil {
		d["detail"] = detail
	}
	return &Error{Code: code, Description: d}
}

// errorFor maps err to the error the client gets, in one place: API errors
// as they are; the sentinels of the index to 404, 409, 412 and 400; the
// user errors of the archive, search and operations packages to 400; the
// rest to 500.
func errorFor(err error) *Error {
	var e *Error
	var oe *ops.Error
	var tooBig *http.MaxBytesError
	var attr *search.AttributeError
	switch {
	case errors.As(err, &e):
		return e
	case errors.As(err, &tooBig):
		return errorf(http.StatusRequestEntityTooLarge, "Request body exceeds the limit of %d bytes", tooBig.Limit)
	case errors.As(err, &oe):
		return &Error{Code: http.StatusBadRequest, Description: opsDescription(oe)}
	case errors.Is(err, index.ErrNotFound):
		return &Error{Code: http.StatusNotFound, Description: userMessage(err)}
	case errors.Is(err, index.ErrExists):
		return &Error{Code: http.StatusConflict, Description: userMessage(err)}
	case errors.Is(err, index.ErrConflict):
		return &Error{Code: http.StatusPreconditionFailed, Description: "Precondition Failed"}
	case errors.As(err, &attr):
		return &Error{Code: http.StatusBadRequest, Description: userMessage(err)}
	case errors.Is(err, index.ErrInUse), errors.Is(err, index.ErrInvalid), errors.Is(err, archive.ErrInvalid),
		errors.Is(err, search.ErrSyntax), errors.Is(err, search.ErrInvalidValue),
		errors.Is(err, search.ErrUnknownAttribute), errors.Is(err, search.ErrTooComplex):
		return &Error{Code: http.StatusBadRequest, Description: userMessage(err)}
	case errors.Is(err, query.ErrNoAggregation):
		return &Error{Code: http.StatusNotFound, Description: userMessage(err)}
	}
	return &Error{Code: http.StatusInternalServerError, Description: "internal error: " + err.Error()}
}

// userMessage strips the sentinel words the lower layers prefix their
// errors with ("invalid input: "), which mean nothing to a client.
func userMessage(err error) string {
	s := err.Error()
	for _, p := range []string{index.ErrInvalid.Error() + ": ", index.ErrInvalid.Error() + ": "} {
		s = strings.TrimPrefix(s, p)
	}
	return s
}

// opsDescription is an operations error as Gnocchi words it: the cause,
// reason and detail object, except for a tree of the wrong shape, which
// Gnocchi answers with voluptuous's plain message.
func opsDescription(e *ops.Error) any {
	if e.Cause == ops.CauseInvalidInput {
		return map[string]any{"cause": "Invalid input", "reason": e.Reason + " for dictionary value @ data['operations']", "detail": []string{"operations"}}
	}
	d := map[string]any{"cause": e.Cause}
	if e.Reason != "" {
		d["reason"] = e.Reason
	}
	if e.Detail != nil {
		d["detail"] = e.Detail
	}
	return d
}

// writeError answers err in Gnocchi's error shape.
func writeError(w http.ResponseWriter, err error) {
	e := errorFor(err)
	body, merr := json.Marshal(map[string]any{
		"code":        e.Code,
		"description": e.Description,
		"title":       http.StatusText(e.Code),
	})
	if merr != nil {
		body = []byte(fmt.Sprintf(`{"code": %d, "description": %q, "title": %q}`, e.Code, fmt.Sprint(e.Description), http.StatusText(e.Code)))
	}
	h := w.Header()
	h.Set("Content-Type", "application/json")
	h.Set("Content-Length", strconv.Itoa(len(body)))
	h.Del("ETag")
	h.Del("Last-Modified")
	w.WriteHeader(e.Code)
	_, _ = w.Write(body)
}
