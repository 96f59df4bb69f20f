package backend

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"time"

	"github.com/hashicorp/vault/sdk/framework"
	"github.com/hashicorp/vault/sdk/logical"

	"github.com/vault-passwordsafe/vault-plugin-secrets-passwordsafe/client"
)

// walKindRequest is the WAL kind of a checkout in progress.
const walKindRequest = "passwordsafe-request"

// rollbackSlack widens the search window of a WAL entry whose request ID
// never arrived, for clock skew between Vault and Password Safe.
const rollbackSlack = 2 * time.Minute

// A date Password Safe writes without a zone may be the server's local
// time. Every zone in use is a whole number of quarter hours from UTC
// (+05:45, +12:45) and none is more than 14 hours away.
const (
	zoneStep      = 15 * time.Minute
	maxZoneOffset = 14 * time.Hour
)

// zoneOffsets are the offsets from UTC a request's dates may carry that put
// its release date within [from, until] (until zero: no upper bound), least
// first: only 0 for dates with a zone, any quarter hour within ±14h for
// zone-less ones. None: it was not made in that window.
//
// Rollback widens its window this way, rather than narrow it with the
// offset the engine learns for expiries (zone.go), because the checkout's
// tag in the Reason is what proves a request is the mount's own; the window
// only keeps out requests made long after (a person re-using the tag). The
// learned offset may be missing (a mount recovering a lone crashed checkout
// after a restart has seen no request made) or stale (a daylight saving
// change since the last request the mount saw made), and a wrong one would
// leak the very request rollback exists to end. Dates with a zone keep the
// exact window.
func zoneOffsets(r client.Request, from, until time.Time) []time.Duration {
	t := r.RequestReleaseDate
	in := func(o time.Duration) bool {
		at := t.Add(-o)
		return !at.Before(from) && (until.IsZero() || !at.After(until))
	}
	if !r.Zoneless {
		if in(0) {
			return []time.Duration{0}
		}
		return nil
	}
	var out []time.Duration
	for o := -maxZoneOffset; o <= maxZoneOffset; o += zoneStep {
		if in(o) {
			out = append(out, o)
		}
	}
	return out
}

// walRequest is written before POST Requests. Its ID is the holder ID in
// the request's record. Tag goes into the request's Reason, so recovery
// recognises the request this checkout created, and nothing else. RequestID
// is set only for a reused request (one whose Reason is not ours).
type walRequest struct {
	ID             string    `json:"id"`
	Tag            string    `json:"tag"`
	RunAs          string    `json:"run_as"`
	Role           string    `json:"role"`
	SystemID       int       `json:"system_id"`
	AccountID      int       `json:"account_id"`
	AliasID        int       `json:"alias_id,omitempty"`
	ConflictOption string    `json:"conflict_option,omitempty"`
	StartedAt      time.Time `json:"started_at"` // backend clock, before the POST
	// PostUntil bounds when the POST's attempts could have created a request.
	PostUntil time.Time `json:"post_until"`
	RequestID int       `json:"request_id,omitempty"`
	walID     string    // the entry's storage ID (framework.PutWAL's)
}

// putWAL writes w as a new WAL entry (framework.PutWAL, so the framework's
// rollback finds it). A new checkout's entry gets its holder ID and, from
// it, its recovery tag: what the checkout appends to its request's Reason,
// short (Password Safe keeps 1000 characters) and unique to the checkout.
func putWAL(ctx context.Context, s logical.Storage, w *walRequest) error {
	if w.ID == "" {
		id, err := newID()
		if err != nil {
			return err
		}
		w.ID, w.Tag = id, tagOf(id)
	}
	walID, err := framework.PutWAL(ctx, s, walKindRequest, w)
	if err != nil {
		return fmt.Errorf("writing WAL entry: %w", err)
	}
	w.walID = walID
	return nil
}

// tagOf is the recovery tag of the checkout whose WAL entry (and holder)
// ID is id.
func tagOf(id string) string {
	if len(id) < 16 {
		return ""
	}
	return "[vault:" + id[:16] + "]"
}

