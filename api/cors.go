package api

import (
	"net/http"
	"slices"
	"strings"
)

// CORS follows oslo.middleware's, which OpenStack services (Gnocchi among
// them) run in front of their API: a request whose Origin is allowed gets
// Access-Control-Allow-Origin, -Allow-Credentials and -Expose-Headers; a
// preflight (OPTIONS with Access-Control-Request-Method) is answered here
// with the method and the requested headers when they are permitted, and
// with a bare 200 otherwise, so that the browser refuses the real request.

// corsAllowHeaders are the request headers a browser may send: Gnocchi's
// defaults, plus the simple headers of the CORS specification.
var corsAllowHeaders = []string{
	"AUTHORIZATION", "X-AUTH-TOKEN", "X-SUBJECT-TOKEN", "X-USER-ID", "X-DOMAIN-ID", "X-PROJECT-ID", "X-ROLES",
	"ACCEPT", "ACCEPT-LANGUAGE", "CONTENT-TYPE", "CACHE-CONTROL", "CONTENT-LANGUAGE", "EXPIRES", "LAST-MODIFIED", "PRAGMA",
	"IF-MATCH", "IF-NONE-MATCH", "IF-MODIFIED-SINCE", "IF-UNMODIFIED-SINCE",
}

var corsAllowMethods = []string{"OPTIONS", "GET", "HEAD", "POST", "PUT", "DELETE", "TRACE", "PATCH"}

// corsExposeHeaders lets scripts read the headers Gnocchi's answers carry
// meaning in: the new object's URL, the pagination link and the ETag.
const corsExposeHeaders = "Location,Link,ETag,Last-Modified"

// corsOrigin returns the origin to allow for origin, or "" when it is not
// allowed.
func (s *Server) corsOrigin(origin string) string {
	if origin == "" || len(s.d.CORSAllowedOrigins) == 0 {
		return ""
	}
	if slices.Contains(s.d.CORSAllowedOrigins, origin) {
		return origin
	}
	if slices.Contains(s.d.CORSAllowedOrigins, "*") {
		return "*"
	}
	return ""
}

// cors applies the CORS headers to w and reports whether it answered the
// request (a preflight).
func (s *Server) cors(w http.ResponseWriter, r *http.Request) bool {
	origin := s.corsOrigin(r.Header.Get("Origin"))
	if r.Method == http.MethodOptions {
		s.preflight(w, r, origin)
		return true
	}
	if origin == "" {
		return false
	}
	h := w.Header()
	h.Add("Vary", "Origin")
	h.Set("Access-Control-Allow-Origin", origin)
	h.Set("Access-Control-Allow-Credentials", "true")
	h.Set("Access-Control-Expose-Headers", corsExposeHeaders)
	return false
}

func (s *Server) preflight(w http.ResponseWriter, r *http.Request, origin string) {
	h := w.Header()
	method := r.Header.Get("Access-Control-Request-Method")
	ok := origin != "" && method != "" && slices.Contains(corsAllowMethods, method)
	var requested []string
	for _, v := range strings.Split(r.Header.Get("Access-Control-Request-Headers"), ",") {
		if v = strings.TrimSpace(v); v != "" {
			requested = append(requested, v)
			if !slices.Contains(corsAllowHeaders, strings.ToUpper(v)) {
				ok = false
			}
		}
	}
	if ok {
		h.Set("Vary", "Origin")
		h.Set("Access-Control-Allow-Origin", origin)
		h.Set("Access-Control-Allow-Credentials", "true")
		h.Set("Access-Control-Max-Age", "3600")
		h.Set("Access-Control-Allow-Methods", method)
		if len(requested) > 0 {
			h.Set("Access-Control-Allow-Headers", strings.Join(requested, ","))
		}
	}
	h.Set("Content-Length", "0")
	w.WriteHeader(http.StatusOK)
}
