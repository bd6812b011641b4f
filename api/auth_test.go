package api

import (
	"encoding/base64"
	"errors"
	"net/http"
	"testing"
)

func TestBasicAuthentication(t *testing.T) {
	enc := func(s string) string { return base64.StdEncoding.EncodeToString([]byte(s)) }
	auth, err := NewAuthenticator("basic")
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		header string
		want   Identity
		code   int
	}{
		{"Basic " + enc("admin:"), Identity{UserID: "admin", ProjectID: "admin", Admin: true}, 0},
		// gnocchiclient's gnocchi-basic plugin writes the scheme in lower case.
		{"basic " + enc("alice:secret"), Identity{UserID: "alice", ProjectID: "alice"}, 0},
		{"BASIC " + enc("bob:"), Identity{UserID: "bob", ProjectID: "bob"}, 0},
		{"", Identity{}, http.StatusUnauthorized},
		{"Bearer abc", Identity{}, http.StatusUnauthorized},
		{"Basic !!!", Identity{}, http.StatusUnauthorized},
		{"Basic " + enc(":nobody"), Identity{}, http.StatusUnauthorized},
	}
	for _, tt := range tests {
		r, _ := http.NewRequest(http.MethodGet, "/v1/metric", nil)
		if tt.header != "" {
			r.Header.Set("Authorization", tt.header)
		}
		id, err := auth.Authenticate(r)
		if tt.code != 0 {
			var e *Error
			if !errors.As(err, &e) || e.Code != tt.code {
				t.Errorf("%q: error %v, want %d", tt.header, err, tt.code)
			}
			continue
		}
		if err != nil || id.UserID != tt.want.UserID || id.ProjectID != tt.want.ProjectID || id.Admin != tt.want.Admin {
			t.Errorf("%q: %+v %v, want %+v", tt.header, id, err, tt.want)
		}
	}
}
