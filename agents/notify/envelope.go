package notify

import (
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/google/uuid"
)

// Notification is one oslo.messaging notification, decoded.
type Notification struct {
	MessageID   string
	EventType   string
	PublisherID string
	// Priority is lower-case: audit, critical, debug, error, info,
	// sample, warn.
	Priority  string
	Timestamp time.Time // UTC
	Payload   any
	// Context is the request context, from the `_context_*` keys of the
	// message (or its `ctxt` object).
	Context map[string]any
	// Message is what definitions' field expressions see, shaped as
	// oslo.messaging hands notifications to Ceilometer: ctxt,
	// publisher_id, event_type, priority, payload, and metadata with
	// message_id and timestamp.
	Message map[string]any
}

// ErrMalformed wraps every reason ParseNotification refuses a message: the
// listeners dead-letter such messages instead of retrying them.
var ErrMalformed = errors.New("malformed notification")

// MaxNotificationBytes bounds a notification's encoded size.
const MaxNotificationBytes = 8 << 20

// maxEventTypeLen bounds an event type (Ceilometer stores 255).
const maxEventTypeLen = 255

// messageIDNamespace derives a message id for producers that send none.
var messageIDNamespace = uuid.MustParse("b1a5f1e4-5b0e-4d7a-8a43-6c5d6f0b9e12")

// ParseNotification decodes a notification: the oslo.messaging 2.0
// envelope {"oslo.version": "2.0", "oslo.message": "<JSON string>"}, or the
// bare 1.0 message. event_type and timestamp are required; priority
// defaults to info; a message without message_id (nor _unique_id) gets one
// derived from its bytes, so that a redelivery gets the same. Every error
// wraps ErrMalformed.
func ParseNotification(data []byte) (*Notification, error) {
	n, err := parseNotification(data)
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrMalformed, err)
	}
	return n, nil
}

func parseNotification(data []byte) (*Notification, error) {
	if len(data) > MaxNotificationBytes {
		return nil, fmt.Errorf("%d bytes is more than the limit of %d", len(data), MaxNotificationBytes)
	}
	top, err := decodeObject(string(data))
	if err != nil {
		return nil, err
	}
	inner := ""
	if v, ok := top["oslo.version"]; ok {
		ver, ok := v.(string)
		if !ok {
			return nil, fmt.Errorf("oslo.version is %s, not a string", jsonKind(v))
		}
		if major, _, _ := strings.Cut(ver, "."); major != "2" {
			return nil, fmt.Errorf("unsupported oslo.version %q: want 2.x", ver)
		}
		msg, ok := top["oslo.message"].(string)
		if !ok {
			return nil, fmt.Errorf("oslo.message is %s, want a JSON string", jsonKind(top["oslo.message"]))
		}
		inner = msg
		if top, err = decodeObject(msg); err != nil {
			return nil, fmt.Errorf("oslo.message: %w", err)
		}
	}
	n := &Notification{}
	et, ok := top["event_type"].(string)
	if !ok || et == "" {
		return nil, fmt.Errorf("event_type is %s, want a non-empty string", jsonKind(top["event_type"]))
	}
	if len(et) > maxEventTypeLen {
		return nil, fmt.Errorf("event_type is %d bytes, the limit is %d", len(et), maxEventTypeLen)
	}
	n.EventType = et
	if v, ok := top["publisher_id"]; ok && v != nil {
		if n.PublisherID, ok = v.(string); !ok {
			return nil, fmt.Errorf("publisher_id is %s, want a string", jsonKind(v))
		}
	}
	n.Priority = "info"
	if v, ok := top["priority"]; ok && v != nil {
		p, ok := v.(string)
		if !ok {
			return nil, fmt.Errorf("priority is %s, want a string", jsonKind(v))
		}
		if p != "" {
			n.Priority = strings.ToLower(p)
		}
	}
	ts, ok := top["timestamp"].(string)
	if !ok {
		return nil, fmt.Errorf("timestamp is %s, want a string", jsonKind(top["timestamp"]))
	}
	if n.Timestamp, err = parseTimestamp(ts); err != nil {
		return nil, err
	}
	switch id := top["message_id"].(type) {
	case string:
		n.MessageID = id
	case nil:
		if u, ok := top["_unique_id"].(string); ok && u != "" {
			n.MessageID = u
		} else {
			// The same bytes give the same id, so a redelivery dedups.
			raw := data
			if inner != "" {
				raw = []byte(inner)
			}
			n.MessageID = uuid.NewSHA1(messageIDNamespace, raw).String()
		}
	default:
		return nil, fmt.Errorf("message_id is %s, want a string", jsonKind(id))
	}
	if n.MessageID == "" || len(n.MessageID) > maxEventTypeLen {
		return nil, fmt.Errorf("message_id %q: want 1 to %d bytes", n.MessageID, maxEventTypeLen)
	}
	n.Payload = top["payload"]
	ctxt := map[string]any{}
	if c, ok := top["ctxt"].(map[string]any); ok {
		for k, v := range c {
			ctxt[k] = v
		}
	}
	for k, v := range top {
		if name, ok := strings.CutPrefix(k, "_context_"); ok {
			ctxt[name] = v
		}
	}
	n.Context = ctxt
	n.Message = map[string]any{
		"ctxt":         ctxt,
		"publisher_id": n.PublisherID,
		"event_type":   n.EventType,
		"priority":     n.Priority,
		"payload":      n.Payload,
		"metadata":     map[string]any{"message_id": n.MessageID, "timestamp": ts},
	}
	return n, nil
}

// decodeObject decodes one JSON object (decodeJSON).
func decodeObject(data string) (map[string]any, error) {
	if strings.TrimSpace(data) == "" {
		return nil, errors.New("empty message")
	}
	v, err := decodeJSON(data)
	if err != nil {
		return nil, err
	}
	m, ok := v.(map[string]any)
	if !ok {
		return nil, fmt.Errorf("message is %s, want a JSON object", jsonKind(v))
	}
	return m, nil
}

func jsonKind(v any) string {
	switch x := v.(type) {
	case nil:
		return "missing or null"
	case string:
		return fmt.Sprintf("the string %q", truncate(x, 40))
	case json.Number:
		return "a number"
	case bool:
		return "a boolean"
	case []any:
		return "a list"
	case map[string]any:
		return "an object"
	}
	return fmt.Sprintf("%T", v)
}

func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n] + "..."
}
