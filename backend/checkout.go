package backend

import (
	"context"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/hashicorp/vault/sdk/logical"

	"github.com/vault-passwordsafe/vault-plugin-secrets-passwordsafe/client"
)

// maxApprovalWait caps a role's approval_wait (walRollbackMinAge must stay
// above the longest checkout).
const maxApprovalWait = 10 * time.Minute

// minHandover is the least remaining life that makes a reused request worth
// handing out; see handoverThreshold.
const minHandover = 2 * time.Minute

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
	warnings  []string
	latest    time.Time // the record's until() when we joined
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
	cfg, err := b.Config(ctx, req.Storage)
	if err != nil {
		return nil, err
	}
	if cfg == nil {
		return nil, &InputError{Msg: ErrNotConfigured.Error()}
	}
	runAs, err := b.resolveRunAs(ctx, req, cfg, role)
	if err != nil {
		return nil, err
	}
	lt, err := ComputeLifetime(b.System(), in.TTL, role.TTL, role.MaxTTL, role.AccountMaxMinutes)
	if err != nil {
		return nil, inputError("cannot compute the lease lifetime: %s", err)
	}
	cl, err := b.Client(ctx, req.Storage, runAs)
	if err != nil {
		return nil, upstream("connect to Password Safe", err)
	}
	co := &checkout{b: b, req: req, s: req.Storage, in: in, role: role, runAs: runAs, cl: cl, lt: lt, postWindow: postWindow(cfg)}
	co.warnings = append(co.warnings, lt.Warnings...)
	return co.run(ctx)
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
			if co.expiresAt, err = requestExpiry(ctx, co.cl, co.id); err != nil {
				return co.fail(ctx, err)
			}
			exp := co.expiresAt
			co.setRecord(ctx, co.id, func(r *record) { r.extend(exp) })
		}
	}
	if err != nil {
		return co.fail(ctx, err)
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
			}
			lock.Unlock()
			break
		}
	}
	return e
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

