package api

import (
	"context"
	"encoding/base64"
	"fmt"
	"net/http"
	"strings"
)

// Identity is who makes a request.
type Identity struct {
	UserID    string
	ProjectID string
	Roles     []string
	Admin     bool
}

// Creator is Gnocchi's creator string, "user_id:project_id".
func (id Identity) Creator() string { return id.UserID + ":" + id.ProjectID }

// Authenticator turns a request into an identity, or an error to answer
// with. Keystone token validation is another implementation of it.
type Authenticator interface {
	Authenticate(r *http.Request) (Identity, error)
}

// NewAuthenticator returns the authenticator for an auth mode.
func NewAuthenticator(mode string) (Authenticator, error) {
	switch mode {
	case "noauth":
		return noAuth{}, nil
	case "basic":
		return basicAuth{}, nil
	}
	return nil, fmt.Errorf("unknown auth mode %q: want noauth or basic", mode)
}

// noAuth trusts the X-User-Id, X-Project-Id and X-Roles headers, as
// Gnocchi's gnocchi-noauth mode does; for development and trusted networks.
type noAuth struct{}

func (noAuth) Authenticate(r *http.Request) (Identity, error) {
	id := Identity{UserID: r.Header.Get("X-User-Id"), ProjectID: r.Header.Get("X-Project-Id")}
	for _, role := range strings.Split(r.Header.Get("X-Roles"), ",") {
		role = strings.TrimSpace(role)
		if role == "" {
			continue
		}
		id.Roles = append(id.Roles, role)
		if role == "admin" {
			id.Admin = true
		}
	}
	if id.UserID == "" && id.ProjectID == "" && !id.Admin {
		return id, errorf(http.StatusUnauthorized, "Authentication required: send X-User-Id and X-Project-Id")
	}
	return id, nil
}

// basicAuth is Gnocchi's basic mode: the user name is the user and its
// project; the password is not checked; "admin" is the admin.
type basicAuth struct{}

func (basicAuth) Authenticate(r *http.Request) (Identity, error) {
	h := r.Header.Get("Authorization")
	// The scheme is case-insensitive (RFC 7235); gnocchiclient sends
	// "basic".
	scheme, enc, ok := strings.Cut(h, " ")
	ok = ok && strings.EqualFold(scheme, "Basic")
	if !ok {
		return Identity{}, errorf(http.StatusUnauthorized, "Authentication required")
	}
	raw, err := base64.StdEncoding.DecodeString(strings.TrimSpace(enc))
	if err != nil {
		return Identity{}, errorf(http.StatusUnauthorized, "Invalid basic authentication header")
	}
	user, _, _ := strings.Cut(string(raw), ":")
	if user == "" {
		return Identity{}, errorf(http.StatusUnauthorized, "Authentication required")
	}
	id := Identity{UserID: user, ProjectID: user}
	if user == "admin" {
		id.Admin, id.Roles = true, []string{"admin"}
	}
	return id, nil
}

type identityKey struct{}

func withIdentity(ctx context.Context, id Identity) context.Context {
	return context.WithValue(ctx, identityKey{}, id)
}

func identityFrom(ctx context.Context) Identity {
	id, _ := ctx.Value(identityKey{}).(Identity)
	return id
}
