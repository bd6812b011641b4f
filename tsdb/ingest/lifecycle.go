package ingest

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/VictoriaMetrics/metrics"
	"github.com/google/uuid"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/vigil-telemetry/vigil/pipeline"
	"github.com/vigil-telemetry/vigil/pipeline/resources"
	"github.com/vigil-telemetry/vigil/tsdb/index"
	"github.com/vigil-telemetry/vigil/tsdb/search"
)

// LifecycleConsumer is the durable consumer of the events stream through
// which processors apply the resource events of the definitions. Every
// processor pulls from it, so each event is applied by one of them.
const LifecycleConsumer = "resources"

// lifecycle applies the event rules of the resource definitions to the
// index, as Ceilometer's gnocchi publisher does with the events it is
// given: event_create creates the resource from the event's traits (unless
// it exists), event_delete sets ended_at on it and on its associated
// resources, event_update patches it. It reads the events the notification
// agents keep on the events stream (JSON as Ceilometer's
// Event.serialize()), so that a processor that was down catches up.
type lifecycle struct {
	js      jetstream.JetStream
	stream  string
	res     *Resolver
	idx     *index.Index
	creator string
	log     *slog.Logger

	// wait is how long to wait for the stream to exist, and retry how long
	// a deletion of a resource not (yet) in the index waits before it is
	// tried again, at most attempts times in all: the resource's samples
	// travel on another stream and may be stored a moment after the event.
	wait, retry time.Duration
	attempts    uint64

	applied  map[resources.EventOp]*metrics.Counter
	notFound *metrics.Counter
	invalid  *metrics.Counter
}

func newLifecycle(js jetstream.JetStream, stream string, res *Resolver, idx *index.Index, creator string, set *metrics.Set, log *slog.Logger) *lifecycle {
	l := &lifecycle{
		js: js, stream: stream, res: res, idx: idx, creator: creator, log: log.With("component", "lifecycle"),
		wait: 5 * time.Second, retry: 2 * time.Second, attempts: 8,
		applied:  map[resources.EventOp]*metrics.Counter{},
		notFound: set.GetOrCreateCounter(`vigil_ingest_resource_events_total{outcome="not_found"}`),
		invalid:  set.GetOrCreateCounter(`vigil_ingest_resource_events_total{outcome="invalid"}`),
	}
	for _, op := range []resources.EventOp{resources.EventCreate, resources.EventDelete, resources.EventUpdate} {
		l.applied[op] = set.GetOrCreateCounter(fmt.Sprintf(`vigil_ingest_resource_events_total{outcome="applied",op=%q}`, op))
	}
	return l
}

// run consumes the events stream until ctx is done, waiting for the
// stream to exist first (the notification agents create it).
func (l *lifecycle) run(ctx context.Context) {
	var cons jetstream.Consumer
	waiting := false
	for {
		c, err := l.js.CreateOrUpdateConsumer(ctx, l.stream, jetstream.ConsumerConfig{
			Durable:     LifecycleConsumer,
			Description: "vigil processors applying resource events (gnocchi_resources.yaml)",
			AckPolicy:   jetstream.AckExplicitPolicy,
			AckWait:     30 * time.Second,
			// From the first event the stream holds: events are applied
			// idempotently, and none sent before the consumer existed is
			// missed.
			DeliverPolicy: jetstream.DeliverAllPolicy,
			MaxAckPending: 1024,
			MaxDeliver:    -1,
		})
		if err == nil {
			cons = c
			break
		}
		if ctx.Err() != nil {
			return
		}
		if errors.Is(err, jetstream.ErrStreamNotFound) {
			if !waiting {
				l.log.Info("waiting for the events stream; resource events are applied once it exists", "stream", l.stream)
				waiting = true
			}
		} else {
			l.log.Warn("cannot consume the events stream; retrying", "stream", l.stream, "err", err)
		}
		select {
		case <-ctx.Done():
			return
		case <-time.After(l.wait):
		}
	}
	for ctx.Err() == nil {
		batch, err := cons.Fetch(64, jetstream.FetchMaxWait(time.Second))
		if err != nil {
			if ctx.Err() == nil {
				l.log.Warn("cannot fetch events; retrying", "err", err)
				time.Sleep(time.Second)
			}
			continue
		}
		for msg := range batch.Messages() {
			l.handle(context.WithoutCancel(ctx), msg)
		}
		if err := batch.Error(); err != nil && ctx.Err() == nil &&
			!errors.Is(err, nats.ErrTimeout) && !errors.Is(err, context.DeadlineExceeded) {
			l.log.Warn("fetch of events ended early", "err", err)
		}
	}
}

