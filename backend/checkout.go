package backend

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/hashicorp/vault/sdk/logical"

	"github.com/vault-passwordsafe/vault-plugin-secrets-passwordsafe/client"
)

// checkout is one creds read in progress. Its steps, in order:
//
//  1. WAL entry (no request ID yet), then POST Requests.
//  2. The request's record gets a holder keyed by the WAL entry's ID (for a
//     reused request the ID goes into the WAL entry first; see hold).
//  3. Reused (200): look up the real expiry (and maybe hand over, below).
//  4. GET Credentials (polling while approval is pending).
//  5. The lease is built, the WAL entry deleted, the lease handed out.
//
// Any failure after step 1 checks in what this checkout holds, unless
// others hold it too; if that check-in fails the WAL entry stays and
// WALRollback finishes the job.
type checkout struct {
	b     *Engine
	req   *logical.Request
	s     logical.Storage
	in    CheckoutInput
	role  *Role
	runAs string
	cl    *client.Client
	lt    Lifetime

	w         walRequest
	id        int
	created   bool
	expiresAt time.Time
	others    int  // how many others held the request when we joined
	rotates   bool // the record says rotation on check-in is ensured
	// seen: the Reason of the request the checkout joined (POST answered
	// 200) was read; ours: it carries the checkout's tag (a retried POST
	// was handed back what its own lost attempt made).
	seen, ours bool
	warnings   []string
	latest     time.Time // the record's until() when we joined
	// gen is the config generation the checkout began in; postedAt is
	// when its last POST Requests answered, and made when the request it
	// joined was made, if this mount made it (see zone.go).
	gen      uint64
	postedAt time.Time
	made     made
	// known is the expiry on record of a request this mount made that
	// others hold when we joined it (zero otherwise); see reused.
	known time.Time
	// mayWait: a shared request about to end may be waited out (see
	// successorSoon in reuse.go); off on the last attempt.
	mayWait bool
	// postWindow bounds how long POST Requests and its retries can take.
	postWindow time.Duration
}

// postWindow is the longest POST Requests can take with its retries under
// cfg: the time during which it may have created a request.
func postWindow(cfg *Config) time.Duration {
	t := cfg.RequestTimeout
	if t <= 0 {
		t = client.DefaultTimeout
	}
	n := cfg.MaxRetries
	if n < 0 {
		n = 0
	}
	return time.Duration(n+1)*(t+2*time.Second) + 2*time.Minute // attempts, backoff, sign-ins
}

// newWAL is the WAL entry of a checkout about to POST with conflict.
func (co *checkout) newWAL(conflict string) walRequest {
	now := co.b.now()
	return walRequest{
		RunAs: co.runAs, Role: co.role.Name,
		SystemID: co.role.SystemID, AccountID: co.role.AccountID, AliasID: co.role.AliasID,
		ConflictOption: conflict, StartedAt: now, PostUntil: now.Add(co.postWindow),
	}
}

// CheckoutResult is what a checkout gives: a credential under a lease, or
// a request that waits for approval (or, with NoWait, was just made).
type CheckoutResult struct {
	Grant   *Grant
	Pending *Pending
}

// Pending is a request recorded for the caller to claim later.
type Pending struct {
	RequestID                     int
	Submitted                     bool // made with NoWait; not known to wait for approval
	Role, SystemName, AccountName string
}

// Checkout checks a credential out for the caller of req (creds/:role read
// and write, requests write with NoWait).
func (b *Engine) Checkout(ctx context.Context, req *logical.Request, in CheckoutInput) (*CheckoutResult, error) {
	role := in.Role
	if err := boundCaller(req); err != nil {
		return nil, err
	}
	var lt Lifetime
	for attempt := 1; ; attempt++ {
		// Config, run-as and client are taken again after a successor wait:
		// the config may have changed meanwhile, and this checkout held
		// nothing (no WAL entry) that would have refused the change.
		gen := b.sessions.generation()
		cfg, runAs, cl, err := b.roleClient(ctx, req, role)
		if err != nil {
			return nil, err
		}
		if attempt == 1 {
			if lt, err = ComputeLifetime(b.System(), in.TTL, role.TTL, role.MaxTTL, role.AccountMaxMinutes); err != nil {
				return nil, inputError("cannot compute the lease lifetime: %s", err)
			}
		}
		co := &checkout{b: b, req: req, s: req.Storage, in: in, role: role, runAs: runAs, cl: cl, lt: lt, postWindow: postWindow(cfg), gen: gen,
			mayWait: attempt < maxSuccessorAttempts}
		co.warnings = append(co.warnings, lt.Warnings...)
		res, err := co.run(ctx)
		var soon *successorSoon
		if !errors.As(err, &soon) {
			return res, err
		}
		b.Logger().Debug("a shared request ends in a few seconds; waiting to check out its successor",
			"role", role.Name, "ends", soon.at, "attempt", attempt)
		if err := b.sleep(ctx, max(soon.at.Sub(b.now()), 0)+successorSlack); err != nil {
			return nil, upstream("wait for the shared request to end", err)
		}
	}
}

