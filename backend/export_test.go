package backend

import (
	"context"
	"time"

	"github.com/hashicorp/vault/sdk/logical"

	"github.com/vault-passwordsafe/vault-plugin-secrets-passwordsafe/client"
)

// What the tests (package backend_test, which drives the engine through
// package paths's logical backend) may see of the engine's insides.

type (
	Record     = record
	HolderRec  = holder
	Queued     = queued
	WALRequest = walRequest
)

const (
	RecordPrefix     = recordPrefix
	HolderPrefix     = holderPrefix
	PendingPrefix    = pendingPrefix
	QueuePrefix      = queuePrefix
	QueueBackoffCap  = queueBackoffCap
	QueueExpiryGrace = queueExpiryGrace
	RollbackSlack    = rollbackSlack
	EventCheckout    = eventCheckout
	EventCheckin     = eventCheckin
	EventApprove     = eventApprove
	EventDeny        = eventDeny
	EventRotate      = eventRotate
)

var (
	GetRecord  = getRecord
	PutRecord  = putRecord
	HoldersOf  = holdersOf
	GetHolder  = getHolder
	GetQueued  = getQueued
	RecordKey  = recordKey
	HoldersKey = holdersKey
	HolderKey  = holderKey
	PendingKey = pendingKey
	QueueKey   = queueKey
	DecodeWAL  = decodeWAL
	SessionKey = sessionKey
	Claimable  = claimable
)

func (r *record) Until() time.Time { return r.until() }

// Knobs.
func (b *Engine) SetClock(now func() time.Time)    { b.now = now }
func (b *Engine) SetApprovalPoll(d time.Duration)  { b.approvalPoll = d }
func (b *Engine) SetSuccessorWait(d time.Duration) { b.successorWait = d }
func (b *Engine) SetSleep(f func(context.Context, time.Duration) error) {
	b.sleep = f
}
func (b *Engine) SetPendingClaimWindow(d time.Duration)   { b.pendingClaimWindow = d }
func (b *Engine) PendingClaimWindow() time.Duration       { return b.pendingClaimWindow }
func (b *Engine) SetClientOptions(f func(*client.Config)) { b.clientOptions = f }
func (b *Engine) SetFoldersPageSize(n int)                { b.secretsSafe.foldersPage = n }
func (b *Engine) SetMaxFileBytes(n int64)                 { b.secretsSafe.maxFileBytes = n }

// Sessions.
func (b *Engine) SetMaxSessions(n int)              { b.sessions.max = n }
func (b *Engine) SessionsLen() int                  { return b.sessions.len() }
func (b *Engine) WaitSessionSignouts()              { b.sessions.bg.Wait() }
func (b *Engine) NewSessionCache(max int)           { b.sessions = newSessions(b.Logger, max) }
func (b *Engine) ResetSessions(ctx context.Context) { b.sessions.reset(ctx) }

func (b *Engine) SessionGeneration() uint64 { return b.sessions.generation() }
func (b *Engine) SessionFor(gen uint64, key string, n int, build func(*client.Limiter) (*client.Client, error)) (*client.Client, error) {
	return b.sessions.get(gen, key, n, build)
}

// Events.
func (b *Engine) FlushEvents()                                       { b.events.flush() }
func (b *Engine) Emit(ctx context.Context, typ string, kv ...string) { b.emit(ctx, typ, kv...) }

// Recovery steps.
func (b *Engine) Checkin(ctx context.Context, s logical.Storage, runAs string, id int, reason string) error {
	return b.checkin(ctx, s, runAs, id, reason)
}
func (b *Engine) MarkEnded(ctx context.Context, s logical.Storage, id int) { b.markEnded(ctx, s, id) }