// errNotYet marks an event whose resource is not in the index yet.
var errNotYet = errors.New("resource not found")

func (l *lifecycle) handle(ctx context.Context, msg jetstream.Msg) {
	err := l.apply(ctx, msg.Data())
	if err == nil {
		_ = msg.Ack()
		return
	}
	var delivered uint64 = 1
	if md, merr := msg.Metadata(); merr == nil {
		delivered = md.NumDelivered
	}
	switch {
	case errors.Is(err, errNotYet):
		if delivered < l.attempts {
			_ = msg.NakWithDelay(l.retry)
			return
		}
		l.notFound.Inc()
		l.log.Debug("a resource event names a resource that does not exist; ignored", "err", err)
		_ = msg.Ack()
	case errors.Is(err, errBadEvent):
		l.invalid.Inc()
		l.res.warnOnce("event-invalid", "cannot apply a resource event; dropped (further ones are logged at debug level)", "err", err)
		l.log.Debug("cannot apply a resource event; dropped", "err", err)
		_ = msg.Term()
	default:
		// The index, not the event, failed: try again.
		l.log.Warn("cannot apply a resource event; retrying", "err", err, "deliveries", delivered)
		_ = msg.NakWithDelay(l.retry)
	}
}

var errBadEvent = errors.New("bad resource event")

// event is the part of an event message the lifecycle reads.
type event struct {
	MessageID string            `json:"message_id"`
	EventType string            `json:"event_type"`
	Generated string            `json:"generated"`
	Traits    []json.RawMessage `json:"traits"`
}

// maxEventBytes bounds an event message, as the events stream's producers
// do.
const maxEventBytes = 1 << 20

// decodeEvent reads an event: traits as Ceilometer's [name, type, value]
// triples or as {"name", "type", "value"} objects.
func decodeEvent(data []byte) (*event, map[string]any, error) {
	if len(data) > maxEventBytes {
		return nil, nil, fmt.Errorf("%w: %d bytes, the most is %d", errBadEvent, len(data), maxEventBytes)
	}
	var e event
	if err := json.Unmarshal(data, &e); err != nil {
		return nil, nil, fmt.Errorf("%w: not an event: %v", errBadEvent, err)
	}
	if e.EventType == "" {
		return nil, nil, fmt.Errorf("%w: no event_type", errBadEvent)
	}
	traits := make(map[string]any, len(e.Traits))
	for i, raw := range e.Traits {
		var name string
		var value any
		raw = bytes.TrimSpace(raw)
		if len(raw) > 0 && raw[0] == '[' {
			var triple []json.RawMessage
			if err := json.Unmarshal(raw, &triple); err != nil || len(triple) != 3 {
				return nil, nil, fmt.Errorf("%w: event %s: trait %d is not [name, type, value]", errBadEvent, e.MessageID, i)
			}
			if err := json.Unmarshal(triple[0], &name); err != nil {
				return nil, nil, fmt.Errorf("%w: event %s: trait %d has no name", errBadEvent, e.MessageID, i)
			}
			if err := json.Unmarshal(triple[2], &value); err != nil {
				return nil, nil, fmt.Errorf("%w: event %s: trait %s: %v", errBadEvent, e.MessageID, name, err)
			}
		} else {
			var obj struct {
				Name  string `json:"name"`
				Value any    `json:"value"`
			}
			if err := json.Unmarshal(raw, &obj); err != nil {
				return nil, nil, fmt.Errorf("%w: event %s: trait %d is neither a list nor an object", errBadEvent, e.MessageID, i)
			}
			name, value = obj.Name, obj.Value
		}
		traits[name] = value
	}
	return &e, traits, nil
}