// roleClient is what acting for the caller of req through role needs: the
// config, the run-as user the role resolves to for that caller, and its
// Password Safe client.
func (b *Engine) roleClient(ctx context.Context, req *logical.Request, role *Role) (*Config, string, *client.Client, error) {
	cfg, err := b.Config(ctx, req.Storage)
	if err != nil {
		return nil, "", nil, err
	}
	if cfg == nil {
		return nil, "", nil, &InputError{Msg: ErrNotConfigured.Error()}
	}
	runAs, err := b.resolveRunAs(ctx, req, cfg, role)
	if err != nil {
		return nil, "", nil, err
	}
	cl, err := b.Client(ctx, req.Storage, runAs)
	if err != nil {
		return nil, "", nil, upstream("connect to Password Safe", err)
	}
	return cfg, runAs, cl, nil
}

func (co *checkout) run(ctx context.Context) (*CheckoutResult, error) {
	b, role := co.b, co.role
	if role.ConflictOption == ConflictRenew {
		// A renew ends the run-as user's open request on the account:
		// only when it is the caller's own (see guardRenew).
		lock := b.lockAccount(co.runAs, role.AccountID)
		lock.Lock()
		defer lock.Unlock()
		if err := co.guardRenew(ctx); err != nil {
			return nil, err
		}
	} else {
		lock := b.lockAccount(co.runAs, role.AccountID)
		lock.RLock()
		defer lock.RUnlock()
	}
	if role.AliasID != 0 {
		// The alias may map elsewhere than role.AccountID now: a rotation
		// of whichever account it maps to must hold this checkout back too.
		lock := b.lockAliases(co.runAs)
		lock.RLock()
		defer lock.RUnlock()
	}
	co.w = co.newWAL(role.ConflictOption)
	if err := putWAL(ctx, co.s, &co.w); err != nil {
		return nil, err
	}
	id, created, err := co.post(ctx, role.ConflictOption)
	if err != nil {
		return co.postFailed(ctx, &co.w, err)
	}
	co.id, co.created = id, created
	if err := co.hold(ctx, id, created); err != nil {
		return co.fail(ctx, err)
	}
	if co.in.NoWait {
		return co.pending(ctx, true)
	}
	if !created {
		if err := co.reused(ctx); err != nil {
			return co.fail(ctx, err)
		}
		if co.endsSoon(ctx) {
			// Let go of it (this checkout's hold and WAL entry): the
			// caller waits for its end and checks out the successor.
			co.release(ctx)
			return nil, &successorSoon{at: co.expiresAt}
		}
	}
	data, err := co.credentials(ctx)
	if client.IsNotApproved(err) {
		data, err = co.waitForApproval(ctx)
		if client.IsNotApproved(err) {
			return co.pending(ctx, false)
		}
		if err == nil {
			// Approved while we waited: the request's clock started at
			// approval, so ask Password Safe when it ends.
			if _, co.expiresAt, err = b.activeExpiry(ctx, co.s, co.gen, co.cl, co.id, co.own); err != nil {
				return co.fail(ctx, err)
			}
			exp := co.expiresAt
			co.setRecord(ctx, co.id, func(r *record) { r.extend(exp) })
		}
	}
	if err != nil {
		return co.fail(ctx, err)
	}
	if role.AliasID != 0 {
		// The alias may map elsewhere than when the role was written: a
		// rotation must find this lease by the account it really holds.
		co.setRecord(ctx, co.id, func(r *record) { r.knowAccount(data) })
	}
	g, err := b.grant(Lease{
		RequestID: co.id, Holder: co.w.ID, RunAs: co.runAs, Role: role.Name,
		ExpiresAt: co.expiresAt, TTL: co.lt.TTL, MaxTTL: co.lt.MaxTTL,
	}, data)
	if err != nil {
		return co.fail(ctx, err)
	}
	// The lease is handed out from here on; a failure to delete the WAL
	// entry must not hand it out, or rollback would check its request in.
	if err := deleteWAL(ctx, co.s, &co.w); err != nil {
		return nil, err
	}
	g.Warnings = co.warnings
	b.emit(ctx, eventCheckout, "request_id", strconv.Itoa(co.id), "role", role.Name,
		"system_name", role.SystemName, "account_name", role.AccountName, "run_as", co.runAs)
	return &CheckoutResult{Grant: g}, nil
}

