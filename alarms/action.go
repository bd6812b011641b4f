package alarms

import (
	"fmt"
	"net/url"
	"strings"
)

// Action schemes vigil runs. Aodh's zaqar and heat schemes are not
// supported.
const (
	SchemeHTTP       = "http"
	SchemeHTTPS      = "https"
	SchemeTrustHTTP  = "trust+http"
	SchemeTrustHTTPS = "trust+https"
	SchemeLog        = "log"
	SchemeNATS       = "nats"
)

// ActionSchemes lists the supported schemes.
var ActionSchemes = []string{SchemeHTTP, SchemeHTTPS, SchemeLog, SchemeNATS, SchemeTrustHTTP, SchemeTrustHTTPS}

// MaxActionLen bounds an action URL.
const MaxActionLen = 2048

// ParseAction parses an action URL and checks its scheme.
func ParseAction(action string) (*url.URL, error) {
	if len(action) > MaxActionLen {
		return nil, invalidf("Unable to parse action %s", action[:64]+"...")
	}
	u, err := url.Parse(action)
	if err != nil {
		return nil, invalidf("Unable to parse action %s", action)
	}
	switch strings.ToLower(u.Scheme) {
	case SchemeHTTP, SchemeHTTPS, SchemeTrustHTTP, SchemeTrustHTTPS:
		if u.Host == "" {
			return nil, invalidf("Unable to parse action %s", action)
		}
	case SchemeLog:
	case SchemeNATS:
		if _, err := NATSActionSubject(u); err != nil {
			return nil, invalidf("Unable to parse action %s: %v", action, err)
		}
	default:
		return nil, invalidf("Unsupported action %s", action)
	}
	u.Scheme = strings.ToLower(u.Scheme)
	return u, nil
}

// NATSActionSubject returns the subject of a nats://subject action.
func NATSActionSubject(u *url.URL) (string, error) {
	subj := u.Host
	if subj == "" {
		subj = strings.TrimPrefix(u.Path, "/")
	}
	if subj == "" || len(subj) > 255 {
		return "", fmt.Errorf("nats action needs a subject of 1 to 255 characters")
	}
	for tok := range strings.SplitSeq(subj, ".") {
		if tok == "" || strings.ContainsAny(tok, "*> \t\r\n") {
			return "", fmt.Errorf("subject %q is not a literal NATS subject", subj)
		}
	}
	return subj, nil
}

// ScrubAction removes a trust id from a trust+ action URL, as Aodh does
// before showing an alarm.
func ScrubAction(action string) string {
	u, err := url.Parse(action)
	if err != nil || !strings.HasPrefix(strings.ToLower(u.Scheme), "trust+") || u.User == nil {
		return action
	}
	u.User = nil
	return u.String()
}