func (l *lifecycle) apply(ctx context.Context, data []byte) error {
	ev, traits, err := decodeEvent(data)
	if err != nil {
		return err
	}
	def, op := l.res.defs.ForEvent(ev.EventType)
	if def == nil {
		return nil
	}
	vals := def.EventValues(traits)
	id, ok := scalarString(vals["id"])
	if !ok || id == "" {
		return fmt.Errorf("%w: event %s (%s) has no trait %s with the resource id", errBadEvent, ev.MessageID, ev.EventType, def.EventAttributes["id"])
	}
	delete(vals, "id")
	rid, err := pipeline.ResourceUUID(id, l.creator)
	if err != nil {
		return fmt.Errorf("%w: event %s (%s): %w", errBadEvent, ev.MessageID, ev.EventType, err)
	}
	switch op {
	case resources.EventDelete:
		at, ok := toTime(ev.Generated)
		if !ok {
			at = time.Now()
		}
		err = l.end(ctx, def, rid, id, at.UTC())
	case resources.EventCreate:
		err = l.create(ctx, def, rid, id, vals)
	case resources.EventUpdate:
		err = l.update(ctx, def, rid, id, vals)
	}
	if err != nil {
		return fmt.Errorf("event %s (%s) on resource %s: %w", ev.MessageID, ev.EventType, id, err)
	}
	l.applied[op].Inc()
	return nil
}

// end sets ended_at on resource rid and on the resources associated with
// it. ended_at is the event's time (so that a redelivery sets the same),
// but never before the resource started; a resource that has ended keeps
// its ended_at.
func (l *lifecycle) end(ctx context.Context, def *resources.Resource, rid uuid.UUID, id string, at time.Time) error {
	cur, err := l.idx.Resource(ctx, "generic", rid)
	if errors.Is(err, index.ErrNotFound) {
		return fmt.Errorf("%w: %s", errNotYet, rid)
	}
	if err != nil {
		return err
	}
	if err := l.setEnded(ctx, cur, at); err != nil {
		return err
	}
	return l.associated(ctx, def, id, func(r index.Resource) error { return l.setEnded(ctx, r, at) })
}

func (l *lifecycle) setEnded(ctx context.Context, r index.Resource, at time.Time) error {
	if r.EndedAt != nil {
		return nil
	}
	if at.Before(r.StartedAt) {
		at = r.StartedAt
	}
	end := &at
	_, err := l.idx.UpdateResource(ctx, "generic", r.ID, index.ResourcePatch{EndedAt: &end}, 0)
	if errors.Is(err, index.ErrNotFound) {
		return nil // deleted meanwhile
	}
	return err
}

// associated calls f with each resource that an associated-resources
// filter finds for id.
func (l *lifecycle) associated(ctx context.Context, def *resources.Resource, id string, f func(index.Resource) error) error {
	for _, a := range def.Associated {
		filter, err := search.ParseJSON(a.Filter(id))
		if err != nil {
			l.res.warnOnce("assoc:"+def.Type+"."+a.Type, "cannot search the associated resources of an event", "type", def.Type, "associated", a.Type, "err", err)
			continue
		}
		rs, err := l.idx.ListResources(ctx, index.ListOptions{Type: a.Type, Filter: filter, Creator: l.creator})
		if errors.Is(err, index.ErrNotFound) || errors.Is(err, index.ErrInvalid) {
			l.res.warnOnce("assoc:"+def.Type+"."+a.Type, "cannot search the associated resources of an event", "type", def.Type, "associated", a.Type, "err", err)
			continue
		}
		if err != nil {
			return err
		}
		for _, r := range rs {
			if err := f(r); err != nil {
				return err
			}
		}
	}
	return nil
}

