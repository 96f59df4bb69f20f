package backend

import (
	"context"
	"fmt"
	"net/http"
	"strings"
	"time"

	"github.com/hashicorp/vault/sdk/logical"
)

// minHandover is the least remaining life that makes a reused request worth
// handing out; see handoverThreshold.
const minHandover = 2 * time.Minute

// handoverThreshold is the least remaining life a reused request must have
// to be handed out as is. Why: Vault Agent renews a lease until renewals stop
// extending it, then reads a new credential BEFORE the old lease ends and
// without revoking it. With conflict_option=reuse that read meets the old,
// nearly expired request: handing it out again gives the Agent a lease of a
// few minutes, then another, ... and at the request's end the credential
// rotates under the Agent. So when the reused request has less than a full
// lease TTL (at most a third of a full checkout, at least 2 minutes) left,
// the checkout replaces it (renew) and the caller gets a fresh, full-length
// request. Tying the bound to the TTL keeps the replacement within the last
// TTL of the old request, when no lease on it could be renewed much longer
// anyway.
func handoverThreshold(lt Lifetime) time.Duration {
	t := lt.TTL
	if third := time.Duration(lt.DurationMinutes) * time.Minute / 3; third < t {
		t = third
	}
	if t < minHandover {
		t = minHandover
	}
	return t
}

// reused handles a 200 from POST Requests: the lease is capped by the
// request's real expiry (GET Requests), rotation on check-in is ensured when
// the role wants it, and a nearly expired request is replaced (hand-over).
func (co *checkout) reused(ctx context.Context) error {
	b := co.b
	// A request this mount made, joined while others hold it, has its
	// expiry on record: the one a GET Requests gave, or, for a request just
	// created, one never later than the real one (see hold). That is all the
	// lease needs unless a hand-over may be due (near the end, with few
	// holders), so an Agent fleet's reads cost no GET Requests each. The
	// record says this mount made it, so its Reason needs no reading.
	if left := co.known.Sub(b.now()); !co.known.IsZero() && left >= max(b.successorWait, time.Second) && (co.others > maxHandoverHolders || left >= handoverThreshold(co.lt)) {
		co.expiresAt = co.known
		co.seen = true
		return co.ensureRotation(ctx)
	}
	r, exp, err := b.activeExpiry(ctx, co.s, co.gen, co.cl, co.id, co.own)
	// A POST retried after an attempt whose answer was lost is handed back
	// the request that attempt made (200): its Reason carries our tag. Once
	// the request was found its Reason was read, even if its expiry then
	// could not be told: a failed checkout need not keep its WAL entry.
	if r.RequestID == co.id {
		co.seen, co.ours = true, !co.created && strings.Contains(r.Reason, co.w.Tag)
	}
	if err != nil {
		return err
	}
	co.expiresAt = exp
	ours := co.ours
	if exp.After(co.latest) || ours {
		co.setRecord(ctx, co.id, func(rec *record) {
			rec.extend(exp)
			rec.Created = rec.Created || ours
		})
	}
	left := exp.Sub(b.now())
	if co.role.ConflictOption == ConflictReuse && left < handoverThreshold(co.lt) && co.others > 0 && co.others <= maxHandoverHolders {
		ok, err := co.handover(ctx)
		if err != nil || ok {
			return err
		}
	}
	return co.ensureRotation(ctx)
}

// ensureRotation turns rotation on check-in on for a reused request when
// the role wants it and the record does not say it is on.
func (co *checkout) ensureRotation(ctx context.Context) error {
	b := co.b
	if co.role.RotateOnCheckin && !co.rotates {
		if err := co.cl.RotateOnCheckin(ctx, co.id); err != nil {
			b.Logger().Warn("could not ensure rotation on check-in of a reused request", "request_id", co.id, "error", err)
			co.warnings = append(co.warnings, fmt.Sprintf(
				"request %d was reused; Password Safe refused to turn on rotation at check-in for it: %v", co.id, err))
		} else {
			co.setRecord(ctx, co.id, func(r *record) { r.Rotates = true })
		}
	}
	return nil
}

// Agent fleets. Many callers (Agents, each with its own token) share one
// reuse request; none of them may cut it short (a hand-over is for a
// caller's own leases only), so all their leases end with it, and a read in
// its last seconds used to be handed a lease of a second or two, or fail
// once less than a second was left (the lease cannot be zero). Instead such
// a read lets go of the old request, waits for it to end, and checks out
// its successor: the first waiter creates it, the others share it, and
// every caller's next credential comes right after the old one ends. The
// wait is short (Vault Agent's and the Vault CLI's HTTP timeouts are a
// minute or more) and bounded: after maxSuccessorAttempts the checkout
// hands out what Password Safe gives, as before.
const (
	defaultSuccessorWait = 10 * time.Second
	// successorSlack is how long after the old request's expiry the
	// successor is asked for: Password Safe ends a request at its expiry on
	// its own clock, which may be a little behind ours (a retry follows).
	successorSlack       = 250 * time.Millisecond
	maxSuccessorAttempts = 8
)