// post is POST Requests (or POST Aliases/{id}/Requests).
func (co *checkout) post(ctx context.Context, conflict string) (int, bool, error) {
	role := co.role
	in := client.RequestInput{
		AccessType:      client.AccessType(role.AccessType),
		DurationMinutes: co.lt.DurationMinutes,
		Reason:          co.in.Reason,
		TicketNumber:    co.in.TicketNumber,
	}
	if in.Reason == "" {
		in.Reason = role.Reason
	}
	if in.Reason == "" {
		in.Reason = fmt.Sprintf("vault: %screds/%s", co.req.MountPoint, role.Name)
	}
	// The tag lets recovery recognise this request as ours, and only it.
	in.Reason = CutReason(in.Reason, MaxRequestReasonLen) + " " + co.w.Tag
	if in.TicketNumber == "" {
		in.TicketNumber = role.TicketNumber
	}
	if conflict != ConflictNone {
		in.ConflictOption = client.ConflictOption(conflict)
	}
	if role.TicketSystemID > 0 {
		v := role.TicketSystemID
		in.TicketSystemID = &v
	}
	if role.AccessPolicyScheduleID > 0 {
		v := role.AccessPolicyScheduleID
		in.AccessPolicyScheduleID = &v
	}
	rotate := role.RotateOnCheckin
	in.RotateOnCheckin = &rotate
	// When it answered bounds when the request was made (see zone.go).
	defer func() { co.postedAt = co.b.now() }()
	if role.Target == TargetAlias {
		return co.cl.CreateAliasRequest(ctx, role.AliasID, in)
	}
	in.SystemID, in.AccountID = role.SystemID, role.AccountID
	if role.AccessType == string(client.AccessApp) {
		v := role.ApplicationID
		in.ApplicationID = &v
	}
	return co.cl.CreateRequest(ctx, in)
}

// own is what the checkout knows of its request r (see known). One its
// POST made, answered 201 or handed back to a retry (200, its Reason
// carries the checkout's tag), was made between StartedAt and the answer,
// and ends no earlier than DurationMinutes after StartedAt (approval comes
// later, if at all). One this mount made before has its record's window.
func (co *checkout) own(r client.Request) (made, time.Time) {
	if co.created || (co.w.Tag != "" && strings.Contains(r.Reason, co.w.Tag)) {
		return made{From: co.w.StartedAt, By: co.postedAt}, co.w.StartedAt.Add(time.Duration(co.lt.DurationMinutes) * time.Minute)
	}
	return co.made, time.Time{}
}

// postFailed handles a POST Requests that did not give us an ID. A definite
// refusal (4xx) created nothing: drop the WAL entry. Anything else (no
// answer, 5xx, timeout) may have created a request we cannot name: keep the
// entry, and WALRollback will find and check in what it created.
func (co *checkout) postFailed(ctx context.Context, w *walRequest, err error) (*CheckoutResult, error) {
	b := co.b
	if !Definite(err) {
		b.Logger().Warn("the outcome of POST Requests is unknown; WAL rollback will check in anything it created",
			"role", co.role.Name, "run_as", co.runAs, "error", err)
		return nil, upstream("create the Password Safe request (if Password Safe created it anyway, Vault checks it in automatically)", err)
	}
	if derr := deleteWAL(ctx, co.s, w); derr != nil {
		b.Logger().Warn("could not delete WAL entry of a refused request", "error", derr)
	}
	if client.IsConflict(err) {
		return nil, co.conflict(ctx)
	}
	return nil, upstream("create the Password Safe request", err)
}

