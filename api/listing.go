package api

import (
	"errors"
	"mime"
	"net/http"
	"net/url"
	"strconv"
	"strings"

	"github.com/google/uuid"

	"github.com/vigil-telemetry/vigil/tsdb/index"
	"github.com/vigil-telemetry/vigil/tsdb/search"
)

// page holds the pagination query parameters of a listing, as Gnocchi's
// get_pagination_options reads them.
type page struct {
	limit          int
	marker         *uuid.UUID
	markerRevision int64
	markerRaw      string
	sorts          []string
	keys           []index.SortKey
}

var (
	resourceDefaultSort = []string{"revision_start:asc", "started_at:asc"}
	metricDefaultSort   = []string{"id:asc"}
)

func argumentError(reason, key string) *Error {
	return cause(http.StatusBadRequest, "Argument value error", reason+" for dictionary value @ data['"+key+"']", nil)
}

// parsePage reads limit (default and ceiling MaxLimit), marker and sort
// (repeatable, key[:asc|desc]). With history, a marker is "id@revision".
func (s *Server) parsePage(r *http.Request, defaults []string, history bool) (page, error) {
	q := r.URL.Query()
	p := page{limit: s.d.MaxLimit}
	if v, ok := q["limit"]; ok {
		n, err := strconv.Atoi(strings.TrimSpace(v[len(v)-1]))
		if err != nil {
			return p, argumentError("expected int", "limit")
		}
		if n < 1 {
			return p, argumentError("value must be at least 1", "limit")
		}
		p.limit = min(n, s.d.MaxLimit)
	}
	if v := q.Get("marker"); v != "" {
		p.markerRaw = v
		raw := v
		if history {
			if id, rev, ok := strings.Cut(v, "@"); ok {
				n, err := strconv.ParseInt(rev, 10, 64)
				if err != nil || n < 1 {
					return p, errorf(http.StatusBadRequest, "Invalid pagination: `Invalid marker: `%s''", v)
				}
				raw, p.markerRevision = id, n
			}
		}
		id, err := uuid.Parse(raw)
		if err != nil {
			return p, errorf(http.StatusBadRequest, "Invalid pagination: `Invalid marker: `%s''", v)
		}
		p.marker = &id
	}
	p.sorts = q["sort"]
	if len(p.sorts) == 0 {
		p.sorts = defaults
	}
	for _, v := range p.sorts {
		k, dir, _ := strings.Cut(v, ":")
		var desc bool
		switch dir {
		case "", "asc", "asc-nullsfirst", "asc-nullslast":
		case "desc", "desc-nullsfirst", "desc-nullslast":
			desc = true
		default:
			return p, errorf(http.StatusBadRequest, "Invalid pagination: `Unknown sort direction, must be one of: asc-nullsfirst, asc-nullslast, desc-nullsfirst, desc-nullslast'")
		}
		if k == "" {
			return p, errorf(http.StatusBadRequest, "Invalid pagination: `Sort key supplied is invalid: %s'", v)
		}
		p.keys = append(p.keys, index.SortKey{Key: k, Desc: desc})
	}
	return p, nil
}

// setNextLink sets Gnocchi's pagination Link header (RFC 5988) when a page
// is full: the same query with the marker of its last item.
func setNextLink(w http.ResponseWriter, r *http.Request, p page, n int, marker string) {
	if n == 0 || n < p.limit {
		return
	}
	q := r.URL.Query()
	q["limit"] = []string{strconv.Itoa(p.limit)}
	q["marker"] = []string{marker}
	q["sort"] = p.sorts
	u := url.URL{Scheme: "http", Host: r.Host, Path: r.URL.Path, RawQuery: q.Encode()}
	if b := baseURL(r); strings.HasPrefix(b, "https:") {
		u.Scheme = "https"
	}
	w.Header().Add("Link", "<"+u.String()+">; rel=\"next\"")
}

// detailsParam reads details=true from the query or, as Gnocchi allows,
// from the Accept header's parameters.
func detailsParam(r *http.Request) (bool, error) {
	d, err := boolParam(r, "details")
	if err != nil || d {
		return d, err
	}
	for _, a := range strings.Split(r.Header.Get("Accept"), ",") {
		_, params, err := mime.ParseMediaType(strings.TrimSpace(a))
		if err == nil && params["details"] != "" {
			switch strings.ToLower(params["details"]) {
			case "y", "yes", "t", "true", "on", "1":
				return true, nil
			}
		}
	}
	return false, nil
}

// readFilter reads a search filter from the JSON body, or else from the
// filter= query parameter; nil when there is neither.
func readFilter(r *http.Request) (search.Expr, bool, error) {
	body, err := readBody(r)
	if err != nil {
		return nil, false, err
	}
	if len(strings.TrimSpace(string(body))) > 0 {
		if err := checkContentType(r, "application/json"); err != nil {
			return nil, false, err
		}
		e, err := search.ParseJSON(body)
		if err != nil {
			return nil, false, jsonFilterError(err)
		}
		return e, true, nil
	}
	if f := r.URL.Query().Get("filter"); f != "" {
		e, err := search.ParseString(f)
		if err != nil {
			return nil, false, filterError(err)
		}
		return e, true, nil
	}
	return nil, false, nil
}

// filterError words a filter's parse error as Gnocchi does.
func filterError(err error) error {
	msg := err.Error()
	switch {
	case errors.Is(err, search.ErrSyntax):
		if !strings.HasPrefix(msg, "Invalid filter") {
			msg = "Invalid filter: " + msg
		}
		return errorf(http.StatusBadRequest, "%s", msg)
	case errors.Is(err, search.ErrInvalidValue), errors.Is(err, search.ErrTooComplex):
		return cause(http.StatusBadRequest, "Invalid input", msg, []string{})
	}
	return errorFor(err)
}

// jsonFilterError words a JSON filter's error as Gnocchi's schema
// validation does.
func jsonFilterError(err error) error {
	if errors.Is(err, search.ErrSyntax) {
		return invalidInput(err.Error())
	}
	return filterError(err)
}

// listError words an index error of a listing as Gnocchi does: unknown
// attributes by the type's name, pagination mistakes as such.
func listError(err error, typ string) error {
	var attr *search.AttributeError
	if errors.As(err, &attr) {
		return errorf(http.StatusBadRequest, "Resource type %s has no %s attribute", typ, attr.Attr)
	}
	if errors.Is(err, index.ErrInvalid) {
		msg := userMessage(err)
		if _, key, ok := strings.Cut(msg, "invalid sort key "); ok {
			return errorf(http.StatusBadRequest, "Invalid pagination: `Sort key supplied is invalid: %s'", strings.Trim(key, `"`))
		}
		if strings.Contains(msg, "marker") {
			return errorf(http.StatusBadRequest, "Invalid pagination: `%s'", msg)
		}
		return errorf(http.StatusBadRequest, "%s", msg)
	}
	return err
}
