package sink

import (
	"fmt"
	"net/url"
	"sort"
	"strings"

	"github.com/vigil-telemetry/vigil/pipeline/yamlnode"
)

// publisherBuilders maps a URL scheme to what builds its publisher.
var publisherBuilders = map[string]func(u *url.URL, raw string, env *buildEnv) (Stage, error){
	"gnocchi":    buildGnocchi,
	"file":       buildFile,
	"http":       buildHTTP,
	"https":      buildHTTP,
	"nats":       buildNATS,
	"prometheus": buildPrometheus,
}

func publisherSchemes() []string {
	out := make([]string, 0, len(publisherBuilders))
	for s := range publisherBuilders {
		out = append(out, s+"://")
	}
	sort.Strings(out)
	return out
}

// buildPublisher parses a publisher URL and builds its stage.
func buildPublisher(pc publisherConfig, env *buildEnv) (Stage, error) {
	u, err := url.Parse(pc.url)
	if err != nil {
		return nil, &yamlnode.Error{Line: pc.line, Path: pc.path, Msg: fmt.Sprintf("cannot parse publisher URL: %v", err)}
	}
	b, ok := publisherBuilders[strings.ToLower(u.Scheme)]
	if !ok {
		return nil, &yamlnode.Error{Line: pc.line, Path: pc.path,
			Msg: fmt.Sprintf("unknown publisher %q: want one of %s", redact(u), strings.Join(publisherSchemes(), ", "))}
	}
	st, err := b(u, pc.url, env)
	if err != nil {
		return nil, &yamlnode.Error{Line: pc.line, Path: pc.path, Msg: fmt.Sprintf("publisher %s: %v", redact(u), err)}
	}
	return st, nil
}

// urlOptions are a publisher URL's query parameters, each to be taken once.
type urlOptions struct {
	q    url.Values
	used map[string]bool
}

func newURLOptions(u *url.URL) (*urlOptions, error) {
	q, err := url.ParseQuery(u.RawQuery)
	if err != nil {
		return nil, fmt.Errorf("cannot parse query %q: %w", u.RawQuery, err)
	}
	return &urlOptions{q: q, used: map[string]bool{}}, nil
}

// get returns the last value of key (Ceilometer's parse_qs()[key][-1]) and
// whether it is present.
func (o *urlOptions) get(key string) (string, bool) {
	o.used[key] = true
	vs, ok := o.q[key]
	if !ok || len(vs) == 0 {
		return "", false
	}
	return vs[len(vs)-1], true
}

// check refuses options nobody took.
func (o *urlOptions) check() error {
	var unknown []string
	for k := range o.q {
		if !o.used[k] {
			unknown = append(unknown, k)
		}
	}
	if len(unknown) > 0 {
		sort.Strings(unknown)
		return fmt.Errorf("unknown option(s) %s", strings.Join(unknown, ", "))
	}
	return nil
}

// redact hides the password of a URL for messages and labels.
func redact(u *url.URL) string { return u.Redacted() }