// hold records this checkout as a holder (keyed by its WAL entry's ID) of
// the request. A reused request's ID also goes into the WAL entry first:
// rollback could not recognise it by its tag (its Reason is not ours). A
// created one carries the tag, which saves a storage write on every
// checkout.
func (co *checkout) hold(ctx context.Context, id int, created bool) (err error) {
	b := co.b
	co.made = made{}
	if !created {
		co.w.RequestID = id
		if err := replaceWAL(ctx, co.s, &co.w); err != nil {
			return err
		}
	}
	lock := b.lockRequest(id)
	lock.Lock()
	defer lock.Unlock()
	// A request Password Safe has just created has no record yet, unless a
	// reuse checkout handed it (200) took its hold first (a fleet's waiters
	// all ask for the successor at once): only then is it read, so that
	// hold's count is kept.
	var rec *record
	if created && co.role.ConflictOption == ConflictReuse {
		if rec, err = getRecord(ctx, co.s, id); err != nil {
			return err
		}
	}
	if !created {
		if rec, err = getRecord(ctx, co.s, id); err != nil {
			return err
		}
		if rec != nil && rec.Ended {
			return logical.CodedError(http.StatusConflict, fmt.Sprintf(
				"Password Safe request %d was just replaced by a new one (another lease's hand-over); read the credential again", id))
		}
		// Held again: a check-in queued for it must not end it now. But
		// the revoke that queued it had committed this mount to ending it,
		// whoever made it: the record takes that over as Created, so that if
		// this checkout fails (or is rolled back) the request is ended, not
		// forgotten as a request only joined, with nothing left to end it.
		// A check-in is queued only once the record is unheld, and the
		// record goes with it under this lock, so an entry beside a record
		// is a crash's leftover, which retryQueued drops once it finds the
		// request held. So the entry is looked up only when there is no
		// record: an Agent fleet's reads (every one takes this lock in
		// turn) skip a storage read here.
		var q *queued
		if rec == nil {
			if q, err = getQueued(ctx, co.s, id); err != nil {
				return err
			}
		}
		if q != nil {
			rec = co.newRecord(id)
			rec.Created = true
		}
		if rec != nil {
			co.made = rec.made()
		}
		defer func() {
			// Only once the hold is stored: until then the queue owns it.
			if q != nil && err == nil {
				if err = co.s.Delete(ctx, queueKey(id)); err != nil {
					err = fmt.Errorf("dropping the queued check-in of request %d: %w", id, err)
				}
			}
		}()
	}
	if rec == nil {
		rec = co.newRecord(id)
	}
	co.others = rec.Count
	if !created && rec.Count > 0 && rec.Created && !rec.Ended {
		co.known = rec.ExpiresAt
	}
	if created {
		rec.Created = true
		rec.Rotates = co.role.RotateOnCheckin
		rec.MadeFrom, rec.MadeBy = co.w.StartedAt, co.postedAt
		// Created now: it ends DurationMinutes after a moment no earlier than
		// StartedAt, so this expiry is never later than the real one and costs
		// no GET Requests.
		d := time.Duration(co.lt.DurationMinutes) * time.Minute
		if exp := co.w.StartedAt.Add(d); exp.After(rec.ExpiresAt) {
			rec.ExpiresAt = exp
		}
		if latest := rec.ExpiresAt.Add(d); latest.After(rec.Latest) {
			rec.Latest = latest
		}
		co.expiresAt = rec.ExpiresAt
	}
	co.rotates = rec.Rotates
	co.latest = rec.until()
	return addHolder(ctx, co.s, rec, co.w.ID, newHolder(co.req, b.now()))
}

func (co *checkout) newRecord(id int) *record {
	return &record{
		RequestID: id, RunAs: co.runAs, Role: co.role.Name,
		SystemID: co.role.SystemID, AccountID: co.role.AccountID, AliasID: co.role.AliasID,
		SystemName: co.role.SystemName, AccountName: co.role.AccountName, DomainName: co.role.DomainName,
	}
}

// fail ends a checkout that will not hand out a lease: this checkout's hold
// goes, and the request is checked in unless others hold it (or queued, or
// kept as an orphan while it waits for approval). If even that fails, the
// WAL entry stays for rollback.
func (co *checkout) fail(ctx context.Context, cause error) (*CheckoutResult, error) {
	co.release(ctx)
	what := "read the credential of Password Safe request " + strconv.Itoa(co.id)
	if co.id == 0 {
		what = "check out from Password Safe"
	}
	return nil, upstream(what, cause)
}

// release drops this checkout's hold on co.id, then its WAL entry.
func (co *checkout) release(ctx context.Context) {
	b := co.b
	if co.id == 0 {
		return
	}
	// A request this checkout only joined stays its maker's; one it created
	// (or was handed back, carrying its tag) is ended, even when the hold,
	// or the record's Created, was never stored.
	mine := co.created || co.ours
	o := releaseOpts{createdOnly: !mine}
	if mine {
		o.fallback = co.newRecord(co.id)
		o.fallback.Created = true
		o.fallback.Latest = co.w.StartedAt.Add(2 * time.Duration(co.lt.DurationMinutes) * time.Minute)
	}
	if err := b.release(ctx, co.s, co.id, co.w.ID, "vault: checkout failed before the credential was handed out", o); err != nil {
		b.Logger().Warn("could not release the request of a failed checkout; WAL rollback will", "request_id", co.id, "error", err)
		return
	}
	if !co.created && !co.seen {
		// A retried POST may have been handed back (200) the request its
		// own lost attempt made, and only the request's Reason (the tag)
		// tells: the look-up that reads it failed or never ran. Forgetting
		// it would leave such a request open until it expires, so the WAL
		// entry (which names the request) stays: rollback reads the Reason
		// and ends the request only if it carries the tag.
		b.Logger().Warn("a failed checkout joined a request it could not look up; WAL rollback checks it in if this checkout made it",
			"request_id", co.id, "role", co.role.Name)
		return
	}
	if err := deleteWAL(ctx, co.s, &co.w); err != nil {
		b.Logger().Warn("could not delete WAL entry of a failed checkout", "error", err)
	}
}