// hold records this checkout as a holder (keyed by its WAL entry's ID) of
// the request. A reused request's ID also goes into the WAL entry first:
// rollback could not recognise it by its tag (its Reason is not ours). A
// created one carries the tag, which saves a storage write on every
// checkout.
func (co *checkout) hold(ctx context.Context, id int, created bool) (err error) {
	b := co.b
	if !created {
		co.w.RequestID = id
		if err := replaceWAL(ctx, co.s, &co.w); err != nil {
			return err
		}
	}
	lock := b.lockRequest(id)
	lock.Lock()
	defer lock.Unlock()
	// A request Password Safe has just created has no record yet: skip the read.
	var rec *record
	if !created {
		if rec, err = getRecord(ctx, co.s, id); err != nil {
			return err
		}
		if rec != nil && rec.Ended {
			return logical.CodedError(http.StatusConflict, fmt.Sprintf(
				"Password Safe request %d was just replaced by a new one (another lease's hand-over); read the credential again", id))
		}
		// Held again: a check-in queued for it must not end it now; the
		// queue entry remembers whether this mount created it.
		var q *queued
		if q, err = getQueued(ctx, co.s, id); err != nil {
			return err
		}
		if q != nil && rec == nil {
			rec = co.newRecord(id)
			rec.Created = q.Created
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
	if created {
		rec.Created = true
		rec.Rotates = co.role.RotateOnCheckin
		// Created now: it ends DurationMinutes after a moment no earlier than
		// StartedAt, so this expiry is never later than the real one and costs
		// no GET Requests.
		d := time.Duration(co.lt.DurationMinutes) * time.Minute
		rec.ExpiresAt = co.w.StartedAt.Add(d)
		rec.Latest = rec.ExpiresAt.Add(d)
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
	r, err := activeRequest(ctx, co.cl, co.id)
	if err != nil {
		return err
	}
	exp := *r.ExpiresDate
	co.expiresAt = exp
	// A POST retried after an attempt whose answer was lost is handed back
	// the request that attempt made (200): its Reason carries our tag.
	ours := !co.created && strings.Contains(r.Reason, co.w.Tag)
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
	co.id, co.created = id, created
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
		exp, err := requestExpiry(ctx, co.cl, id)
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

// target is what reading a credential needs.
type target struct {
	aliasID                             int
	systemName, accountName, domainName string
	types                               []string
}

func roleTarget(r *Role) target {
	return target{aliasID: r.AliasID, systemName: r.SystemName, accountName: r.AccountName,
		domainName: r.DomainName, types: r.CredentialTypes}
}

func (co *checkout) credentials(ctx context.Context) (*Credential, error) {
	return readCredentials(ctx, co.cl, roleTarget(co.role), co.id)
}

// readCredentials reads each credential type (one call each; for aliases one
// GET Aliases/{id}/Credentials/{rid} per type).
func readCredentials(ctx context.Context, cl *client.Client, t target, id int) (*Credential, error) {
	c := &Credential{
		RequestID: id, Username: t.accountName, Domain: t.domainName,
		SystemName: t.systemName, AccountName: t.accountName,
		Values: make(map[client.CredentialType]string, len(t.types)),
	}
	for _, typ := range t.types {
		ct := client.CredentialType(typ)
		var v string
		if t.aliasID != 0 {
			ac, err := cl.AliasCredential(ctx, t.aliasID, id, ct)
			if err != nil {
				return nil, err
			}
			c.Username, c.Domain = ac.AccountName, ac.DomainName
			c.SystemName, c.AccountName = ac.SystemName, ac.AccountName
			switch ct {
			case client.CredentialPassword:
				v = ac.Password
			case client.CredentialDSSKey:
				v = ac.PrivateKey
			case client.CredentialPassphrase:
				v = ac.Passphrase
			}
		} else {
			var err error
			if v, err = cl.Credential(ctx, id, ct); err != nil {
				return nil, err
			}
		}
		c.Values[ct] = v
	}
	return c, nil
}

// waitForApproval polls GET Credentials while the request answers 4034, for
// approval_wait counted in one-second polls (the pause between polls is
// b.approvalPoll, one second outside tests), and no longer than ctx allows.
func (co *checkout) waitForApproval(ctx context.Context) (*Credential, error) {
	wait := co.role.ApprovalWait
	if wait > maxApprovalWait {
		wait = maxApprovalWait
	}
	// Rollback must never race a checkout still waiting: with a shortened
	// wal_rollback_min_age (tests, demos) the wait shrinks with it.
	if limit := co.b.walRollbackMinAge * 2 / 3; wait > limit { // 10m at the default 15m
		wait = limit
	}
	polls := int((wait + time.Second - 1) / time.Second)
	err := error(&client.Error{Op: "GET Credentials", StatusCode: http.StatusForbidden, Code: client.CodeNotApproved})
	t := time.NewTimer(co.b.approvalPoll)
	defer t.Stop()
	for i := 0; i < polls; i++ {
		if i > 0 {
			t.Reset(co.b.approvalPoll)
		}
		select {
		case <-ctx.Done():
			return nil, err // answer "pending" rather than fail: the request lives on
		case <-t.C:
		}
		var data *Credential
		data, err = co.credentials(ctx)
		if !client.IsNotApproved(err) {
			return data, err
		}
	}
	return nil, err
}

// pending records the request as awaiting approval, owned by the caller's
// entity, and answers with its ID and how to fetch the credential later.
func (co *checkout) pending(ctx context.Context, submitted bool) (*CheckoutResult, error) {
	b := co.b
	// The approval wait may have run out the request's context; recording
	// the pending claim must still happen.
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 30*time.Second)
	defer cancel()
	lock := b.lockRequest(co.id)
	lock.Lock()
	h, err := getHolder(ctx, co.s, co.id, co.w.ID)
	if err == nil && h == nil {
		err = fmt.Errorf("the hold on request %d vanished", co.id)
	}
	if err == nil {
		h.Pending, h.TTL, h.MaxTTL = true, co.lt.TTL, co.lt.MaxTTL
		h.CredentialTypes = co.role.CredentialTypes
		// The marker first (see keepOrphan).
		if err = markPendingIndex(ctx, co.s, co.id); err == nil {
			err = putHolder(ctx, co.s, co.id, co.w.ID, h)
		}
	}
	lock.Unlock()
	if err != nil {
		return co.fail(ctx, err)
	}
	if err := deleteWAL(ctx, co.s, &co.w); err != nil {
		return nil, err
	}
	b.Logger().Info("request pending approval", "request_id", co.id, "role", co.role.Name, "run_as", co.runAs)
	return &CheckoutResult{Pending: &Pending{
		RequestID: co.id, Submitted: submitted,
		Role: co.role.Name, SystemName: co.role.SystemName, AccountName: co.role.AccountName,
	}}, nil
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
	// is ended, even when the hold was never stored.
	o := releaseOpts{createdOnly: true}
	if co.created {
		o.fallback = co.newRecord(co.id)
		o.fallback.Created = true
		o.fallback.Latest = co.w.StartedAt.Add(2 * time.Duration(co.lt.DurationMinutes) * time.Minute)
	}
	if err := b.release(ctx, co.s, co.id, co.w.ID, "vault: checkout failed before the credential was handed out", o); err != nil {
		b.Logger().Warn("could not release the request of a failed checkout; WAL rollback will", "request_id", co.id, "error", err)
		return
	}
	if err := deleteWAL(ctx, co.s, &co.w); err != nil {
		b.Logger().Warn("could not delete WAL entry of a failed checkout", "error", err)
	}
}

// requestExpiry is the real expiry of an active request (GET Requests).
func requestExpiry(ctx context.Context, cl *client.Client, id int) (time.Time, error) {
	r, err := activeRequest(ctx, cl, id)
	if err != nil {
		return time.Time{}, err
	}
	return *r.ExpiresDate, nil
}

// activeRequest is an active request of the run-as user (GET Requests).
func activeRequest(ctx context.Context, cl *client.Client, id int) (client.Request, error) {
	reqs, err := cl.ListRequests(ctx, "active", "")
	if err != nil {
		return client.Request{}, err
	}
	for _, r := range reqs {
		if r.RequestID == id {
			if r.ExpiresDate == nil {
				return client.Request{}, fmt.Errorf("request %d: Password Safe gives no expiry date", id)
			}
			return r, nil
		}
	}
	return client.Request{}, logical.CodedError(http.StatusBadGateway,
		fmt.Sprintf("Password Safe request %d is not among the run-as user's active requests", id))
}

func isPendingStatus(s string) bool { return strings.EqualFold(s, "pending") }

// grant is the lease for a checked-out credential. Its max TTL is the
// lifetime's, cut so the lease never outlives the request; its TTL never
// exceeds that.
func (b *Engine) grant(l Lease, c *Credential) (*Grant, error) {
	now := b.now()
	maxTTL := l.MaxTTL
	if left := l.ExpiresAt.Sub(now).Truncate(time.Second); left < maxTTL {
		maxTTL = left
	}
	if maxTTL <= 0 {
		return nil, fmt.Errorf("request %d has already expired in Password Safe (at %s)", l.RequestID, l.ExpiresAt.UTC().Format(time.RFC3339))
	}
	ttl := l.TTL
	if ttl > maxTTL {
		ttl = maxTTL
	}
	l.IssuedAt, l.MaxTTL = now, maxTTL
	c.ExpiresAt = l.ExpiresAt
	return &Grant{Lease: l, TTL: ttl, MaxTTL: maxTTL, Credential: *c}, nil
}