// replaceWAL writes w anew (now with its request ID) and deletes its old
// entry: the framework's WAL is append-only. The holder ID and tag stay.
func replaceWAL(ctx context.Context, s logical.Storage, w *walRequest) error {
	old := *w
	if err := putWAL(ctx, s, w); err != nil {
		return err
	}
	return deleteWAL(ctx, s, &old)
}

func deleteWAL(ctx context.Context, s logical.Storage, w *walRequest) error {
	if err := framework.DeleteWAL(ctx, s, w.walID); err != nil {
		return fmt.Errorf("deleting WAL entry: %w", err)
	}
	return nil
}

// decodeWAL decodes an entry's data, which the framework hands over as
// decoded JSON.
func decodeWAL(data interface{}) (*walRequest, error) {
	raw, err := json.Marshal(data)
	if err != nil {
		return nil, err
	}
	w := new(walRequest)
	if err := json.Unmarshal(raw, w); err != nil {
		return nil, err
	}
	return w, nil
}

// Rollback finishes a checkout that never handed out its lease (crash,
// timeout, storage failure). Returning nil lets the framework delete the
// entry; an error keeps it for the next rollback. It ends only what the
// checkout provably created: a request whose Reason carries the entry's
// tag, or (a reused request) the checkout's own hold on it.
func (b *Engine) Rollback(ctx context.Context, s logical.Storage, kind string, data interface{}) error {
	if kind != walKindRequest {
		b.Logger().Warn("dropping WAL entry of unknown kind", "kind", kind)
		return nil
	}
	w, err := decodeWAL(data)
	if err != nil {
		b.Logger().Error("dropping undecodable WAL entry", "error", err)
		return nil
	}
	const reason = "vault: rolling back an unfinished checkout"
	if w.RequestID != 0 {
		// Joined a request (POST answered 200): let go of our hold.
		return b.rollbackHold(ctx, s, w, reason)
	}
	if w.Tag == "" {
		// Written by a version without tags: nothing proves what it made.
		b.Logger().Warn("dropping a WAL entry without a recovery tag; its request, if any, ends at its expiry",
			"role", w.Role, "account_id", w.AccountID)
		return nil
	}
	cl, err := b.Client(ctx, s, w.RunAs)
	if err != nil {
		return err
	}
	reqs, err := cl.ListRequests(ctx, "all", "")
	if err != nil {
		return fmt.Errorf("listing requests of %q to roll back a checkout: %w", w.RunAs, err)
	}
	from, until := w.StartedAt.Add(-rollbackSlack), time.Time{}
	if !w.PostUntil.IsZero() {
		until = w.PostUntil.Add(rollbackSlack)
	}
	for _, r := range reqs {
		if !w.mayHaveMade(r) || !strings.Contains(r.Reason, w.Tag) {
			continue
		}
		offs := anyZone(r)
		if r.RequestReleaseDate != nil {
			if offs = zoneOffsets(r, from, until); len(offs) == 0 {
				continue
			}
		}
		if err := b.rollbackFound(ctx, s, w, r, offs, reason); err != nil {
			return err
		}
	}
	return nil
}

// mayHaveMade says whether r is of the checkout's target. A checkout
// through an alias made a request of whichever account the alias mapped to
// then, which may not be the role's (the alias was re-pointed since).
func (w *walRequest) mayHaveMade(r client.Request) bool {
	if w.AliasID != 0 && r.AliasID == w.AliasID {
		return true
	}
	return r.SystemID == w.SystemID && r.AccountID == w.AccountID
}

