package notify

import (
	"bytes"
	"encoding/json"
	"fmt"
	"strings"
	"testing"
)

func decodeTestJSON(t testing.TB, s string) any {
	t.Helper()
	d := json.NewDecoder(strings.NewReader(s))
	d.UseNumber()
	var v any
	if err := d.Decode(&v); err != nil {
		t.Fatal(err)
	}
	return v
}

const fieldDoc = `{
 "event_type": "compute.metrics.update", "publisher_id": "compute.host1",
 "ctxt": {"user": "u9", "request_id": "req-1"},
 "metadata": {"message_id": "m1", "timestamp": "2026-11-22 02:30:00.000000"},
 "payload": {
   "host": "h1", "nodename": "n1", "size": 19, "ratio": 0.25, "outcome": "success",
   "name_to_id": "host@backend#pool", "empty": null, "flag": true,
   "glance_metadata": [{"key": "os", "value": "linux"}, {"key": "image_id", "value": "img-1"}],
   "volume_attachment": [{"server_id": "srv-1"}, {"server_id": "srv-2"}],
   "metrics": [
     {"name": "cpu.frequency", "value": 1600, "source": "libvirt", "timestamp": "t1"},
     {"name": "cpu.user.percent", "value": 0.5, "source": "libvirt"}
   ],
   "measurements": [
     {"metric": {"name": "storage.objects.outgoing.bytes", "unit": "B"}, "result": 28},
     {"metric": {"name": "storage.api.request", "unit": "request"}, "result": 1}
   ],
   "nested": {"a": {"id": 1}, "b": {"id": 2, "c": {"id": 3}}}
 }
}`

func TestFieldExpressions(t *testing.T) {
	doc := decodeTestJSON(t, fieldDoc)
	for _, tc := range []struct {
		expr string
		want string // fmt of the matches
	}{
		{"$.payload.size", "[19]"},
		{"payload.size", "[19]"},
		{"$.payload.missing", "[]"},
		{"$.payload.empty", "[]"}, // nulls are not matches
		{"$.event_type", "[compute.metrics.update]"},
		{"$.ctxt.user", "[u9]"},
		{"$.payload.glance_metadata[?key=image_id].value", "[img-1]"},
		{"$.payload.glance_metadata[?(@.key='os')].value", "[linux]"},
		{"$.payload.volume_attachment[0].server_id", "[srv-1]"},
		{"$.payload.volume_attachment[-1].server_id", "[srv-2]"},
		{"$.payload.volume_attachment[5].server_id", "[]"},
		{"$.payload.volume_attachment[*].server_id", "[srv-1 srv-2]"},
		{"$.payload.volume_attachment.[*].server_id", "[srv-1 srv-2]"},
		{"$.payload.volume_attachment[0:1].server_id", "[srv-1]"},
		{"$.payload.metrics[?(@.name='cpu.frequency')].value", "[1600]"},
		{"$.payload.metrics[?(@.name='cpu.user.percent')].value * 100", "[50]"},
		{"$.payload.metrics[?name=cpu.frequency].timestamp", "[t1]"},
		{"$.payload.metrics[?(@.value > 1000)].name", "[cpu.frequency]"},
		{"$.payload.metrics[?(@.value >= 0.5 & @.source = 'libvirt')].name", "[cpu.frequency cpu.user.percent]"},
		{"$.payload.metrics[?(@.name =~ '^cpu\\.u')].name", "[cpu.user.percent]"},
		{"$.payload.metrics[?timestamp].name", "[cpu.frequency]"},
		{"$.payload.metrics.[*].name", "[cpu.frequency cpu.user.percent]"},
		{"$.payload.measurements.[*].metric.[*].name", "[storage.objects.outgoing.bytes storage.api.request]"},
		{"$.payload.measurements.[*].result", "[28 1]"},
		{`$.payload.host + "_" + $.payload.nodename`, "[h1_n1]"},
		{"$.payload.outcome.`sub(/.*/, )` + 'identity.authenticate.' + $.payload.outcome", "[identity.authenticate.success]"},
		{"$.payload.name_to_id.`split(#, 0, 1)`", "[host@backend]"},
		{"$.payload.name_to_id.`split(@, 1, -1)`", "[backend#pool]"},
		{"$.publisher_id.`split(., 1, 1)`", "[host1]"},
		{"$.payload.name_to_id.`split(#, 5, 1)`", "[]"},
		{"$.payload.size * 2 + 1", "[39]"},
		{"$.payload.size / 2", "[9.5]"},
		{"$.payload.size / 0", "[]"},
		{"$.payload.host + 1", "[]"}, // Python TypeError: nothing
		{"$.payload.ratio * 4", "[1]"},
		{"$.payload.(tenant_id|host)", "[h1]"},
		{"$.payload.tenant_id|host", "[h1]"},
		{"(payload.missing)|(payload.host)", "[h1]"},
		{"payload.size,payload.host", "[19 h1]"},
		{"ctxt.user_id|ctxt.user", "[]"}, // jsonpath-rw precedence: ctxt.(user_id|ctxt).user
		{"$.payload.nested..id", "[1 2 3]"},
		{"$.payload.nested.*.id", "[1 2]"},
		{"$.payload.glance_metadata.`len`", "[2]"},
		{"$.payload.size.`str()`", "[19]"},
		{"$.payload.flag.`str()`", "[True]"},
		{"$.payload.'name_to_id'", "[host@backend#pool]"},
		{"$.payload['host']", "[h1]"},
		{"$.payload.flag", "[true]"},
		{"$.payload.metrics[?(@.name='nope')].value", "[]"},
	} {
		t.Run(tc.expr, func(t *testing.T) {
			e, err := ParseField(tc.expr)
			if err != nil {
				t.Fatal(err)
			}
			got := fmt.Sprint(e.Eval(nil, doc))
			if got != tc.want {
				t.Errorf("got %s, want %s", got, tc.want)
			}
		})
	}
}

