package backend

import (
	"context"
	"encoding/json"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/hashicorp/vault/sdk/framework"
	"github.com/hashicorp/vault/sdk/logical"

	"github.com/vault-passwordsafe/vault-plugin-secrets-passwordsafe/client"
)

// Status is what an operator needs to see of a mount: what it holds in
// Password Safe, what waits, its upstream sessions and calls, its events.
// It holds no secret. See Engine.Status.
type Status struct {
	Now      time.Time
	Requests RequestsStatus
	Queue    QueueStatus
	WAL      WALStatus
	Sessions SessionsStatus
	Upstream client.MetricsSnapshot
	Events   EventsStatus
}

// RequestsStatus counts the requests the mount holds (its records) and
// their holders.
type RequestsStatus struct {
	Held          int            // requests recorded (backing leases or pending claims)
	Leases        int            // holds that are leases
	PendingClaims int            // pending holds of callers: waiting for approval or for their claim (requests/<id>/creds)
	Orphans       int            // pending holds a failed checkout left, to be checked in once approved
	Pending       int            // requests with a pending claim or an orphan
	Ended         int            // requests ended other than by this mount's check-in (an operator's check-in, a renewal's new request, gone upstream) whose leases remain
	ByRole        map[string]int // held requests per role
	ByRunAs       map[string]int // held requests per run-as user
	// OldestSince is the earliest start of a hold on a request marked
	// pending: only those requests' holders are read, the others' are
	// counted from their records (zero: none).
	OldestSince time.Time
	NextExpiry  time.Time // the earliest recorded request expiry, past ones included (zero: none)
}

// QueueStatus is the check-in queue: check-ins Password Safe did not take.
type QueueStatus struct {
	Count           int
	OldestRequestID int
	OldestQueuedAt  time.Time // zero when empty
	NextTry         time.Time // the soonest retry (zero when empty)
	MaxTries        int
	LastError       string // the newest failure among the queued (redacted by the client)
}

// WALStatus counts checkouts that never finished (rollback finishes them
// once they are WALRollbackMinAge old).
type WALStatus struct {
	Unfinished    int
	Oldest        time.Time // zero when none
	RollbackAfter time.Duration
}

// SessionsStatus is the cached upstream sessions.
type SessionsStatus struct {
	Cached   int
	SignedIn int
	Max      int
	ByRunAs  map[string]int // cached sessions per run-as user ("(oauth)" for an OAuth config's one)
}

// EventsStatus says what became of the mount's Vault events since start.
type EventsStatus struct {
	Sent    uint64
	Dropped uint64 // the queue was full
	Failed  uint64 // Vault refused or events are disabled
}

// Metrics is the mount's upstream call metrics since the engine started.
func (b *Engine) Metrics() client.MetricsSnapshot { return b.metrics.Snapshot() }

// Status reads the mount's state. It lists and reads every record, pending
// holder, queued check-in and WAL entry, so its cost grows with what the
// mount holds: an operator's path, not one to poll every second. It takes
// no lock a checkout waits for; counts read while checkouts run may be a
// checkout apart.
func (b *Engine) Status(ctx context.Context, s logical.Storage) (*Status, error) {
	st := &Status{Now: b.now(), Upstream: b.metrics.Snapshot()}
	if err := b.requestsStatus(ctx, s, &st.Requests); err != nil {
		return nil, err
	}
	if err := queueStatus(ctx, s, &st.Queue); err != nil {
		return nil, err
	}
	if err := walStatus(ctx, s, &st.WAL); err != nil {
		return nil, err
	}
	st.WAL.RollbackAfter = b.walRollbackMinAge
	st.Sessions = b.sessions.status()
	st.Events = EventsStatus{Sent: b.events.sent.Load(), Dropped: b.events.dropped.Load(), Failed: b.events.failed.Load()}
	return st, nil
}

