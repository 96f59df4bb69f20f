package backend

import (
	"context"
	"errors"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/hashicorp/vault/sdk/helper/consts"
	"github.com/hashicorp/vault/sdk/logical"

	"github.com/vault-passwordsafe/vault-plugin-secrets-passwordsafe/client"
)

// sweepGrace is how long past its expiry a record may stay before the sweep
// forgets it (Vault's own revocation normally removes it first).
const sweepGrace = time.Hour

// Periodic runs on Vault's rollback tick (about once a minute): it retries
// queued check-ins, reconciles requests recorded as pending and, now and
// then, sweeps records of requests that have long expired. It runs where
// the mount's local state is writable: not on a performance standby (the
// active node does it) nor a DR secondary.
func (b *Engine) Periodic(ctx context.Context, s logical.Storage) error {
	if sys := b.System(); sys != nil {
		st := sys.ReplicationState()
		if st.HasState(consts.ReplicationPerformanceStandby) || st.HasState(consts.ReplicationDRSecondary) {
			return nil
		}
	}
	err := b.drainQueue(ctx, s)
	err = errors.Join(err, b.reconcilePending(ctx, s))
	b.sweepMu.Lock()
	due := b.now().Sub(b.lastSweep) >= b.sweepEvery
	if due {
		b.lastSweep = b.now()
	}
	b.sweepMu.Unlock()
	if due {
		err = errors.Join(err, b.sweep(ctx, s))
	}
	return err
}

// reconcilePending looks at every request recorded as pending, with one
// GET Requests per run-as user: holds on ended ones (denied, expired,
// checked in) are forgotten; approved ones nobody claimed within
// pendingClaimWindow of their approval (or at once, for orphans) are
// released, which checks the request in when it was the last hold and this
// mount created it; still pending ones are left alone.
func (b *Engine) reconcilePending(ctx context.Context, s logical.Storage) error {
	keys, err := s.List(ctx, pendingPrefix)
	if err != nil {
		return err
	}
	byRunAs := map[string][]int{}
	madeBy := map[int]made{} // when this mount made them (see zone.go)
	for _, k := range keys {
		id, err := strconv.Atoi(strings.TrimSuffix(k, "/"))
		if err != nil {
			continue
		}
		lock := b.lockRequest(id)
		lock.Lock()
		rec, err := getRecord(ctx, s, id)
		lock.Unlock()
		if err != nil {
			return err
		}
		if rec == nil {
			_ = s.Delete(ctx, pendingPrefix+k)
			continue
		}
		byRunAs[rec.RunAs] = append(byRunAs[rec.RunAs], id)
		madeBy[id] = rec.made()
	}
	runAses := make([]string, 0, len(byRunAs))
	for r := range byRunAs {
		runAses = append(runAses, r)
	}
	sort.Strings(runAses)
	var errs []error
	for _, runAs := range runAses {
		ids := byRunAs[runAs]
		gen := b.sessions.generation()
		cl, err := b.Client(ctx, s, runAs)
		if err != nil {
			errs = append(errs, err)
			continue
		}
		list, err := cl.ListRequests(ctx, "all", "")
		if err != nil {
			errs = append(errs, err)
			continue
		}
		upstream := make(map[int]client.Request, len(list))
		for _, r := range list {
			upstream[r.RequestID] = r
		}
		zone := b.serverZone(ctx, s, gen, list, madeBy)
		for _, id := range ids {
			r, found := upstream[id]
			if err := b.reconcileOne(ctx, s, id, r, found, zone); err != nil {
				errs = append(errs, err)
			}
		}
	}
	return errors.Join(errs...)
}

