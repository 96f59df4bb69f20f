package backend

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"sort"
	"strconv"
	"time"

	"github.com/hashicorp/vault/sdk/logical"

	"github.com/vault-passwordsafe/vault-plugin-secrets-passwordsafe/client"
)

// Ending requests. One path serves revoke, a failed checkout's clean-up,
// WAL rollback and the periodic reconciliation: release drops one holder,
// and when it was the last, endRequest checks the request in. A request
// Password Safe has not approved yet cannot be checked in: it stays
// recorded with an orphan pending holder until it is approved (then checked
// in), denied or expired. A check-in Password Safe does not take (it is
// down, or answers an error) goes to the check-in queue, which the periodic
// function retries until Password Safe answers or the request expires; so
// Vault never has to give up a revoke because Password Safe was down.

// releaseOpts say what a release may do.
type releaseOpts struct {
	// createdOnly: end the request only if this mount created it (recovery,
	// and checkouts that fail before handing out a lease); a request it only
	// joined stays its maker's. Revokes end what they held.
	createdOnly bool
	// onlyPending: let go of the holder only if it is still a pending claim
	// (the periodic func; a claim may have turned it into a lease).
	onlyPending bool
	// fallback is the record to end when none is stored (a checkout whose
	// hold was never written).
	fallback *record
}

// release drops holder hid of request id and ends the request when nobody
// holds it any more (see releaseOpts).
func (b *Engine) release(ctx context.Context, s logical.Storage, id int, hid, reason string, o releaseOpts) error {
	lock := b.lockRequest(id)
	lock.Lock()
	defer lock.Unlock()
	rec, err := getRecord(ctx, s, id)
	if err != nil {
		return err
	}
	if rec == nil {
		// No record: the request ended (or was queued for check-in) already;
		// a key left by a crash between the holder's and the record's
		// writes goes too.
		if err := s.Delete(ctx, holderKey(id, hid)); err != nil {
			return fmt.Errorf("deleting a holder of request %d: %w", id, err)
		}
		if o.fallback == nil {
			return nil
		}
		rec = o.fallback
	}
	h, err := getHolder(ctx, s, id, hid)
	if err != nil {
		return err
	}
	if o.onlyPending && (h == nil || !h.Pending) {
		return nil
	}
	if h != nil {
		if err := removeHolder(ctx, s, rec, hid); err != nil {
			return err
		}
	}
	if o.createdOnly && !rec.Created {
		// The request was its maker's before this mount joined it, and
		// stays theirs.
		if free, err := unheld(ctx, s, rec); err != nil || !free {
			return err
		}
		b.Logger().Debug("forgetting a request this mount joined but did not create", "request_id", id)
		return deleteRecord(ctx, s, id)
	}
	return b.endIfUnheld(ctx, s, rec, reason)
}

// endIfUnheld ends rec's request when nobody holds it (under its lock).
func (b *Engine) endIfUnheld(ctx context.Context, s logical.Storage, rec *record, reason string) error {
	free, err := unheld(ctx, s, rec)
	if err != nil || !free {
		return err
	}
	if rec.Ended {
		b.Logger().Debug("forgetting a request that has ended", "request_id", rec.RequestID)
		return deleteRecord(ctx, s, rec.RequestID)
	}
	return b.endRequest(ctx, s, rec, reason)
}

// endRequest checks rec's request in (under its lock), then forgets it. See
// the top of this file for what happens when Password Safe does not take it.
// The queue entry is written first, as the durable intent to end the
// request: a crash at any point after leaves it to the periodic func.
func (b *Engine) endRequest(ctx context.Context, s logical.Storage, rec *record, reason string) error {
	now := b.now()
	q := &queued{RequestID: rec.RequestID, RunAs: rec.RunAs, Role: rec.Role, Created: rec.Created, Reason: reason,
		AccountID: rec.AccountID, AliasID: rec.AliasID, AccountKnown: rec.AccountKnown,
		Until: rec.until(), QueuedAt: now, NextTry: now.Add(queueDelay(0))}
	if err := putQueued(ctx, s, q); err != nil {
		return err
	}
	err := b.checkin(ctx, s, rec.RunAs, rec.RequestID, reason)
	switch {
	case err == nil, client.IsNotFound(err):
		if err := deleteRecord(ctx, s, rec.RequestID); err != nil {
			return err
		}
		b.emit(ctx, eventCheckin, "request_id", strconv.Itoa(rec.RequestID), "role", rec.Role)
		return s.Delete(ctx, queueKey(rec.RequestID))
	case client.IsNotApproved(err):
		if err := b.keepOrphan(ctx, s, rec); err != nil {
			return err
		}
		return s.Delete(ctx, queueKey(rec.RequestID))
	}
	q.LastError = err.Error()
	if qerr := putQueued(ctx, s, q); qerr != nil {
		return errors.Join(err, qerr)
	}
	b.Logger().Warn("Password Safe did not take a check-in; queued, the engine retries it until Password Safe answers",
		"request_id", rec.RequestID, "run_as", rec.RunAs, "error", err)
	return deleteRecord(ctx, s, rec.RequestID)
}