func (b *Engine) requestsStatus(ctx context.Context, s logical.Storage, rs *RequestsStatus) error {
	rs.ByRole, rs.ByRunAs = map[string]int{}, map[string]int{}
	keys, err := s.List(ctx, recordPrefix)
	if err != nil {
		return fmt.Errorf("listing held requests: %w", err)
	}
	pend, err := s.List(ctx, pendingPrefix)
	if err != nil {
		return fmt.Errorf("listing pending requests: %w", err)
	}
	pending := make(map[int]bool, len(pend))
	for _, k := range pend {
		if id, err := strconv.Atoi(k); err == nil {
			pending[id] = true
		}
	}
	for _, k := range keys {
		id, err := strconv.Atoi(k)
		if err != nil {
			continue
		}
		e, err := s.Get(ctx, recordKey(id))
		if err != nil {
			return fmt.Errorf("reading record of request %d: %w", id, err)
		}
		if e == nil {
			continue // ended meanwhile
		}
		var r record
		if err := json.Unmarshal(e.Value, &r); err != nil {
			return fmt.Errorf("decoding record of request %d: %w", id, err)
		}
		rs.Held++
		rs.ByRole[r.Role]++
		rs.ByRunAs[r.RunAs]++
		if r.Ended {
			rs.Ended++
		}
		if !r.ExpiresAt.IsZero() && (rs.NextExpiry.IsZero() || r.ExpiresAt.Before(rs.NextExpiry)) {
			rs.NextExpiry = r.ExpiresAt
		}
		holders := r.Count + len(r.Legacy)
		if pending[id] {
			hs, err := holdersOf(ctx, s, id)
			if err != nil {
				return err
			}
			holders = len(hs)
			anyPending := false
			for _, h := range hs {
				switch {
				case h.Pending && h.Orphan:
					rs.Orphans++
					holders--
					anyPending = true
				case h.Pending:
					rs.PendingClaims++
					holders--
					anyPending = true
				}
				if !h.Since.IsZero() && (rs.OldestSince.IsZero() || h.Since.Before(rs.OldestSince)) {
					rs.OldestSince = h.Since
				}
			}
			if anyPending {
				rs.Pending++
			}
		}
		rs.Leases += max(holders, 0)
	}
	return nil
}

func queueStatus(ctx context.Context, s logical.Storage, qs *QueueStatus) error {
	all, err := allQueued(ctx, s)
	if err != nil {
		return err
	}
	var newestErr time.Time
	for _, q := range all {
		qs.Count++
		if qs.OldestQueuedAt.IsZero() || q.QueuedAt.Before(qs.OldestQueuedAt) {
			qs.OldestQueuedAt, qs.OldestRequestID = q.QueuedAt, q.RequestID
		}
		if qs.NextTry.IsZero() || q.NextTry.Before(qs.NextTry) {
			qs.NextTry = q.NextTry
		}
		qs.MaxTries = max(qs.MaxTries, q.Tries)
		// The entry tried last has the latest NextTry among those with an error.
		if q.LastError != "" && !q.NextTry.Before(newestErr) {
			newestErr, qs.LastError = q.NextTry, q.LastError
		}
	}
	return nil
}

func walStatus(ctx context.Context, s logical.Storage, ws *WALStatus) error {
	ids, err := framework.ListWAL(ctx, s)
	if err != nil {
		return fmt.Errorf("listing WAL entries: %w", err)
	}
	for _, id := range ids {
		e, err := framework.GetWAL(ctx, s, id)
		if err != nil {
			return fmt.Errorf("reading WAL entry: %w", err)
		}
		if e == nil {
			continue
		}
		ws.Unfinished++
		if t := time.Unix(e.CreatedAt, 0); ws.Oldest.IsZero() || t.Before(ws.Oldest) {
			ws.Oldest = t
		}
	}
	return nil
}

// status describes the cached sessions: per run-as user, never a secret.
func (s *sessions) status() SessionsStatus {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := SessionsStatus{Cached: s.ll.Len(), Max: s.max, ByRunAs: map[string]int{}}
	for el := s.ll.Front(); el != nil; el = el.Next() {
		sess := el.Value.(*session)
		name := sess.key
		if name == "" {
			name = "(oauth)"
		}
		out.ByRunAs[strings.ToLower(name)]++
		if sess.c.SignedIn() {
			out.SignedIn++
		}
	}
	return out
}