// successorSoon is run's answer when the reused request ends within the
// successor wait: Checkout waits until at, then checks out again.
type successorSoon struct{ at time.Time }

func (s *successorSoon) Error() string {
	return "the shared request ends at " + s.at.UTC().Format(time.RFC3339) + "; waiting for its successor"
}

// endsSoon reports whether this checkout should wait out the reused
// request it was handed rather than hand it out (see successorSoon).
func (co *checkout) endsSoon(ctx context.Context) bool {
	b := co.b
	if !co.mayWait || b.successorWait <= 0 || co.role.ConflictOption != ConflictReuse || co.created {
		return false
	}
	left := co.expiresAt.Sub(b.now())
	if left >= b.successorWait {
		return false
	}
	// Only when the caller would still be answered in time.
	if dl, ok := ctx.Deadline(); ok && time.Until(dl) < left+5*time.Second {
		return false
	}
	return true
}

// sleepCtx sleeps for d or until ctx is done.
func sleepCtx(ctx context.Context, d time.Duration) error {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-t.C:
		return nil
	}
}

// othersAreCaller reports whether every other holder of the reused request
// is a live lease of the caller's own entity or token (an Agent's previous
// lease): only then may a hand-over end the old request early. A request
// with many holders is shared, not an Agent's: no hand-over. The caller
// holds the request's lock.
func (co *checkout) othersAreCaller(ctx context.Context) (bool, error) {
	rec, err := getRecord(ctx, co.s, co.id)
	if err != nil || rec == nil || rec.Count <= 1 || rec.Count > maxHandoverHolders+1 {
		return false, err
	}
	hs, err := holdersOf(ctx, co.s, co.id)
	if err != nil {
		return false, err
	}
	others := 0
	for hid, h := range hs {
		if hid == co.w.ID {
			continue
		}
		others++
		if h.Pending || !h.sameCaller(co.req) {
			return false, nil
		}
	}
	return others > 0, nil
}

// maxHandoverHolders: an Agent overlaps at most a couple of its own leases.
const maxHandoverHolders = 4

// handover replaces the nearly expired reused request by a new one (POST
// with conflict_option=renew, which ends the old one upstream). It is a
// checkout of its own with its own WAL entry. The old request's record is
// marked Ended, so the old lease's revoke later needs no upstream call.
// ok=false with no error means the replacement was refused and the reused
// request is handed out as is.
func (co *checkout) handover(ctx context.Context) (bool, error) {
	b := co.b
	old := co.w
	oldID := co.id
	// The old request's lock is held from the look at its holders until it
	// is marked ended: a reuse checkout that joins it meanwhile waits, then
	// finds it replaced (see hold), so the renew never ends a request that
	// another caller was just given.
	lock := b.lockRequest(oldID)
	lock.Lock()
	locked := true
	unlock := func() {
		if locked {
			lock.Unlock()
			locked = false
		}
	}
	defer unlock()
	if mine, err := co.othersAreCaller(ctx); err != nil || !mine {
		return false, err
	}
	co.w = co.newWAL(ConflictRenew)
	if err := putWAL(ctx, co.s, &co.w); err != nil {
		co.w = old
		return false, err
	}
	id, created, err := co.post(ctx, ConflictRenew)
	if err == nil && id != oldID {
		rec, rerr := getRecord(ctx, co.s, oldID)
		if rerr == nil && rec != nil {
			rec.Ended = true
			rerr = putRecord(ctx, co.s, rec)
		}
		if rerr != nil {
			b.Logger().Warn("could not mark a replaced request as ended", "request_id", oldID, "error", rerr)
		}
	}
	unlock()
	if err != nil {
		if Definite(err) {
			if derr := deleteWAL(ctx, co.s, &co.w); derr != nil {
				b.Logger().Warn("could not delete WAL entry of a refused request", "error", derr)
			}
			co.w = old
			co.warnings = append(co.warnings, fmt.Sprintf(
				"request %d ends soon and could not be replaced (%v); the lease ends with it", oldID, err))
			return false, nil
		}
		// The renew may or may not have happened: its WAL entry stays for
		// rollback (which recognises its tag); let go of the old request.
		b.Logger().Warn("the outcome of the hand-over POST Requests is unknown; WAL rollback will check in anything it created",
			"role", co.role.Name, "error", err)
		newW := co.w
		co.w = old
		co.release(ctx)
		co.w = newW
		co.id = 0 // nothing else to release: newW stays for rollback
		return false, err
	}
	// What was seen of the old request's Reason says nothing of the new one.
	co.id, co.created, co.seen, co.ours = id, created, false, false
	if err := co.hold(ctx, id, created); err != nil {
		return false, err
	}
	// Let go of the old request: the renew has ended it upstream.
	if err := b.release(ctx, co.s, oldID, old.ID, "vault: replaced by a new request (hand-over)", releaseOpts{}); err != nil {
		b.Logger().Warn("could not update the record of a replaced request", "request_id", oldID, "error", err)
	} else if derr := deleteWAL(ctx, co.s, &old); derr != nil {
		b.Logger().Warn("could not delete WAL entry of a replaced request", "error", derr)
	}
	b.Logger().Info("replaced an expiring reused request (Agent hand-over)", "old_request_id", oldID, "request_id", id)
	if !created {
		// Password Safe reused something else after all: cap by its expiry.
		r, exp, err := b.activeExpiry(ctx, co.s, co.gen, co.cl, id, co.own)
		if r.RequestID == id {
			co.seen, co.ours = true, strings.Contains(r.Reason, co.w.Tag)
		}
		if err != nil {
			return false, err
		}
		co.expiresAt = exp
	}
	return true, nil
}