// keepOrphan records a request that could not be ended because it is not
// approved yet: the periodic func checks it in once approved.
func (b *Engine) keepOrphan(ctx context.Context, s logical.Storage, rec *record) error {
	hid, err := newID()
	if err != nil {
		return err
	}
	// The marker first: a marker without a pending holder is harmless (the
	// periodic func drops it), a pending holder without one is never seen.
	if err := markPendingIndex(ctx, s, rec.RequestID); err != nil {
		return err
	}
	if err := addHolder(ctx, s, rec, hid, &holder{Since: b.now(), Pending: true, Orphan: true}); err != nil {
		return err
	}
	b.Logger().Info("request is waiting for approval and cannot be checked in yet; it will be once approved",
		"request_id", rec.RequestID, "run_as", rec.RunAs)
	return nil
}

// checkin checks request id in as runAs. nil and a 404 (already released
// or expired) mean it has ended; 4034 means it is still waiting for
// approval (not ended!); anything else is a failure.
func (b *Engine) checkin(ctx context.Context, s logical.Storage, runAs string, id int, reason string) error {
	cl, err := b.Client(ctx, s, runAs)
	if err != nil {
		return fmt.Errorf("checking in Password Safe request %d: %w", id, err)
	}
	err = cl.Checkin(ctx, id, CutReason(reason, MaxReasonLen))
	switch {
	case err == nil:
		b.Logger().Debug("checked in", "request_id", id, "run_as", runAs)
	case client.IsNotFound(err):
		b.Logger().Debug("request already ended upstream", "request_id", id)
	case client.IsNotApproved(err):
	default:
		b.Logger().Warn("check-in failed", "request_id", id, "error", err)
	}
	return err
}

// ---- the check-in queue ----

// queued is a check-in Password Safe has not taken yet.
type queued struct {
	RequestID int    `json:"request_id"`
	RunAs     string `json:"run_as"`
	Role      string `json:"role,omitempty"`
	Created   bool   `json:"created,omitempty"` // the record's Created
	// AccountID, AliasID, AccountKnown: the request's account, as in its
	// record, for a rotation of it (zero in entries written before they
	// were kept: any account).
	AccountID    int       `json:"account_id,omitempty"`
	AliasID      int       `json:"alias_id,omitempty"`
	AccountKnown bool      `json:"account_known,omitempty"`
	Reason       string    `json:"reason"`
	Until        time.Time `json:"until"` // the latest the request could be active; zero when unknown
	QueuedAt     time.Time `json:"queued_at"`
	Tries        int       `json:"tries"`
	NextTry      time.Time `json:"next_try"`
	LastError    string    `json:"last_error,omitempty"`
}

// Queue timing: a failed try waits queueBackoff, doubling per try up to
// queueBackoffCap. Vault runs the periodic func about once a minute, so a
// check-in lands within about two minutes of Password Safe coming back.
const (
	queueBackoff    = 15 * time.Second
	queueBackoffCap = time.Minute
	// queueExpiryGrace: past the request's own expiry (plus this), Password
	// Safe has ended it, and the entry is dropped.
	queueExpiryGrace = 10 * time.Minute
)

func queueDelay(tries int) time.Duration {
	d := queueBackoff << min(tries, 10)
	return min(d, queueBackoffCap)
}

// onAccount: like record.onAccount; an entry that does not say may be of
// any account.
func (q *queued) onAccount(id int) bool {
	return q.AccountID == 0 || q.AccountID == id || (q.AliasID != 0 && !q.AccountKnown)
}

func putQueued(ctx context.Context, s logical.Storage, q *queued) error {
	e, err := logical.StorageEntryJSON(queueKey(q.RequestID), q)
	if err != nil {
		return fmt.Errorf("encoding queued check-in of request %d: %w", q.RequestID, err)
	}
	if err := s.Put(ctx, e); err != nil {
		return fmt.Errorf("queueing the check-in of request %d: %w", q.RequestID, err)
	}
	return nil
}

