package backend

import (
	"context"
	"encoding/json"
	"errors"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/hashicorp/vault/sdk/framework"
	"github.com/hashicorp/vault/sdk/logical"
)

// Vault event types sent by the engine. Metadata is string pairs and never
// holds a secret: request_id and role on every event of a lease's request;
// run_as, entity_id and by=operator on an operator's action.
const (
	eventCheckout = "passwordsafe/checkout"
	eventCheckin  = "passwordsafe/checkin" // a lease's last holder left, or an operator checked it in
	eventApprove  = "passwordsafe/approve"
	eventDeny     = "passwordsafe/deny"
	eventRotate   = "passwordsafe/rotate" // a credential was rotated through the mount
)

// RequestAction is what an operator did to a Password Safe request through
// the mount (see Engine.Acted).
type RequestAction string

const (
	ActionApprove RequestAction = "approve"
	ActionDeny    RequestAction = "deny"
	ActionCheckin RequestAction = "checkin"
	ActionRotate  RequestAction = "rotate"
)

var actionEvents = map[RequestAction]string{
	ActionApprove: eventApprove, ActionDeny: eventDeny, ActionCheckin: eventCheckin, ActionRotate: eventRotate,
}

// Acted notes an operator's successful action on request id as run-as user
// runAs for the Vault entity entityID: a check-in ends the mount's leases
// on it (they can no longer be renewed); every action sends its Vault
// event, with the role when the mount holds the request.
func (b *Engine) Acted(ctx context.Context, s logical.Storage, a RequestAction, id int, runAs, entityID string) {
	typ, ok := actionEvents[a]
	if !ok {
		return
	}
	var role string
	if a == ActionCheckin {
		role = b.markEnded(ctx, s, id)
	} else {
		lock := b.lockRequest(id)
		lock.RLock()
		if e, err := s.Get(ctx, recordKey(id)); err == nil && e != nil {
			var r struct {
				Role string `json:"role"`
			}
			if json.Unmarshal(e.Value, &r) == nil {
				role = r.Role
			}
		}
		lock.RUnlock()
	}
	kv := []string{"request_id", strconv.Itoa(id), "run_as", runAs, "by", "operator"}
	if entityID != "" {
		kv = append(kv, "entity_id", entityID)
	}
	if role != "" {
		kv = append(kv, "role", role)
	}
	b.emit(ctx, typ, kv...)
}

const (
	eventQueueSize   = 1024
	eventSendTimeout = 10 * time.Second
)

type eventSenderFunc func(context.Context, logical.EventType, *logical.EventData) error

func (f eventSenderFunc) SendEvent(ctx context.Context, t logical.EventType, e *logical.EventData) error {
	return f(ctx, t, e)
}

// events sends Vault events from one background goroutine, in order. Events
// are best effort (Vault may have them disabled), so they stay off the
// request path: a checkout does not wait for the event's ID generation or
// the round trip to Vault. A full queue drops the event (with a warning)
// rather than slowing checkouts down.
type events struct {
	b *Engine

	mu      sync.Mutex
	ch      chan queuedEvent
	closed  bool
	pending sync.WaitGroup // queued and not yet sent
	stopped chan struct{}

	// What became of events since start (status).
	sent, dropped, failed atomic.Uint64
}

type queuedEvent struct {
	typ string
	kv  []string
}

// emit queues a Vault event with string metadata pairs. Metadata never
// holds a secret.
func (b *Engine) emit(_ context.Context, typ string, kv ...string) {
	q := &b.events
	q.mu.Lock()
	defer q.mu.Unlock()
	if q.closed {
		return
	}
	if q.ch == nil {
		q.b = b
		q.ch = make(chan queuedEvent, eventQueueSize)
		q.stopped = make(chan struct{})
		go q.run()
	}
	q.pending.Add(1)
	select {
	case q.ch <- queuedEvent{typ: typ, kv: kv}:
	default:
		q.pending.Done()
		q.dropped.Add(1)
		b.Logger().Warn("event queue full; event dropped", "type", typ)
	}
}

func (q *events) run() {
	defer close(q.stopped)
	for ev := range q.ch {
		q.send(ev)
		q.pending.Done()
	}
}

func (q *events) send(ev queuedEvent) {
	ctx, cancel := context.WithTimeout(context.Background(), eventSendTimeout)
	defer cancel()
	err := logical.SendEvent(ctx, eventSenderFunc(q.b.host.SendEvent), ev.typ, ev.kv...)
	if err == nil {
		q.sent.Add(1)
		return
	}
	q.failed.Add(1)
	if errors.Is(err, framework.ErrNoEvents) || strings.Contains(err.Error(), "not enabled") {
		return
	}
	q.b.Logger().Debug("could not send event", "type", ev.typ, "error", err)
}

// flush waits until every queued event has been sent.
func (q *events) flush() { q.pending.Wait() }

// stop sends what is queued (waiting at most timeout) and stops the sender.
func (q *events) stop(timeout time.Duration) {
	q.mu.Lock()
	if q.closed || q.ch == nil {
		q.closed = true
		q.mu.Unlock()
		return
	}
	q.closed = true
	close(q.ch)
	q.mu.Unlock()
	select {
	case <-q.stopped:
	case <-time.After(timeout):
	}
}
