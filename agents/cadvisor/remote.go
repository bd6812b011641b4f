package cadvisor

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"

	v2 "github.com/google/cadvisor/info/v2"
)

// The v2.1 requests a poll makes, relative to the daemon's URL: the
// latest statistics of every container, and the machine statistics,
// which are where the API reports the root cgroup.
const (
	pathStats        = "api/v2.1/stats/?type=name&count=1&recursive=true"
	pathMachineStats = "api/v2.1/machinestats"
)

// remote reads a cAdvisor daemon's REST API. It speaks the requests and
// types of cAdvisor's client/v2 package but makes the requests itself:
// that client uses http.DefaultClient, takes no context and reads replies
// of any size.
type remote struct {
	base     *url.URL
	client   *http.Client
	maxBytes int64
}

func newRemote(rawURL string, client *http.Client, maxBytes int64) (*remote, error) {
	u, err := url.Parse(rawURL)
	if err != nil {
		return nil, fmt.Errorf("cannot parse cAdvisor URL %q: %w", rawURL, err)
	}
	if (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return nil, fmt.Errorf("cannot use cAdvisor URL %q: want http(s)://host[:port][/path]", rawURL)
	}
	if u.Path == "" || u.Path[len(u.Path)-1] != '/' {
		u.Path += "/"
	}
	u.RawQuery, u.Fragment = "", ""
	return &remote{base: u, client: client, maxBytes: maxBytes}, nil
}

func (r *remote) read(ctx context.Context, dst []reading, skipped []string) ([]reading, []string, error) {
	var infos map[string]v2.ContainerInfo
	if err := r.get(ctx, pathStats, &infos); err != nil {
		return dst, skipped, err
	}
	dst, skipped = appendV2(dst, skipped, infos)
	var ms []v2.MachineStats
	if err := r.get(ctx, pathMachineStats, &ms); err != nil {
		return dst, skipped, err
	}
	dst = append(dst, reading{})
	if !dst[len(dst)-1].fromMachine(ms) {
		dst = dst[:len(dst)-1]
		skipped = append(skipped, "/")
	}
	return dst, skipped, nil
}

// appendV2 appends the readings of a v2.1 stats reply to dst, and the
// names of containers without statistics to skipped. The API leaves "/"
// out of recursive replies; if a daemon sends it anyway it is dropped
// here, since the machine statistics report it.
func appendV2(dst []reading, skipped []string, infos map[string]v2.ContainerInfo) ([]reading, []string) {
	for name, ci := range infos {
		if name == "/" || name == "" {
			continue
		}
		dst = append(dst, reading{})
		if !dst[len(dst)-1].fromV2(name, &ci) {
			dst = dst[:len(dst)-1]
			skipped = append(skipped, name)
		}
	}
	return dst, skipped
}

// errTooLarge ends a reply read past the size bound.
var errTooLarge = errors.New("reply too large")

// get decodes the JSON reply to a GET of path into v.
func (r *remote) get(ctx context.Context, path string, v any) error {
	u := r.base.String() + path
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u, nil)
	if err != nil {
		return fmt.Errorf("cannot build cAdvisor request %s: %w", u, err)
	}
	req.Header.Set("Accept", "application/json")
	resp, err := r.client.Do(req)
	if err != nil {
		return fmt.Errorf("cannot query cAdvisor: %w", err)
	}
	defer resp.Body.Close()
	body := &boundedReader{r: resp.Body, n: r.maxBytes}
	if resp.StatusCode != http.StatusOK {
		msg, _ := io.ReadAll(io.LimitReader(resp.Body, 256))
		return fmt.Errorf("cannot query cAdvisor: GET %s: %s: %q", u, resp.Status, bytes.TrimSpace(msg))
	}
	if err := json.NewDecoder(body).Decode(v); err != nil {
		if errors.Is(err, errTooLarge) {
			return fmt.Errorf("cannot decode cAdvisor reply to GET %s: larger than %d bytes", u, r.maxBytes)
		}
		return fmt.Errorf("cannot decode cAdvisor reply to GET %s: %w", u, err)
	}
	return nil
}

// boundedReader fails with errTooLarge once more than n bytes were read.
type boundedReader struct {
	r io.Reader
	n int64
}

func (b *boundedReader) Read(p []byte) (int, error) {
	if b.n <= 0 {
		// A reply of exactly n bytes is fine: look for its end.
		var one [1]byte
		if n, err := b.r.Read(one[:]); n == 0 && err != nil {
			return 0, err
		}
		return 0, errTooLarge
	}
	if int64(len(p)) > b.n {
		p = p[:b.n]
	}
	n, err := b.r.Read(p)
	b.n -= int64(n)
	return n, err
}