// setRecord applies f to the record of id under its lock (best effort).
func (co *checkout) setRecord(ctx context.Context, id int, f func(*record)) {
	lock := co.b.lockRequest(id)
	lock.Lock()
	defer lock.Unlock()
	rec, err := getRecord(ctx, co.s, id)
	if err == nil && rec != nil {
		f(rec)
		err = putRecord(ctx, co.s, rec)
	}
	if err != nil {
		co.b.Logger().Warn("could not update the record of a request", "request_id", id, "error", err)
	}
}

// guardRenew keeps a conflict_option=renew checkout from ending a request
// someone else holds: Password Safe's renew ends the run-as user's open
// requests on the account, whoever made them. Only a request of this mount
// held solely by the caller's own leases (or by nobody) may be replaced; a
// request made outside this mount, or held by another caller, is a 409.
func (co *checkout) guardRenew(ctx context.Context) error {
	reqs, err := co.cl.ListRequests(ctx, "all", "")
	if err != nil {
		return upstream("look up the open requests a renew would replace", err)
	}
	for _, r := range reqs {
		if r.SystemID != co.role.SystemID || r.AccountID != co.role.AccountID {
			continue
		}
		lock := co.b.lockRequest(r.RequestID)
		lock.Lock()
		rec, err := getRecord(ctx, co.s, r.RequestID)
		var hs map[string]*holder
		if err == nil && rec != nil && rec.Count <= maxHandoverHolders {
			hs, err = holdersOf(ctx, co.s, r.RequestID)
		}
		lock.Unlock()
		if err != nil {
			return err
		}
		mine := rec != nil && rec.Count <= maxHandoverHolders
		for _, h := range hs {
			mine = mine && !h.Pending && h.sameCaller(co.req)
		}
		if !mine {
			who := "was not made through this mount (a person, or another Vault, using the same run-as user)"
			if rec != nil {
				who = "is held by another caller's lease or pending claim"
			}
			return logical.CodedError(http.StatusConflict, fmt.Sprintf(
				"role %q has conflict_option=renew, which would end the open Password Safe request %d for %s/%s; that request %s, "+
					"and the engine never ends a request under its holder. Wait until it ends, or revoke its lease",
				co.role.Name, r.RequestID, co.role.SystemName, co.role.AccountName, who))
		}
	}
	return nil
}

// conflict describes a 409 to POST Requests. It looks (best effort, one
// GET Requests) for the run-as user's open request on the account and, when
// a lease of this mount holds it, names that lease's role.
func (co *checkout) conflict(ctx context.Context) *ConflictError {
	role := co.role
	e := &ConflictError{Role: role.Name, SystemName: role.SystemName, AccountName: role.AccountName,
		RunAs: co.runAs, ConflictOption: role.ConflictOption}
	lctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	if reqs, err := co.cl.ListRequests(lctx, "all", ""); err == nil {
		for _, r := range reqs {
			if r.SystemID != role.SystemID || r.AccountID != role.AccountID {
				continue
			}
			e.OpenRequestID, e.OpenStatus = r.RequestID, strings.ToLower(r.Status)
			lock := co.b.lockRequest(r.RequestID)
			lock.Lock()
			if rec, err := getRecord(ctx, co.s, r.RequestID); err == nil && rec != nil && rec.Role != "" {
				e.HeldByRole = rec.Role
			} else if q, err := getQueued(ctx, co.s, r.RequestID); err == nil && q != nil {
				// Revoked while Password Safe did not take the check-in: the
				// request is the mount's, not someone else's, and the queue
				// ends it.
				e.QueuedByRole = q.Role
			}
			lock.Unlock()
			break
		}
	}
	return e
}