// create makes the resource of an event_create event unless it exists,
// with the event's attributes fitted to the type as a sample's are. One
// that the type cannot take is left to the samples to create.
func (l *lifecycle) create(ctx context.Context, def *resources.Resource, rid uuid.UUID, id string, vals map[string]any) error {
	rt, err := l.res.resourceType(ctx, def.Type)
	if errors.Is(err, index.ErrNotFound) {
		l.res.warnOnce("type:"+def.Type, "resource type does not exist in the index; its events are ignored", "type", def.Type)
		return nil
	}
	if err != nil {
		return err
	}
	user, project, rest := splitOwner(vals)
	attrs, notes := conform(&rt, rest, true)
	if notes.unfillable != "" {
		l.res.warnOnce("event-unfillable:"+def.Type+"."+notes.unfillable, "a create event lacks a required attribute; the resource is left to its samples to create",
			"type", def.Type, "attribute", notes.unfillable, "resource", id)
		return nil
	}
	cu, cp, _ := cutCreator(l.creator)
	_, created, err := l.idx.EnsureResource(ctx, index.Resource{
		ID: rid, OriginalResourceID: id, Type: def.Type, Creator: l.creator, CreatedByUserID: cu, CreatedByProjectID: cp,
		UserID: user, ProjectID: project, StartedAt: time.Now().UTC(), Attributes: attrs,
	})
	if errors.Is(err, index.ErrInvalid) {
		l.res.warnOnce("event-invalid:"+def.Type, "a create event makes a resource its type refuses; the resource is left to its samples to create",
			"type", def.Type, "resource", id, "err", err)
		return nil
	}
	if err != nil {
		return err
	}
	if created {
		l.res.note(def.Type, id, "", notes)
	}
	return nil
}

// update applies an event_update event to the resource and its
// associated resources: user_id and project_id, and the attributes each
// one's type has. A resource that does not exist is ignored, as in
// Ceilometer.
func (l *lifecycle) update(ctx context.Context, def *resources.Resource, rid uuid.UUID, id string, vals map[string]any) error {
	cur, err := l.idx.Resource(ctx, "generic", rid)
	if errors.Is(err, index.ErrNotFound) {
		return nil
	}
	if err != nil {
		return err
	}
	if err := l.patch(ctx, cur, vals); err != nil {
		return err
	}
	return l.associated(ctx, def, id, func(r index.Resource) error { return l.patch(ctx, r, vals) })
}

func (l *lifecycle) patch(ctx context.Context, r index.Resource, vals map[string]any) error {
	rt, err := l.res.resourceType(ctx, r.Type)
	if err != nil {
		return err
	}
	var p index.ResourcePatch
	user, project, rest := splitOwner(vals)
	if user != nil {
		p.UserID = &user
	}
	if project != nil {
		p.ProjectID = &project
	}
	p.Attributes, _ = conform(&rt, rest, false)
	_, err = l.idx.UpdateResource(ctx, r.Type, r.ID, p, 0)
	switch {
	case errors.Is(err, index.ErrNotFound):
		return nil
	case errors.Is(err, index.ErrInvalid):
		l.res.warnOnce("event-patch:"+r.Type, "an update event does not fit its resource; left as it is", "type", r.Type, "resource", r.ID, "err", err)
		return nil
	}
	return err
}

// splitOwner parts an event's values into the resource's user_id and
// project_id and its attributes.
func splitOwner(vals map[string]any) (user, project *string, attrs map[string]any) {
	get := func(k string) *string {
		if s, ok := scalarString(vals[k]); ok && s != "" {
			return &s
		}
		return nil
	}
	attrs = make(map[string]any, len(vals))
	for k, v := range vals {
		if k != "user_id" && k != "project_id" {
			attrs[k] = v
		}
	}
	return get("user_id"), get("project_id"), attrs
}
