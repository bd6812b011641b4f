package notifier

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strings"
	"sync"
	"time"
)

// KeystoneConfig is the service user the notifier authenticates as to run
// trust+ actions (Aodh's [service_credentials]).
type KeystoneConfig struct {
	// URL is Keystone's base, e.g. http://keystone:5000 (with or without
	// /v3).
	URL            string `yaml:"url"`
	Username       string `yaml:"username"`
	Password       string `yaml:"password"`
	UserDomainName string `yaml:"user_domain_name"`
}

// Keystone fetches trust-scoped tokens and caches them until shortly
// before they expire. It is safe for concurrent use.
type Keystone struct {
	cfg    KeystoneConfig
	client *http.Client
	now    func() time.Time

	mu     sync.Mutex // guards tokens
	tokens map[string]cachedToken
}

type cachedToken struct {
	value   string
	expires time.Time
}

// tokenMargin renews a token this long before Keystone expires it.
const tokenMargin = time.Minute

// NewKeystone returns a Keystone client; client nil uses a default with a
// 10 s timeout.
func NewKeystone(cfg KeystoneConfig, client *http.Client) *Keystone {
	if client == nil {
		client = &http.Client{Timeout: 10 * time.Second}
	}
	if cfg.UserDomainName == "" {
		cfg.UserDomainName = "Default"
	}
	return &Keystone{cfg: cfg, client: client, now: time.Now, tokens: map[string]cachedToken{}}
}

func (k *Keystone) base() string {
	u := strings.TrimRight(k.cfg.URL, "/")
	if !strings.HasSuffix(u, "/v3") {
		u += "/v3"
	}
	return u
}

// ErrUnauthorized is Keystone refusing the service user or the trust.
var ErrUnauthorized = errors.New("keystone refused the credentials")

// Token returns a token scoped to a trust, from the cache when it is still
// valid for a minute.
func (k *Keystone) Token(ctx context.Context, trustID string) (string, error) {
	now := k.now()
	k.mu.Lock()
	if t, ok := k.tokens[trustID]; ok && now.Before(t.expires) {
		k.mu.Unlock()
		return t.value, nil
	}
	k.mu.Unlock()
	scope := map[string]any{"OS-TRUST:trust": map[string]any{"id": trustID}}
	tok, expires, _, err := k.authenticate(ctx, scope)
	if err != nil {
		return "", fmt.Errorf("cannot get a token for trust %s: %w", trustID, err)
	}
	k.mu.Lock()
	k.tokens[trustID] = cachedToken{value: tok, expires: expires.Add(-tokenMargin)}
	if len(k.tokens) > 10000 {
		for id, t := range k.tokens {
			if !now.Before(t.expires) {
				delete(k.tokens, id)
			}
		}
	}
	k.mu.Unlock()
	return tok, nil
}

// Forget drops a cached token that the target refused.
func (k *Keystone) Forget(trustID string) {
	k.mu.Lock()
	delete(k.tokens, trustID)
	k.mu.Unlock()
}

