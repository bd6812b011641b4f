package sink

import (
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"net/url"
	"os"
	"strconv"
	"time"

	"github.com/vigil-telemetry/vigil/pipeline"
	"github.com/vigil-telemetry/vigil/pipeline/yamlnode"
)

// httpPublisher is the http(s):// publisher: it POSTs the samples as a JSON
// list of Sample.as_dict() objects (FORMATS.md), Content-Type
// application/json, with basic auth from the URL's user info.
//
// URL options, as Ceilometer's, removed from the target URL: timeout
// (seconds, default 5), max_retries (default 2), batch (default true:
// one POST per call; false: one POST per sample, a one-element list),
// verify_ssl (true, false, or the path of a CA bundle), clientcert and
// clientkey (client certificate files), raw_only (for events; ignored).
// A transport error, a 5xx or a 429 is retried with exponential backoff
// and jitter; another 4xx fails at once, as no retry can fix it.
type httpPublisher struct {
	target     string
	user, pass string
	hasAuth    bool
	client     *http.Client
	retries    int
	batch      bool
	backoff    time.Duration
	met        publishCounters
	// contentType and body make the request body; prometheus:// shares
	// the rest.
	contentType string
	body        func(dst []byte, samples []pipeline.Sample) []byte
}

// httpBackoff is the first retry's wait; later ones double it.
const httpBackoff = 100 * time.Millisecond

func buildHTTP(u *url.URL, _ string, env *buildEnv) (Stage, error) {
	p, err := newHTTPPublisher(u, env.publishCounters(u.Scheme), true)
	if err != nil {
		return nil, err
	}
	p.contentType = "application/json"
	p.body = AppendSamplesJSON
	return p, nil
}

// newHTTPPublisher reads the options both HTTP publishers take; withBatch
// adds batch and raw_only.
func newHTTPPublisher(u *url.URL, met publishCounters, withBatch bool) (*httpPublisher, error) {
	if u.Host == "" {
		return nil, errors.New("no host")
	}
	o, err := newURLOptions(u)
	if err != nil {
		return nil, err
	}
	p := &httpPublisher{retries: 2, batch: true, backoff: httpBackoff, met: met}
	timeout := 5 * time.Second
	if s, ok := o.get("timeout"); ok {
		if timeout, err = parseSeconds(s); err != nil {
			return nil, fmt.Errorf("timeout: %w", err)
		}
	}
	if s, ok := o.get("max_retries"); ok {
		n, err := strconv.Atoi(s)
		if err != nil || n < 0 || n > 100 {
			return nil, fmt.Errorf("max_retries: %q is not a count in [0, 100]", s)
		}
		p.retries = n
	}
	if withBatch {
		if s, ok := o.get("batch"); ok {
			b, ok := yamlnode.ParseBool(s)
			if !ok {
				return nil, fmt.Errorf("batch: %q is not a boolean", s)
			}
			p.batch = b
		}
		o.get("raw_only")
	}
	tlsCfg := &tls.Config{MinVersion: tls.VersionTLS12}
	if s, ok := o.get("verify_ssl"); ok {
		if b, isBool := yamlnode.ParseBool(s); isBool {
			tlsCfg.InsecureSkipVerify = !b
		} else {
			pem, err := os.ReadFile(s)
			if err != nil {
				return nil, fmt.Errorf("verify_ssl: cannot read CA bundle: %w", err)
			}
			pool := x509.NewCertPool()
			if !pool.AppendCertsFromPEM(pem) {
				return nil, fmt.Errorf("verify_ssl: %s holds no PEM certificate", s)
			}
			tlsCfg.RootCAs = pool
		}
	}
	cert, hasCert := o.get("clientcert")
	key, hasKey := o.get("clientkey")
	if hasCert {
		if !hasKey {
			key = cert // Python requests: a file with both
		}
		pair, err := tls.LoadX509KeyPair(cert, key)
		if err != nil {
			return nil, fmt.Errorf("clientcert: %w", err)
		}
		tlsCfg.Certificates = []tls.Certificate{pair}
	} else if hasKey {
		return nil, errors.New("clientkey without clientcert")
	}
	if err := o.check(); err != nil {
		return nil, err
	}
	if u.User != nil {
		p.user = u.User.Username()
		p.pass, _ = u.User.Password()
		p.hasAuth = true
	}
	target := *u
	target.User = nil
	target.RawQuery = ""
	target.Fragment = ""
	p.target = target.String()
	tr := http.DefaultTransport.(*http.Transport).Clone()
	tr.TLSClientConfig = tlsCfg
	tr.MaxIdleConnsPerHost = 8
	p.client = &http.Client{Transport: tr, Timeout: timeout}
	return p, nil
}

func (p *httpPublisher) Process(ctx context.Context, dst, src []pipeline.Sample) ([]pipeline.Sample, error) {
	if len(src) == 0 {
		return dst, nil
	}
	if p.batch {
		if err := p.post(ctx, src); err != nil {
			return dst, err
		}
		return dst, nil
	}
	var errs []error
	for i := range src {
		if err := p.post(ctx, src[i:i+1]); err != nil {
			errs = append(errs, err)
		}
	}
	return dst, errors.Join(errs...)
}

// post sends samples, retrying as the type says.
func (p *httpPublisher) post(ctx context.Context, samples []pipeline.Sample) error {
	body := p.body(nil, samples)
	wait := p.backoff
	var err error
	for attempt := 0; ; attempt++ {
		var retry bool
		retry, err = p.postOnce(ctx, body)
		if err == nil {
			p.met.samples.Add(len(samples))
			return nil
		}
		if !retry || attempt >= p.retries || ctx.Err() != nil {
			break
		}
		t := time.NewTimer(wait/2 + rand.N(wait/2+1))
		select {
		case <-ctx.Done():
			t.Stop()
			err = errors.Join(err, ctx.Err())
		case <-t.C:
		}
		if ctx.Err() != nil {
			break
		}
		wait = min(2*wait, 5*time.Second)
	}
	p.met.errors.Inc()
	return fmt.Errorf("cannot post %d samples to %s: %w", len(samples), p.target, err)
}

func (p *httpPublisher) postOnce(ctx context.Context, body []byte) (retry bool, err error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, p.target, bytes.NewReader(body))
	if err != nil {
		return false, err
	}
	req.Header.Set("Content-Type", p.contentType)
	if p.hasAuth {
		req.SetBasicAuth(p.user, p.pass)
	}
	resp, err := p.client.Do(req)
	if err != nil {
		return true, err
	}
	msg, _ := io.ReadAll(io.LimitReader(resp.Body, 512))
	io.Copy(io.Discard, io.LimitReader(resp.Body, 1<<20)) // let the connection be reused
	resp.Body.Close()
	if resp.StatusCode >= 200 && resp.StatusCode < 300 {
		return false, nil
	}
	err = fmt.Errorf("status %d: %s", resp.StatusCode, bytes.TrimSpace(msg))
	return resp.StatusCode >= 500 || resp.StatusCode == http.StatusTooManyRequests, err
}