func TestFieldExpressionErrors(t *testing.T) {
	for _, tc := range []struct{ expr, want string }{
		{"", "empty"},
		{"$.payload.", "ends where a value is expected"},
		{"$.payload[", "want an index"},
		{"$.payload[0", "want ']'"},
		{"$.payload[?(@.a = 1]", "want ')'"},
		{"$.a & $.b", "not supported"},
		{"$.a where $.b", "not supported"},
		{"$.a.`nope`", "unknown operator"},
		{"$.a.`sub(/(/, x)`", "cannot compile"},
		{"$.a.`split", "unterminated `"},
		{"$.a + 'x", "unterminated string"},
		{"$.a ~ 1", "unexpected character"},
		{"$.a[?b =~ 1]", "regular expression string"},
		{"$.a)", "unexpected"},
		{strings.Repeat("(", 100) + "a" + strings.Repeat(")", 100), "nested deeper"},
	} {
		t.Run(tc.expr, func(t *testing.T) {
			_, err := ParseField(tc.expr)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("got %v, want an error containing %q", err, tc.want)
			}
		})
	}
}

func FuzzParseField(f *testing.F) {
	for _, s := range []string{
		"$.payload.size", "$.payload.metrics[?(@.name='cpu.frequency')].value * 100",
		"$.payload.glance_metadata[?key=image_id].value", "$.payload.host + \"_\" + $.payload.nodename",
		"$.payload.outcome.`sub(/.*/, )` + 'x.' + $.payload.outcome", "$.payload.name_to_id.`split(#, 0, 1)`",
		"payload..id", "$.a[1:-1]", "(a)|(b),c", "$.a[?(@.b >= -1.5 & c != 'x')]",
	} {
		f.Add(s)
	}
	doc := []byte(fieldDoc)
	f.Fuzz(func(t *testing.T, src string) {
		e, err := ParseField(src)
		if err != nil {
			return
		}
		d := json.NewDecoder(bytes.NewReader(doc))
		d.UseNumber()
		var v any
		if err := d.Decode(&v); err != nil {
			t.Fatal(err)
		}
		e.Eval(nil, v)
		e.First(v)
	})
}
