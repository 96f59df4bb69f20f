package backend

import (
	"context"
	"errors"
	"strings"

	"github.com/hashicorp/vault/sdk/framework"
	"github.com/hashicorp/vault/sdk/logical"
)

// Vault event types sent by the engine.
const (
	eventCheckout = "passwordsafe/checkout"
	eventCheckin  = "passwordsafe/checkin"
)

type eventSenderFunc func(context.Context, logical.EventType, *logical.EventData) error

func (f eventSenderFunc) SendEvent(ctx context.Context, t logical.EventType, e *logical.EventData) error {
	return f(ctx, t, e)
}

// emit sends a Vault event with string metadata pairs. Events are best
// effort: a Vault without events (or with them disabled) is not an error.
// Metadata never holds a secret.
func (b *Backend) emit(ctx context.Context, typ string, kv ...string) {
	err := logical.SendEvent(ctx, eventSenderFunc(b.SendEvent), typ, kv...)
	if err == nil || errors.Is(err, framework.ErrNoEvents) || strings.Contains(err.Error(), "not enabled") {
		return
	}
	b.Logger().Debug("could not send event", "type", typ, "error", err)
}