// rollbackHold drops the checkout's hold on a request it joined (POST
// answered 200); pending holds are the periodic func's. The request is
// ended only if this mount created it: its record says so, or its Reason
// carries this entry's tag (an earlier attempt of the same retried POST
// created it, and the retry was handed it back).
func (b *Engine) rollbackHold(ctx context.Context, s logical.Storage, w *walRequest, reason string) error {
	id := w.RequestID
	lock := b.lockRequest(id)
	lock.Lock()
	h, err := getHolder(ctx, s, id, w.ID)
	var rec *record
	if err == nil {
		rec, err = getRecord(ctx, s, id)
	}
	if err == nil && h != nil && h.Pending {
		err = markPendingIndex(ctx, s, id) // the periodic func owns it
	}
	lock.Unlock()
	if err != nil || (h != nil && h.Pending) {
		return err
	}
	if (rec == nil || !rec.Created) && w.Tag != "" {
		cl, err := b.Client(ctx, s, w.RunAs)
		if err != nil {
			return err
		}
		r, found, err := findRequest(ctx, cl, id)
		if err != nil {
			return fmt.Errorf("looking up request %d to roll back a checkout: %w", id, err)
		}
		if found && strings.Contains(r.Reason, w.Tag) {
			return b.rollbackFound(ctx, s, w, r, anyZone(r), reason)
		}
	}
	return b.release(ctx, s, id, w.ID, reason, releaseOpts{createdOnly: true})
}

// anyZone is every offset r's dates may carry (see zoneOffsets).
func anyZone(r client.Request) []time.Duration {
	if !r.Zoneless {
		return []time.Duration{0}
	}
	return []time.Duration{-maxZoneOffset, maxZoneOffset}
}

// rollbackFound ends the checkout's hold on request r, which carries its
// tag: this checkout created it. If the record shows others hold it (reuse
// checkouts joined it), they end it; if nothing recorded it, it is checked
// in, or, while it waits for approval, kept as an orphan. offs are the zone
// offsets r's dates may carry, least first.
func (b *Engine) rollbackFound(ctx context.Context, s logical.Storage, w *walRequest, r client.Request, offs []time.Duration, reason string) error {
	lock := b.lockRequest(r.RequestID)
	lock.Lock()
	rec, err := getRecord(ctx, s, r.RequestID)
	var h *holder
	if err == nil && rec != nil {
		h, err = getHolder(ctx, s, r.RequestID, w.ID)
	}
	if err != nil {
		lock.Unlock()
		return err
	}
	if rec != nil {
		if h != nil && h.Pending {
			// Recorded as pending: the periodic func owns it now (the
			// marker it walks may be what the crash cut short).
			defer lock.Unlock()
			return markPendingIndex(ctx, s, r.RequestID)
		}
		if !rec.Created {
			// The tag proves this mount created it, whatever a reuse checkout
			// that recorded it first believed.
			rec.Created = true
			if err := putRecord(ctx, s, rec); err != nil {
				lock.Unlock()
				return err
			}
		}
		lock.Unlock()
		return b.release(ctx, s, r.RequestID, w.ID, reason, releaseOpts{})
	}
	defer lock.Unlock()
	// A crash between writing this checkout's holder key and its record
	// leaves the key alone: it is this entry's, and goes with it.
	if err := s.Delete(ctx, holderKey(r.RequestID, w.ID)); err != nil {
		return fmt.Errorf("deleting a holder of request %d: %w", r.RequestID, err)
	}
	rec = &record{
		RequestID: r.RequestID, RunAs: w.RunAs, Role: w.Role,
		SystemID: r.SystemID, AccountID: r.AccountID, AliasID: r.AliasID, AccountKnown: true, Created: true,
		SystemName: r.SystemName, AccountName: r.AccountName, DomainName: r.DomainName,
	}
	if r.ExpiresDate != nil {
		// The earliest and latest it may end, whichever zone its dates are
		// in: the queue and the sweep keep it until the latest.
		rec.ExpiresAt, rec.Latest = r.ExpiresDate.Add(-offs[len(offs)-1]), r.ExpiresDate.Add(-offs[0])
		if isPendingStatus(r.Status) && r.RequestReleaseDate != nil {
			// Approval may come up to the end of the window, then it runs
			// for its duration.
			rec.Latest = rec.Latest.Add(r.ExpiresDate.Sub(*r.RequestReleaseDate))
		}
	}
	if isPendingStatus(r.Status) {
		if err := putRecord(ctx, s, rec); err != nil {
			return err
		}
		return b.keepOrphan(ctx, s, rec)
	}
	b.Logger().Info("checking in a request whose checkout never finished", "request_id", r.RequestID, "run_as", w.RunAs)
	return b.endRequest(ctx, s, rec, reason)
}