// reconcileOne settles the pending holds of request id (r, when found in
// GET Requests, whose dates without a zone are read with zone).
func (b *Engine) reconcileOne(ctx context.Context, s logical.Storage, id int, r client.Request, found bool, zone zoneGuess) error {
	lock := b.lockRequest(id)
	lock.Lock()
	hs, err := holdersOf(ctx, s, id)
	if err == nil && len(hs) == 0 {
		// Nobody holds it: a release that a crash cut short. Finish it.
		var rec *record
		switch rec, err = getRecord(ctx, s, id); {
		case err != nil || rec == nil:
		case rec.Created:
			err = b.endIfUnheld(ctx, s, rec, "vault: finishing an interrupted release")
		default:
			err = deleteRecord(ctx, s, id) // joined, not ours to end
		}
	}
	lock.Unlock()
	if err != nil {
		return err
	}
	now := b.now()
	var expired []string
	orphan := map[string]bool{}
	pending := 0
	for k, h := range hs {
		if !h.Pending {
			continue
		}
		pending++
		switch {
		case !found:
			expired = append(expired, k) // ended upstream: forget
		case isPendingStatus(r.Status):
			// still waiting for an approver
		default:
			since := h.Since
			if r.ApprovedDate != nil {
				// A date without a zone is taken as the latest it may
				// stand for (no later than now: it is approved), so the
				// window never closes early on the claimant: an hour
				// late at most with a learned offset (a daylight saving
				// change since may have moved it), not before the offset
				// is learned while it is unknown; the request ends at
				// its expiry anyway.
				since = zone.latest(r, *r.ApprovedDate, now)
			}
			if h.Orphan || now.Sub(since) >= b.pendingClaimWindow {
				expired = append(expired, k)
				orphan[k] = h.Orphan
			}
		}
	}
	sort.Strings(expired)
	if !found {
		b.markEnded(ctx, s, id)
	}
	for _, k := range expired {
		// An orphan is the engine's own unfinished checkout: end it. An
		// unclaimed hold on a request someone else made leaves it to them.
		// A hold whose tag the request's Reason carries is on what the
		// holder's own checkout made (a retried POST handed back the
		// request of its lost attempt), whatever the record says: end it.
		tag := tagOf(k)
		own := orphan[k] || (found && tag != "" && strings.Contains(r.Reason, tag))
		if err := b.release(ctx, s, id, k, "vault: approved request was never claimed",
			releaseOpts{createdOnly: !own, onlyPending: true}); err != nil {
			return err
		}
	}
	if pending != len(expired) {
		return nil
	}
	// Drop the marker only if no pending holder is left now (ending the
	// request above may have recorded a new orphan).
	lock.Lock()
	defer lock.Unlock()
	hs, err = holdersOf(ctx, s, id)
	if err != nil {
		return err
	}
	for _, h := range hs {
		if h.Pending {
			return nil
		}
	}
	return s.Delete(ctx, pendingKey(id))
}

// sweep forgets records of requests that expired more than sweepGrace ago
// and hold no pending claim: Password Safe has ended them, and a lease on
// them (if Vault still has one) revokes as "already ended".
func (b *Engine) sweep(ctx context.Context, s logical.Storage) error {
	keys, err := s.List(ctx, recordPrefix)
	if err != nil {
		return err
	}
	cutoff := b.now().Add(-sweepGrace)
	for _, k := range keys {
		id, err := strconv.Atoi(k)
		if err != nil {
			continue
		}
		if err := b.sweepOne(ctx, s, id, cutoff); err != nil {
			return err
		}
	}
	return nil
}

func (b *Engine) sweepOne(ctx context.Context, s logical.Storage, id int, cutoff time.Time) error {
	lock := b.lockRequest(id)
	lock.Lock()
	defer lock.Unlock()
	rec, err := getRecord(ctx, s, id)
	if err != nil || rec == nil || rec.until().IsZero() || !rec.until().Before(cutoff) {
		return err
	}
	if e, err := s.Get(ctx, pendingKey(id)); err != nil || e != nil {
		return err // a pending claim: reconcilePending decides
	}
	keys, err := listHolders(ctx, s, id)
	if err != nil {
		return err
	}
	for _, k := range keys {
		if err := s.Delete(ctx, holderKey(id, k)); err != nil {
			return err
		}
	}
	return deleteRecord(ctx, s, id)
}