// authenticate does a password authentication of the service user with an
// optional scope; it returns the token, its expiry and the user id.
func (k *Keystone) authenticate(ctx context.Context, scope map[string]any) (string, time.Time, string, error) {
	auth := map[string]any{"identity": map[string]any{
		"methods": []string{"password"},
		"password": map[string]any{"user": map[string]any{
			"name": k.cfg.Username, "password": k.cfg.Password,
			"domain": map[string]any{"name": k.cfg.UserDomainName},
		}},
	}}
	if scope != nil {
		auth["scope"] = scope
	}
	body, _ := json.Marshal(map[string]any{"auth": auth})
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, k.base()+"/auth/tokens", bytes.NewReader(body))
	if err != nil {
		return "", time.Time{}, "", err
	}
	req.Header.Set("Content-Type", "application/json")
	resp, err := k.client.Do(req)
	if err != nil {
		return "", time.Time{}, "", err
	}
	defer resp.Body.Close()
	raw, _ := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	if resp.StatusCode == http.StatusUnauthorized || resp.StatusCode == http.StatusForbidden {
		return "", time.Time{}, "", fmt.Errorf("%w: %s", ErrUnauthorized, resp.Status)
	}
	if resp.StatusCode/100 != 2 {
		return "", time.Time{}, "", fmt.Errorf("keystone answered %s: %s", resp.Status, truncate(string(raw), 200))
	}
	tok := resp.Header.Get("X-Subject-Token")
	if tok == "" {
		return "", time.Time{}, "", errors.New("keystone answered without X-Subject-Token")
	}
	var doc struct {
		Token struct {
			ExpiresAt string `json:"expires_at"`
			User      struct {
				ID string `json:"id"`
			} `json:"user"`
		} `json:"token"`
	}
	_ = json.Unmarshal(raw, &doc)
	expires := k.now().Add(time.Hour)
	if t, err := time.Parse(time.RFC3339Nano, doc.Token.ExpiresAt); err == nil {
		expires = t
	}
	return tok, expires, doc.Token.User.ID, nil
}

// CreateTrust creates a trust from the calling user (authenticated by
// callerToken) to the service user, with impersonation and the caller's
// roles in its project, as Aodh does when an alarm gets a trust+ action.
func (k *Keystone) CreateTrust(ctx context.Context, callerToken, trustorUserID, projectID string, roles []string) (string, error) {
	_, _, serviceUser, err := k.authenticate(ctx, nil)
	if err != nil {
		return "", fmt.Errorf("cannot authenticate the service user: %w", err)
	}
	rs := make([]map[string]string, 0, len(roles))
	for _, r := range roles {
		rs = append(rs, map[string]string{"name": r})
	}
	body, _ := json.Marshal(map[string]any{"trust": map[string]any{
		"trustor_user_id": trustorUserID, "trustee_user_id": serviceUser,
		"project_id": projectID, "roles": rs, "impersonation": true,
	}})
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, k.base()+"/OS-TRUST/trusts", bytes.NewReader(body))
	if err != nil {
		return "", err
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("X-Auth-Token", callerToken)
	resp, err := k.client.Do(req)
	if err != nil {
		return "", fmt.Errorf("cannot create a trust: %w", err)
	}
	defer resp.Body.Close()
	raw, _ := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	if resp.StatusCode/100 != 2 {
		return "", fmt.Errorf("cannot create a trust: keystone answered %s: %s", resp.Status, truncate(string(raw), 200))
	}
	var doc struct {
		Trust struct {
			ID string `json:"id"`
		} `json:"trust"`
	}
	if err := json.Unmarshal(raw, &doc); err != nil || doc.Trust.ID == "" {
		return "", fmt.Errorf("cannot create a trust: keystone answered without a trust id")
	}
	return doc.Trust.ID, nil
}

// DeleteTrust deletes a trust the service owns (callerToken may be empty:
// the service user's token is used then).
func (k *Keystone) DeleteTrust(ctx context.Context, callerToken, trustID string) error {
	tok := callerToken
	if tok == "" {
		var err error
		if tok, _, _, err = k.authenticate(ctx, nil); err != nil {
			return fmt.Errorf("cannot delete trust %s: %w", trustID, err)
		}
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodDelete, k.base()+"/OS-TRUST/trusts/"+trustID, nil)
	if err != nil {
		return err
	}
	req.Header.Set("X-Auth-Token", tok)
	resp, err := k.client.Do(req)
	if err != nil {
		return fmt.Errorf("cannot delete trust %s: %w", trustID, err)
	}
	resp.Body.Close()
	if resp.StatusCode/100 != 2 && resp.StatusCode != http.StatusNotFound {
		return fmt.Errorf("cannot delete trust %s: keystone answered %s", trustID, resp.Status)
	}
	k.Forget(trustID)
	return nil
}

func truncate(s string, n int) string {
	if len(s) > n {
		return s[:n] + "..."
	}
	return s
}