func getQueued(ctx context.Context, s logical.Storage, id int) (*queued, error) {
	e, err := s.Get(ctx, queueKey(id))
	if err != nil || e == nil {
		return nil, err
	}
	q := new(queued)
	if err := json.Unmarshal(e.Value, q); err != nil {
		return nil, fmt.Errorf("decoding queued check-in of request %d: %w", id, err)
	}
	return q, nil
}

// drainQueue retries due check-ins, oldest request first. When Password
// Safe fails one whose outcome is unknown (it is down or unreachable), the
// pass stops: the rest wait for the next tick rather than pile up timeouts.
func (b *Engine) drainQueue(ctx context.Context, s logical.Storage) error {
	ids, err := queuedIDs(ctx, s)
	if err != nil {
		return err
	}
	var errs []error
	for _, id := range ids {
		down, err := b.retryQueued(ctx, s, id, false)
		if err != nil {
			errs = append(errs, err)
		}
		if down {
			break
		}
	}
	return errors.Join(errs...)
}

// queuedIDs lists the request IDs of the check-in queue, lowest first.
func queuedIDs(ctx context.Context, s logical.Storage) ([]int, error) {
	keys, err := s.List(ctx, queuePrefix)
	if err != nil {
		return nil, fmt.Errorf("listing queued check-ins: %w", err)
	}
	ids := make([]int, 0, len(keys))
	for _, k := range keys {
		if id, err := strconv.Atoi(k); err == nil {
			ids = append(ids, id)
		}
	}
	sort.Ints(ids)
	return ids, nil
}

// allQueued reads every entry of the check-in queue, lowest request first.
func allQueued(ctx context.Context, s logical.Storage) ([]*queued, error) {
	ids, err := queuedIDs(ctx, s)
	if err != nil {
		return nil, err
	}
	out := make([]*queued, 0, len(ids))
	for _, id := range ids {
		q, err := getQueued(ctx, s, id)
		if err != nil {
			return nil, err
		}
		if q != nil {
			out = append(out, q)
		}
	}
	return out, nil
}

// retryQueued tries one queued check-in when it is due (or, anyTime, at
// once). down: Password Safe looks down.
func (b *Engine) retryQueued(ctx context.Context, s logical.Storage, id int, anyTime bool) (down bool, _ error) {
	lock := b.lockRequest(id)
	lock.Lock()
	defer lock.Unlock()
	q, err := getQueued(ctx, s, id)
	if err != nil || q == nil {
		return false, err
	}
	now := b.now()
	if !anyTime && now.Before(q.NextTry) {
		return false, nil
	}
	// Held again (a reuse checkout got the same request back): its holders'
	// revokes end it. A record nobody holds is a leftover of the queueing.
	if rec, err := getRecord(ctx, s, id); err != nil {
		return false, err
	} else if rec != nil {
		free, err := unheld(ctx, s, rec)
		if err != nil {
			return false, err
		}
		if !free {
			return false, s.Delete(ctx, queueKey(id))
		}
		if err := deleteRecord(ctx, s, id); err != nil {
			return false, err
		}
	}
	if !q.Until.IsZero() && now.After(q.Until.Add(queueExpiryGrace)) {
		b.Logger().Warn("dropping a queued check-in: the request has expired in Password Safe meanwhile",
			"request_id", id, "tries", q.Tries, "queued_at", q.QueuedAt)
		return false, s.Delete(ctx, queueKey(id))
	}
	cerr := b.checkin(ctx, s, q.RunAs, id, q.Reason)
	switch {
	case cerr == nil, client.IsNotFound(cerr):
		b.Logger().Info("queued check-in done", "request_id", id, "tries", q.Tries+1)
		b.emit(ctx, eventCheckin, "request_id", strconv.Itoa(id), "role", q.Role)
		return false, s.Delete(ctx, queueKey(id))
	case client.IsNotApproved(cerr):
		rec := &record{RequestID: id, RunAs: q.RunAs, Role: q.Role, Created: q.Created, Latest: q.Until,
			AccountID: q.AccountID, AliasID: q.AliasID, AccountKnown: q.AccountKnown}
		if err := b.keepOrphan(ctx, s, rec); err != nil {
			return false, err
		}
		return false, s.Delete(ctx, queueKey(id))
	}
	q.Tries++
	q.NextTry = now.Add(queueDelay(q.Tries))
	q.LastError = cerr.Error()
	if err := putQueued(ctx, s, q); err != nil {
		return false, err
	}
	// Unreachable, not signed in, or failing: the next entry would fare the
	// same. Only a refusal of this one request (4xx) lets the pass go on.
	code := client.StatusCode(cerr)
	down = code == 0 || code >= 500 || code == http.StatusUnauthorized || code == http.StatusRequestTimeout ||
		code == http.StatusTooManyRequests
	return down, nil
}
