package index

import "errors"

// Outcomes callers branch on. Every error of this package that stems from
// one of them wraps it, so errors.Is tells them apart; the API maps them to
// status codes in one place.
var (
	// ErrNotFound: the policy, rule, resource type, resource or metric does
	// not exist (or, for a metric, was deleted).
	ErrNotFound = errors.New("not found")
	// ErrExists: something of that name or id already exists.
	ErrExists = errors.New("already exists")
	// ErrConflict: a conditional update found another revision than the one
	// it was told to expect (HTTP If-Match).
	ErrConflict = errors.New("revision mismatch")
	// ErrInUse: the policy is used by metrics or rules, or the resource type
	// by resources or it is built in, so it cannot be deleted.
	ErrInUse = errors.New("in use")
	// ErrInvalid: the input breaks a rule of the model (bad attribute value,
	// unknown sort key, bad filter, bad pagination marker, ...). Errors of
	// package search and archive.ErrInvalid are wrapped beside it.
	ErrInvalid = errors.New("invalid input")
)
