package plugin

import (
	"encoding/json"
	"fmt"
	"net/url"
	"strings"
	"time"

	"github.com/grafana/grafana-plugin-sdk-go/backend"
)

// Auth modes of the vigil API, as its api.auth_mode names them.
const (
	AuthNoAuth   = "noauth"
	AuthBasic    = "basic"
	AuthKeystone = "keystone"
)

// Settings is a data source's configuration: the API's URL and how to
// authenticate, from jsonData, and the secrets, from secureJsonData.
type Settings struct {
	// URL is the API's root, e.g. http://127.0.0.1:8041.
	URL string
	// AuthMode is noauth, basic or keystone.
	AuthMode string

	// UserID, ProjectID and Roles are the noauth identity headers.
	UserID, ProjectID, Roles string

	// BasicUser and BasicPassword are the basic identity; the password
	// comes from secureJsonData.
	BasicUser, BasicPassword string

	// Token is a Keystone token sent as X-Auth-Token (secureJsonData).
	Token string
	// ForwardToken sends the X-Auth-Token of the Grafana request, when
	// it has one, in place of Token.
	ForwardToken bool

	// Timeout bounds each API request.
	Timeout time.Duration
	// MaxResponseBytes bounds the body of each API answer.
	MaxResponseBytes int64
	// MaxSeries bounds the series one query may return.
	MaxSeries int
}

// Defaults of the bounds.
const (
	DefaultTimeout          = 30 * time.Second
	DefaultMaxResponseBytes = 64 << 20
	DefaultMaxSeries        = 1000
)

// jsonData is the wire form of the non-secret settings, as the config
// editor writes them.
type jsonData struct {
	AuthMode       string  `json:"authMode"`
	UserID         string  `json:"userId"`
	ProjectID      string  `json:"projectId"`
	Roles          string  `json:"roles"`
	BasicUser      string  `json:"basicUser"`
	ForwardToken   bool    `json:"forwardToken"`
	TimeoutSeconds float64 `json:"timeoutSeconds"`
	MaxResponseMB  float64 `json:"maxResponseMB"`
	MaxSeries      int     `json:"maxSeries"`
}

// ParseSettings reads and validates a data source's settings.
func ParseSettings(s backend.DataSourceInstanceSettings) (Settings, error) {
	var jd jsonData
	if len(s.JSONData) > 0 && string(s.JSONData) != "null" {
		if err := json.Unmarshal(s.JSONData, &jd); err != nil {
			return Settings{}, fmt.Errorf("cannot read the data source's jsonData: %w", err)
		}
	}
	out := Settings{
		URL:              strings.TrimRight(strings.TrimSpace(s.URL), "/"),
		AuthMode:         jd.AuthMode,
		UserID:           jd.UserID,
		ProjectID:        jd.ProjectID,
		Roles:            jd.Roles,
		BasicUser:        jd.BasicUser,
		BasicPassword:    s.DecryptedSecureJSONData["basicPassword"],
		Token:            s.DecryptedSecureJSONData["token"],
		ForwardToken:     jd.ForwardToken,
		Timeout:          time.Duration(jd.TimeoutSeconds * float64(time.Second)),
		MaxResponseBytes: int64(jd.MaxResponseMB * (1 << 20)),
		MaxSeries:        jd.MaxSeries,
	}
	// Grafana's own basic auth switch, when the config editor's is unset.
	if out.AuthMode == "" && s.BasicAuthEnabled {
		out.AuthMode = AuthBasic
		out.BasicUser = s.BasicAuthUser
		out.BasicPassword = s.DecryptedSecureJSONData["basicAuthPassword"]
	}
	if out.AuthMode == "" {
		out.AuthMode = AuthNoAuth
	}
	return out, out.validate()
}

func (s *Settings) validate() error {
	if s.URL == "" {
		return fmt.Errorf("the data source has no URL: set the vigil API's address, e.g. http://127.0.0.1:8041")
	}
	u, err := url.Parse(s.URL)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return fmt.Errorf("the data source URL %q is not an http(s) URL", s.URL)
	}
	switch s.AuthMode {
	case AuthNoAuth:
		// The API refuses a request without an identity; an admin role
		// is never assumed, it has to be asked for.
		if s.UserID == "" && s.ProjectID == "" && !strings.Contains(s.Roles, "admin") {
			return fmt.Errorf("auth mode noauth needs a user id, a project id or the admin role")
		}
	case AuthBasic:
		if s.BasicUser == "" {
			return fmt.Errorf("auth mode basic needs a user name")
		}
	case AuthKeystone:
		if s.Token == "" && !s.ForwardToken {
			return fmt.Errorf("auth mode keystone needs a token in the secure settings, or token forwarding")
		}
	default:
		return fmt.Errorf("unknown auth mode %q: want noauth, basic or keystone", s.AuthMode)
	}
	switch {
	case s.Timeout == 0:
		s.Timeout = DefaultTimeout
	case s.Timeout < 0 || s.Timeout > 10*time.Minute:
		return fmt.Errorf("timeout %v is out of range (0 to 10 minutes)", s.Timeout)
	}
	switch {
	case s.MaxResponseBytes == 0:
		s.MaxResponseBytes = DefaultMaxResponseBytes
	case s.MaxResponseBytes < 1<<10 || s.MaxResponseBytes > 1<<30:
		return fmt.Errorf("maximum response size %d bytes is out of range (1 KiB to 1 GiB)", s.MaxResponseBytes)
	}
	switch {
	case s.MaxSeries == 0:
		s.MaxSeries = DefaultMaxSeries
	case s.MaxSeries < 1 || s.MaxSeries > 100000:
		return fmt.Errorf("maximum series %d is out of range (1 to 100000)", s.MaxSeries)
	}
	return nil
}
